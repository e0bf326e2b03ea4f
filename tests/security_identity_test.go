package tests

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/relais-health/relais/internal/poll"
)

// idAdminToken is the bootstrap administrator's (RELAIS_ADMIN_TOKEN).
const idAdminToken = "rls_identity-suite-admin-0123456789"

// idAnswer is one HTTP answer of the identity suite.
type idAnswer struct {
	status int
	body   string
}

// idCall calls the API of s with authorization as the whole Authorization
// header ("" for none).
func idCall(t *testing.T, s *server, method, path, authorization, body string) idAnswer {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.HTTP+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return idAnswer{resp.StatusCode, string(b)}
}

// idMe is GET /v1/me with token: the status and the id it names.
func idMe(t *testing.T, s *server, token string) (int, string) {
	t.Helper()
	a := idCall(t, s, "GET", "/v1/me", "Bearer "+token, "")
	var me struct{ ID, Role string }
	json.Unmarshal([]byte(a.body), &me) //nolint:errcheck
	return a.status, me.ID
}

// Identities and tokens, against the real binary: an id is one actor's
// (a programme manager registering partner "cm-2" or "admin" took over that
// entry on c44a18b), a credential is replaced only by an explicit, audited
// rotation or revocation by an admin, the bearer scheme is
// case-insensitive, and a partner gets its NATS key through the API.
func TestSecurity_IdentitiesAndTokens(t *testing.T) {
	t.Setenv("RELAIS_ADMIN_TOKEN", idAdminToken)
	s := startServe(t, t.TempDir(), "--demo", "--demo-every", "0")
	admin := "Bearer " + idAdminToken
	poll.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if code, id := idMe(t, s, "demo-pm-1"); code != http.StatusOK || id != "pm-1" {
			return fmt.Errorf("the demo directory is not ready: %d %s", code, id)
		}
		return nil
	})

	t.Run("a taken id cannot be registered again", func(t *testing.T) {
		for _, tc := range []struct {
			name, path, by, body, owner, ownerToken string
		}{
			{"a programme manager cannot register partner cm-2, a case manager's id", "/v1/partners", "Bearer demo-pm-1",
				`{"partner_id":"cm-2","category":"community","name":"Impostor"}`, "cm-2", "demo-cm-2"},
			{"a programme manager cannot register partner admin, the administrator's id", "/v1/partners", "Bearer demo-pm-1",
				`{"partner_id":"admin","category":"doctor","name":"Impostor"}`, "admin", idAdminToken},
			{"an admin cannot register an existing partner again", "/v1/partners", admin,
				`{"partner_id":"ph-1","category":"pharmacy","name":"Impostor","webhook_url":"https://evil.example/hook"}`, "ph-1", "demo-ph-1"},
			{"an admin cannot register an existing staff member again", "/v1/staff", admin,
				`{"staff_id":"cm-1","role":"admin","name":"Impostor"}`, "cm-1", "demo-cm-1"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if a := idCall(t, s, "POST", tc.path, tc.by, tc.body); a.status != http.StatusConflict {
					t.Fatalf("got %d %s, want 409", a.status, a.body)
				}
				if code, id := idMe(t, s, tc.ownerToken); code != http.StatusOK || id != tc.owner {
					t.Fatalf("%s's token now answers %d as %q", tc.owner, code, id)
				}
			})
		}
		t.Run("cm-2 still reads their own alert queue", func(t *testing.T) {
			if a := idCall(t, s, "GET", "/v1/alerts", "Bearer demo-cm-2", ""); a.status != http.StatusOK {
				t.Fatalf("got %d %s", a.status, a.body)
			}
		})
	})

	t.Run("the bearer scheme is case-insensitive", func(t *testing.T) {
		for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
			if a := idCall(t, s, "GET", "/v1/me", scheme+" demo-cm-1", ""); a.status != http.StatusOK {
				t.Fatalf("%s: got %d %s", scheme, a.status, a.body)
			}
		}
	})

	t.Run("a rotation replaces the token at once", func(t *testing.T) {
		if a := idCall(t, s, "POST", "/v1/staff/cm-2/token", "Bearer demo-pm-1", ""); a.status != http.StatusForbidden {
			t.Fatalf("a programme manager rotating a token: %d %s, want 403", a.status, a.body)
		}
		a := idCall(t, s, "POST", "/v1/staff/cm-2/token", admin, "")
		var reg struct{ ID, Role, Token string }
		if err := json.Unmarshal([]byte(a.body), &reg); a.status != http.StatusCreated || err != nil || reg.ID != "cm-2" || reg.Role != "case_manager" || reg.Token == "" {
			t.Fatalf("rotate: %d %s", a.status, a.body)
		}
		// In force when answered: no waiting.
		if code, id := idMe(t, s, reg.Token); code != http.StatusOK || id != "cm-2" {
			t.Fatalf("the new token answers %d as %q", code, id)
		}
		if code, _ := idMe(t, s, "demo-cm-2"); code != http.StatusUnauthorized {
			t.Fatalf("the old token still answers %d", code)
		}
	})

	t.Run("a revocation makes the token fail at once", func(t *testing.T) {
		if a := idCall(t, s, "DELETE", "/v1/partners/ph-2/token", admin, `{"reason":"poste volé"}`); a.status != http.StatusOK {
			t.Fatalf("revoke: %d %s", a.status, a.body)
		}
		a := idCall(t, s, "GET", "/v1/me", "Bearer demo-ph-2", "")
		if a.status != http.StatusUnauthorized || !strings.Contains(a.body, "unknown or revoked token") {
			t.Fatalf("the revoked token: %d %s, want 401", a.status, a.body)
		}
	})

	t.Run("a partner gets a NATS key that reads only its own alerts, until it is revoked", func(t *testing.T) {
		if a := idCall(t, s, "POST", "/v1/partners/org-1/nats", "Bearer demo-pm-1", ""); a.status != http.StatusForbidden {
			t.Fatalf("a programme manager issuing a NATS key: %d %s, want 403", a.status, a.body)
		}
		a := idCall(t, s, "POST", "/v1/partners/org-1/nats", admin, "")
		var key struct {
			PublicKey string `json:"public_key"`
			Seed      string
			Subject   string
		}
		if err := json.Unmarshal([]byte(a.body), &key); a.status != http.StatusCreated || err != nil || key.Subject != "relais.alerts.org-1" {
			t.Fatalf("issue: %d %s", a.status, a.body)
		}
		kp, err := nkeys.FromSeed([]byte(key.Seed))
		if err != nil {
			t.Fatalf("the seed: %v", err)
		}
		if pub, _ := kp.PublicKey(); pub != key.PublicKey {
			t.Fatalf("the seed's public key %s is not the one answered, %s", pub, key.PublicKey)
		}
		errs := make(chan error, 16)
		connect := func() (*nats.Conn, error) {
			return nats.Connect("nats://"+s.NATS, nats.Nkey(key.PublicKey, kp.Sign), nats.Timeout(2*time.Second), nats.NoReconnect(),
				nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
		}
		nc, err := connect() // in force when answered
		if err != nil {
			t.Fatalf("the issued key cannot connect: %v", err)
		}
		defer nc.Close()
		if _, err := nc.SubscribeSync("relais.alerts.org-1"); err != nil {
			t.Fatal(err)
		}
		if _, err := nc.SubscribeSync("relais.ev.>"); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		// The server answers subscriptions in order: the refusal of the
		// second one arrives after any refusal of the first would have.
		select {
		case err := <-errs:
			if !strings.Contains(err.Error(), "relais.ev.>") {
				t.Fatalf("the partner's own subject was refused: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the partner's NATS key may subscribe to relais.ev.>")
		}

		if a := idCall(t, s, "DELETE", "/v1/partners/org-1/nats", admin, ""); a.status != http.StatusOK {
			t.Fatalf("revoke: %d %s", a.status, a.body)
		}
		// Refused when answered; the open connection is closed by the
		// server, which reaches the client a moment later.
		if c, err := connect(); err == nil {
			c.Close()
			t.Fatal("the revoked key connects right after the revocation")
		}
		poll.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
			if !nc.IsClosed() {
				return errors.New("the revoked key's connection is still open")
			}
			c, err := connect()
			if err == nil {
				c.Close()
				return errors.New("the revoked key still connects")
			}
			return nil
		})
	})
}

