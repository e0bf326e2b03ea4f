package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/internal/poll"
	svcdirectory "github.com/relais-health/relais/services/directory"
)

// reply is one API answer.
type reply struct {
	status int
	body   string
}

// call calls the test app as token ("" for none).
func (ta *testApp) call(t *testing.T, method, path, token, body string) reply {
	t.Helper()
	req, _ := http.NewRequest(method, ta.srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b)}
}

// whoIs polls until token is (or, with want "", is no longer) someone's,
// as GET /v1/me says; it returns the last answer.
func (ta *testApp) whoIs(t *testing.T, token, want string) reply {
	t.Helper()
	var last reply
	poll.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		last = ta.call(t, "GET", "/v1/me", token, "")
		var me struct{ ID string }
		json.Unmarshal([]byte(last.body), &me) //nolint:errcheck
		if want == "" && last.status != http.StatusUnauthorized {
			return fmt.Errorf("token still answers %d %s", last.status, last.body)
		}
		if want != "" && (last.status != http.StatusOK || me.ID != want) {
			return fmt.Errorf("token is %d %s, want %s's", last.status, last.body, want)
		}
		return nil
	})
	return last
}

// An id names one actor: registering a partner under a staff member's id
// (or the admin's), or an id already registered, is 409 and the entry keeps
// its token. On c44a18b the programme manager took over the entry.
func TestRegisteringATakenIDIsAConflict(t *testing.T) {
	ta := startTestApp(t)
	for _, tc := range []struct {
		name, path, token, body, owner, ownerToken string
	}{
		{"a programme manager cannot register a partner with a case manager's id", "/v1/partners", "tok-programme_manager",
			`{"partner_id":"u-case_manager","category":"pharmacy","name":"Impostor"}`, "u-case_manager", "tok-case_manager"},
		{"a programme manager cannot register a partner with the admin's id", "/v1/partners", "tok-programme_manager",
			`{"partner_id":"u-admin","category":"doctor","name":"Impostor"}`, "u-admin", "tok-admin"},
		{"a partner id already registered cannot be registered again", "/v1/partners", "tok-admin",
			`{"partner_id":"u-pharmacy","category":"pharmacy","name":"Impostor"}`, "u-pharmacy", "tok-pharmacy"},
		{"a staff id already registered cannot be registered again", "/v1/staff", "tok-admin",
			`{"staff_id":"u-auditor","role":"admin","name":"Impostor"}`, "u-auditor", "tok-auditor"},
		{"a staff member cannot be registered with a partner's id", "/v1/staff", "tok-admin",
			`{"staff_id":"u-doctor","role":"admin","name":"Impostor"}`, "u-doctor", "tok-doctor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ta.call(t, "POST", tc.path, tc.token, tc.body)
			if r.status != http.StatusConflict || !strings.Contains(r.body, "already registered") {
				t.Fatalf("got %d %s, want 409 saying the id is already registered", r.status, r.body)
			}
			ta.whoIs(t, tc.ownerToken, tc.owner)
		})
	}
	t.Run("a registration cannot choose its own token hash", func(t *testing.T) {
		r := ta.call(t, "POST", "/v1/staff", "tok-admin", `{"staff_id":"cm-9","role":"admin","name":"X","token_hash":"`+strings.Repeat("0", 64)+`"}`)
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, "token_hash") {
			t.Fatalf("got %d %s, want 400 naming token_hash", r.status, r.body)
		}
	})
}

// A rotation gives a new token (shown once) and the old one fails at once;
// a revocation leaves none. Both are events naming the admin.
func TestTokensAreRotatedAndRevokedByAnAdmin(t *testing.T) {
	ta := startTestApp(t)
	for _, tc := range []struct{ name, kind, id, old string }{
		{"a staff member's token", "staff", "u-case_manager", "tok-case_manager"},
		{"a partner's token", "partners", "u-pharmacy", "tok-pharmacy"},
	} {
		t.Run(tc.name+" is rotated", func(t *testing.T) {
			r := ta.call(t, "POST", "/v1/"+tc.kind+"/"+tc.id+"/token", "tok-admin", "")
			var reg struct{ ID, Token string }
			if err := json.Unmarshal([]byte(r.body), &reg); r.status != http.StatusCreated || err != nil || reg.ID != tc.id || reg.Token == "" {
				t.Fatalf("rotate: %d %s", r.status, r.body)
			}
			// In force when answered: no waiting for the directory.
			if r := ta.call(t, "GET", "/v1/me", reg.Token, ""); r.status != http.StatusOK || !strings.Contains(r.body, tc.id) {
				t.Fatalf("the new token right after the rotation: %d %s", r.status, r.body)
			}
			if r := ta.call(t, "GET", "/v1/me", tc.old, ""); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "unknown or revoked") {
				t.Fatalf("the old token right after the rotation: %d %s", r.status, r.body)
			}
			t.Run("and revoked", func(t *testing.T) {
				r := ta.call(t, "DELETE", "/v1/"+tc.kind+"/"+tc.id+"/token", "tok-admin", `{"reason":"left the programme"}`)
				if r.status != http.StatusOK || !strings.Contains(r.body, `"events":1`) {
					t.Fatalf("revoke: %d %s", r.status, r.body)
				}
				if r := ta.call(t, "GET", "/v1/me", reg.Token, ""); r.status != http.StatusUnauthorized {
					t.Fatalf("the token right after its revocation: %d %s", r.status, r.body)
				}
			})
		})
	}
	stream := "staff-u-case_manager"
	evs, err := ta.b.Store.Read(t.Context(), stream, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Type+" by "+e.Actor.ID)
	}
	want := []string{events.TypeStaffRegistered + " by admin", events.TypeTokenRotated + " by u-admin", events.TypeTokenRevoked + " by u-admin"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("%s holds %v, want %v", stream, got, want)
	}
	for _, tc := range []struct{ name, method, path string }{
		{"a token of nobody cannot be rotated", "POST", "/v1/staff/nobody/token"},
		{"a partner's token is not rotated as a staff member's", "POST", "/v1/staff/u-doctor/token"},
		{"a NATS key is only a partner's", "POST", "/v1/partners/u-auditor/nats"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := ta.call(t, tc.method, tc.path, "tok-admin", ""); r.status != http.StatusNotFound {
				t.Fatalf("got %d %s, want 404", r.status, r.body)
			}
		})
	}
	t.Run("an admin cannot revoke their own token", func(t *testing.T) {
		if r := ta.call(t, "DELETE", "/v1/staff/u-admin/token", "tok-admin", ""); r.status != http.StatusConflict {
			t.Fatalf("got %d %s, want 409", r.status, r.body)
		}
		ta.whoIs(t, "tok-admin", "u-admin")
	})
}

