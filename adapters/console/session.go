package console

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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

// SessionStore keeps the console's sessions where every instance of
// relais serve finds them (app wires a JetStream KV bucket; without one,
// New keeps them in this process's memory). Keys are opaque hex strings,
// values opaque bytes; an entry not written for the idle timeout may be
// forgotten.
type SessionStore interface {
	// Get returns the value under key, or ErrNoSession.
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, value []byte) error
	// Delete forgets key (no error when it is not there).
	Delete(ctx context.Context, key string) error
}

// DefaultIdleTimeout ends a session nobody used for that long.
const DefaultIdleTimeout = 30 * time.Minute

// ErrNoSession: no session under that key (never was, expired or ended).
var ErrNoSession = errors.New("console: no such session")

// session is one signed-in browser, as one request sees it. The cookie
// value (id) is the session's only secret and is never stored: the store's
// key is a hash of it, and the record (the credential, so each request is
// re-authenticated and a revoked or expired token ends the session at
// once; the CSRF token; the last use; the flash) is sealed with a key
// derived from it. Whoever reads the store learns neither a cookie nor a
// credential.
type session struct {
	ctx context.Context // the request's
	id  string
	p   httpapi.Principal
	rec sessionRecord
}

// sessionRecord is what the store keeps, sealed.
type sessionRecord struct {
	Token string `json:"token"`
	CSRF  string `json:"csrf"`
	Last  int64  `json:"last"` // Unix nanoseconds of the last use
	Flash string `json:"flash,omitempty"`
}

type sessions struct {
	store SessionStore
	idle  time.Duration
	now   func() time.Time
}

func newSessions(store SessionStore, idle time.Duration, now func() time.Time) *sessions {
	if store == nil {
		store = newMemoryStore(idle, now)
	}
	return &sessions{store: store, idle: idle, now: now}
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("console: no randomness: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// storeKey is the store's key for a cookie value.
func storeKey(id string) string {
	h := sha256.Sum256([]byte("relais console session id\x00" + id))
	return hex.EncodeToString(h[:])
}

// sealer is the AEAD that seals a session's record, keyed by its cookie.
func sealer(id string) cipher.AEAD {
	k := sha256.Sum256([]byte("relais console session key\x00" + id))
	b, err := aes.NewCipher(k[:])
	if err != nil {
		panic("console: aes: " + err.Error()) // a 32-byte key never fails
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic("console: gcm: " + err.Error())
	}
	return g
}

func seal(id string, rec sessionRecord) []byte {
	plain, _ := json.Marshal(rec) //nolint:errchkjson // strings and an int
	g := sealer(id)
	nonce := make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("console: no randomness: " + err.Error())
	}
	return g.Seal(nonce, nonce, plain, []byte(storeKey(id)))
}

func open(id string, b []byte) (sessionRecord, error) {
	var rec sessionRecord
	g := sealer(id)
	if len(b) < g.NonceSize() {
		return rec, fmt.Errorf("console: session record too short")
	}
	plain, err := g.Open(nil, b[:g.NonceSize()], b[g.NonceSize():], []byte(storeKey(id)))
	if err != nil {
		return rec, fmt.Errorf("console: session record: %w", err)
	}
	if err := json.Unmarshal(plain, &rec); err != nil {
		return rec, fmt.Errorf("console: session record: %w", err)
	}
	return rec, nil
}

func (ss *sessions) put(ctx context.Context, s *session) error {
	if err := ss.store.Put(ctx, storeKey(s.id), seal(s.id, s.rec)); err != nil {
		return fmt.Errorf("console: save session: %w", err)
	}
	return nil
}

// create starts a session for a signed-in credential.
func (ss *sessions) create(ctx context.Context, token string, p httpapi.Principal) (*session, error) {
	s := &session{ctx: ctx, id: randomToken(), p: p,
		rec: sessionRecord{Token: token, CSRF: randomToken(), Last: ss.now().UnixNano()}}
	return s, ss.put(ctx, s)
}

// load reads the session id names, nil when there is none or it is idle
// (an idle one is ended).
func (ss *sessions) load(ctx context.Context, id string) (*session, error) {
	b, err := ss.store.Get(ctx, storeKey(id))
	if errors.Is(err, ErrNoSession) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("console: load session: %w", err)
	}
	rec, err := open(id, b)
	if err != nil {
		return nil, nil //nolint:nilerr // a record that does not open is no session
	}
	if ss.now().Sub(time.Unix(0, rec.Last)) > ss.idle {
		ss.end(ctx, id)
		return nil, nil
	}
	return &session{ctx: ctx, id: id, rec: rec}, nil
}

// get returns the live session id names and marks it used; an idle one is
// ended.
func (ss *sessions) get(ctx context.Context, id string) (*session, bool) {
	s, err := ss.load(ctx, id)
	if err != nil || s == nil {
		return nil, false
	}
	s.rec.Last = ss.now().UnixNano()
	if err := ss.put(ctx, s); err != nil {
		return nil, false
	}
	return s, true
}

// alive says whether s is still signed in, without counting as use (a
// stream open on the queue is not activity).
func (ss *sessions) alive(s *session) bool {
	cur, err := ss.load(s.ctx, s.id)
	return err == nil && cur != nil
}

// end forgets the session, on every instance.
func (ss *sessions) end(ctx context.Context, id string) {
	ss.store.Delete(ctx, storeKey(id)) //nolint:errcheck // a session not deleted still ends at its idle timeout
}

func (ss *sessions) takeFlash(s *session) string {
	f := s.rec.Flash
	if f != "" {
		s.rec.Flash = ""
		ss.put(s.ctx, s) //nolint:errcheck // at worst the message shows twice
	}
	return f
}

func (ss *sessions) setFlash(s *session, key string) {
	s.rec.Flash = key
	ss.put(s.ctx, s) //nolint:errcheck // at worst the message is not shown
}

// memoryStore is the SessionStore of a console without a shared one:
// this process's memory, each entry forgotten idle after its last write.
type memoryStore struct {
	mu   sync.Mutex
	m    map[string]memoryEntry
	idle time.Duration
	now  func() time.Time
}

type memoryEntry struct {
	v       []byte
	written time.Time
}

func newMemoryStore(idle time.Duration, now func() time.Time) *memoryStore {
	return &memoryStore{m: map[string]memoryEntry{}, idle: idle, now: now}
}

func (m *memoryStore) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.m[key]
	if !ok || m.now().Sub(e.written) > m.idle {
		return nil, ErrNoSession
	}
	return e.v, nil
}

func (m *memoryStore) Put(_ context.Context, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for k, e := range m.m { // sweep idle sessions
		if now.Sub(e.written) > m.idle {
			delete(m.m, k)
		}
	}
	m.m[key] = memoryEntry{v: value, written: now}
	return nil
}

func (m *memoryStore) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, key)
	return nil
}

// checkCSRF: the form's csrf field must be the session's token.
func (ss *sessions) checkCSRF(s *session, r *http.Request) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.rec.CSRF)) == 1
}

// current is the request's session, re-authenticated.
func (c *Console) current(r *http.Request) (*session, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, false
	}
	s, ok := c.sess.get(r.Context(), ck.Value)
	if !ok {
		return nil, false
	}
	p, ok := c.d.Auth.Authenticate(s.rec.Token)
	if !ok {
		c.sess.end(r.Context(), s.id)
		return nil, false
	}
	s.p = p
	return s, true
}

func secure(r *http.Request) bool { return r.TLS != nil }

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/console/", HttpOnly: true,
		Secure: secure(r), SameSite: http.SameSiteStrictMode, MaxAge: maxAge})
}
