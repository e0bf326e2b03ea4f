package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/relais-health/relais/adapters/httpapi"
)

// Cookie names.
const (
	sessionCookie = "relais_session"
	langCookie    = "relais_lang"
	// loginCookie carries the CSRF token of the sign-in form (before there
	// is a session), checked against the form's (double submit).
	loginCookie = "relais_login"
)

// session is one signed-in browser. The token stays in memory only, so
// each request is re-authenticated (a revoked or expired token ends the
// session at once); sessions are per process and end with it.
type session struct {
	id    string
	token string
	p     httpapi.Principal
	csrf  string
	last  time.Time
	flash string // a catalog key shown once on the next page
}

type sessions struct {
	mu   sync.Mutex
	m    map[string]*session
	idle time.Duration
	now  func() time.Time
}

func newSessions(idle time.Duration, now func() time.Time) *sessions {
	return &sessions{m: map[string]*session{}, idle: idle, now: now}
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("console: no randomness: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (ss *sessions) create(token string, p httpapi.Principal) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	for id, s := range ss.m { // sweep idle sessions
		if now.Sub(s.last) > ss.idle {
			delete(ss.m, id)
		}
	}
	s := &session{id: randomToken(), token: token, p: p, csrf: randomToken(), last: now}
	ss.m[s.id] = s
	return s
}

// get returns the live session id names and marks it used; an idle one is
// ended.
func (ss *sessions) get(id string) (*session, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[id]
	if !ok {
		return nil, false
	}
	now := ss.now()
	if now.Sub(s.last) > ss.idle {
		delete(ss.m, id)
		return nil, false
	}
	s.last = now
	return s, true
}

// alive says whether s is still signed in, without counting as use (a
// stream open on the queue is not activity).
func (ss *sessions) alive(s *session) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	cur, ok := ss.m[s.id]
	return ok && cur == s && ss.now().Sub(s.last) <= ss.idle
}

func (ss *sessions) end(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, id)
}

func (ss *sessions) takeFlash(s *session) string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	f := s.flash
	s.flash = ""
	return f
}

func (ss *sessions) setFlash(s *session, key string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s.flash = key
}

// checkCSRF: the form's csrf field must be the session's token.
func (ss *sessions) checkCSRF(s *session, r *http.Request) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

// current is the request's session, re-authenticated.
func (c *Console) current(r *http.Request) (*session, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, false
	}
	s, ok := c.sess.get(ck.Value)
	if !ok {
		return nil, false
	}
	if _, ok := c.d.Auth.Authenticate(s.token); !ok {
		c.sess.end(s.id)
		return nil, false
	}
	return s, true
}

func secure(r *http.Request) bool { return r.TLS != nil }

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/console/", HttpOnly: true,
		Secure: secure(r), SameSite: http.SameSiteStrictMode, MaxAge: maxAge})
}