// clock is a test clock that moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

// A token issued with a lifetime works until it ends, then is refused
// with a message saying it expired; a rotation gives a new lifetime.
func TestTokensExpire(t *testing.T) {
	c := &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	ta := startTestAppWith(t, func(cfg *Config) { cfg.TokenLifetime, cfg.TokenClock = time.Hour, c.Now })
	r := ta.call(t, "POST", "/v1/staff", "tok-admin", `{"staff_id":"cm-9","role":"case_manager","name":"Nadine"}`)
	var reg struct {
		Token     string
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(r.body), &reg); r.status != http.StatusCreated || err != nil || !reg.ExpiresAt.Equal(c.Now().Add(time.Hour)) {
		t.Fatalf("register: %d %s, want 201 with expires_at one hour from now", r.status, r.body)
	}
	ta.whoIs(t, reg.Token, "cm-9")
	c.Advance(time.Hour - time.Second)
	ta.whoIs(t, reg.Token, "cm-9")
	c.Advance(time.Second)
	if r := ta.call(t, "GET", "/v1/me", reg.Token, ""); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "token expired at 2025-03-01T13:00:00Z") {
		t.Fatalf("at its expiry: %d %s, want 401 saying it expired", r.status, r.body)
	}
	r = ta.call(t, "POST", "/v1/staff/cm-9/token", "tok-admin", "")
	if err := json.Unmarshal([]byte(r.body), &reg); r.status != http.StatusCreated || err != nil {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	ta.whoIs(t, reg.Token, "cm-9")
	t.Run("tokens registered without a lifetime never expire", func(t *testing.T) {
		c.Advance(1000 * time.Hour)
		ta.whoIs(t, "tok-case_manager", "u-case_manager")
	})
}

// The bootstrap admin's stream may hold rotations after its registration:
// EnsureAdmin folds it (it read the last event as a registration, and
// panicked on a rotation), leaves a token that is already the admin's
// alone, and records a changed RELAIS_ADMIN_TOKEN as a rotation.
func TestBootstrapAdminFollowsRotations(t *testing.T) {
	ctx := t.Context()
	l := jstest.Ledger(t)
	t.Setenv("RELAIS_ADMIN_TOKEN", "rls_first-admin-token-0123456789")
	if err := EnsureAdmin(ctx, l, io.Discard); err != nil {
		t.Fatal(err)
	}
	rotated, err := svcdirectory.New(l).RotateToken(ctx, events.Actor{ID: "admin", Role: events.RoleAdmin}, svcdirectory.KindStaff, "admin")
	if err != nil {
		t.Fatal(err)
	}
	types := func() []string {
		evs, err := l.Read(ctx, events.AdminStream, 1)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range evs {
			out = append(out, e.Type+" by "+e.Actor.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name, env string
		want      []string
	}{
		{"the token the admin rotated to is left alone", rotated.Token,
			[]string{"staff.registered by relais", "token.rotated by admin"}},
		{"no RELAIS_ADMIN_TOKEN leaves the admin as it is", "",
			[]string{"staff.registered by relais", "token.rotated by admin"}},
		{"a changed RELAIS_ADMIN_TOKEN is a rotation by Relais", "rls_second-admin-token-0123456789",
			[]string{"staff.registered by relais", "token.rotated by admin", "token.rotated by relais"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("RELAIS_ADMIN_TOKEN", tc.env)
			if err := EnsureAdmin(ctx, l, io.Discard); err != nil {
				t.Fatal(err)
			}
			if got := types(); strings.Join(got, ", ") != strings.Join(tc.want, ", ") {
				t.Fatalf("the admin stream holds %v, want %v", got, tc.want)
			}
		})
	}
}