// A token issued with --token-lifetime works until it ends, then is
// refused with a message saying it expired (c44a18b had no lifetime: the
// flag did not exist). Tokens issued before (the demo's, the bootstrap
// admin's) do not expire.
func TestSecurity_TokensExpire(t *testing.T) {
	t.Setenv("RELAIS_ADMIN_TOKEN", idAdminToken)
	s := startServe(t, t.TempDir(), "--demo", "--demo-every", "0", "--token-lifetime", "3s")
	a := idCall(t, s, "POST", "/v1/staff", "Bearer "+idAdminToken, `{"staff_id":"cm-9","role":"case_manager","name":"Nadine"}`)
	var reg struct {
		Token     string
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(a.body), &reg); a.status != http.StatusCreated || err != nil || reg.ExpiresAt.IsZero() {
		t.Fatalf("register: %d %s, want 201 with expires_at", a.status, a.body)
	}
	if d := time.Until(reg.ExpiresAt); d <= 0 || d > 3*time.Second {
		t.Fatalf("expires_at %s is not within the 3s lifetime", reg.ExpiresAt)
	}
	if code, id := idMe(t, s, reg.Token); code != http.StatusOK || id != "cm-9" {
		t.Fatalf("the new token answers %d as %q", code, id)
	}
	var last idAnswer
	poll.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		last = idCall(t, s, "GET", "/v1/me", "Bearer "+reg.Token, "")
		if last.status != http.StatusUnauthorized {
			return fmt.Errorf("the token still answers %d", last.status)
		}
		return nil
	})
	if !strings.Contains(last.body, "token expired at") {
		t.Fatalf("the expired token is refused with %s, want a message saying it expired", last.body)
	}
	for _, tok := range []string{"demo-cm-1", idAdminToken} {
		if code, _ := idMe(t, s, tok); code != http.StatusOK {
			t.Fatalf("a token issued without a lifetime answers %d", code)
		}
	}
}
