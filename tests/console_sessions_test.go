package tests

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
)

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// consoleSignIn signs token in on base and returns the session cookie.
func consoleSignIn(t *testing.T, base, token string) *http.Cookie {
	t.Helper()
	form := url.Values{"csrf": {"double-submit"}, "token": {token}}
	req, _ := http.NewRequest("POST", base+"/console/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "relais_login", Value: "double-submit"})
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "relais_session" && c.Value != "" {
			return c
		}
	}
	t.Fatalf("sign-in on %s: %d, no session cookie", base, resp.StatusCode)
	return nil
}

// consoleGet fetches path with the session cookie: the status and the page.
func consoleGet(t *testing.T, base, path string, ck *http.Cookie) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.AddCookie(ck)
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// consolePost posts form to path with the session cookie; the status.
func consolePost(t *testing.T, base, path string, ck *http.Cookie, form url.Values) int {
	t.Helper()
	req, _ := http.NewRequest("POST", base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(ck)
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// Two `relais serve` behind one load balancer share their console
// sessions (a JetStream KV bucket on their NATS): signed in on A, the
// cookie works on B, B's page carries the same CSRF token, a form posted on
// B with it is taken, and a sign-out on B is a sign-out on A.
func TestConsoleSessionsAreSharedByInstances(t *testing.T) {
	// One external NATS for both; relaxed durability, as a strict ledger
	// on an external server needs its system account (and sessions are
	// not what durability is about).
	env := jstest.Start(t, jstest.Options{ServerSync: true})
	natsURL := env.Server.ClientURL()
	a := startServe(t, t.TempDir(), "--nats", natsURL, "--durability", "relaxed", "--seal-key", "demo", "--demo", "--demo-every", "0")
	b := startServe(t, t.TempDir(), "--nats", natsURL, "--durability", "relaxed", "--seal-key", "demo")
	baseA, baseB := "http://"+a.HTTP, "http://"+b.HTTP

	ck := consoleSignIn(t, baseA, "demo-cm-1")
	steps := []struct {
		name       string
		base, path string
		want       int
	}{
		{"the queue opens on A, where the session was made", baseA, "/console/queue", http.StatusOK},
		{"the same cookie opens the queue on B", baseB, "/console/queue", http.StatusOK},
		{"and the client list on B", baseB, "/console/clients", http.StatusOK},
	}
	for _, s := range steps {
		if code, page := consoleGet(t, s.base, s.path, ck); code != s.want {
			t.Fatalf("%s: %s%s answered %d, want %d\n%.300s", s.name, s.base, s.path, code, s.want, page)
		}
	}
	_, pageA := consoleGet(t, baseA, "/console/queue", ck)
	_, pageB := consoleGet(t, baseB, "/console/queue", ck)
	ma, mb := csrfField.FindStringSubmatch(pageA), csrfField.FindStringSubmatch(pageB)
	if ma == nil || mb == nil || ma[1] != mb[1] {
		t.Fatalf("the CSRF token is not the session's on both instances: A %v, B %v", ma, mb)
	}
	if code := consolePost(t, baseB, "/console/logout", ck, url.Values{"csrf": {"not-the-token"}}); code != http.StatusForbidden {
		t.Fatalf("a sign-out on B without the session's CSRF token: %d, want 403", code)
	}
	if code := consolePost(t, baseB, "/console/logout", ck, url.Values{"csrf": {mb[1]}}); code != http.StatusSeeOther {
		t.Fatalf("sign-out on B: %d, want 303", code)
	}
	for _, base := range []string{baseA, baseB} {
		if code, _ := consoleGet(t, base, "/console/queue", ck); code != http.StatusSeeOther {
			t.Fatalf("after the sign-out on B, %s still takes the cookie: %d, want 303 to the sign-in page", base, code)
		}
	}
}
