package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

func TestBearer(t *testing.T) {
	for _, tc := range []struct {
		name, header, token string
		ok                  bool
	}{
		{"a bearer token is read", "Bearer tok-1", "tok-1", true},
		{"the scheme is case-insensitive", "bearer tok-1", "tok-1", true},
		{"spaces around the token are dropped", "  BEARER   tok-1  ", "tok-1", true},
		{"no header is no token", "", "", false},
		{"another scheme is no token", "Basic dXNlcjpwYXNz", "", false},
		{"the scheme alone is no token", "Bearer", "", false},
		{"the scheme and a space is no token", "Bearer ", "", false},
		{"a scheme glued to the token is no token", "Bearertok-1", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token, ok := bearer(tc.header)
			if token != tc.token || ok != tc.ok {
				t.Fatalf("bearer(%q) = %q, %v; want %q, %v", tc.header, token, ok, tc.token, tc.ok)
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	s := newServer(nil)
	called := 0
	s.Handle("GET", "/v1/thing", []string{events.RoleCaseManager}, func(w http.ResponseWriter, r *http.Request, p Principal) error {
		called++
		return ok(w, http.StatusOK, map[string]string{"id": p.ID})
	})
	srv := newTestServer(t, s)
	for _, tc := range []struct {
		name          string
		authorization string
		status        int
		message       string // in the error body
		challenge     string // in WWW-Authenticate
	}{
		{"a known token of an allowed role is let through", "Bearer tok-cm", http.StatusOK, "", ""},
		{"a lower-case scheme is let through", "bearer tok-cm", http.StatusOK, "", ""},
		{"no token is refused with a challenge", "", http.StatusUnauthorized, "missing bearer token", `Bearer realm="relais"`},
		{"another scheme is refused as no token", "Basic dXNlcjpwYXNz", http.StatusUnauthorized, "missing bearer token", `Bearer realm="relais"`},
		{"an empty token is refused as no token", "Bearer ", http.StatusUnauthorized, "missing bearer token", `Bearer realm="relais"`},
		{"an unknown token is refused as invalid", "Bearer tok-nobody", http.StatusUnauthorized, "unknown or revoked token", `error="invalid_token"`},
		{"a role the route does not list is forbidden, naming role and route", "Bearer tok-auditor", http.StatusForbidden, "role auditor may not GET /v1/thing", ""},
		{"a partner whose category the route does not list is forbidden", "Bearer tok-pharmacy", http.StatusForbidden, "role pharmacy may not GET /v1/thing", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := called
			req, _ := http.NewRequest("GET", srv.URL+"/v1/thing", nil)
			if tc.authorization != "" {
				req.Header.Set("Authorization", tc.authorization)
			}
			a := do(t, req)
			if a.status != tc.status {
				t.Fatalf("status %d %s, want %d", a.status, a.body, tc.status)
			}
			if !strings.Contains(a.err.Error, tc.message) {
				t.Fatalf("error %q, want it to say %q", a.err.Error, tc.message)
			}
			if got := a.header.Get("WWW-Authenticate"); !strings.Contains(got, tc.challenge) || (tc.challenge == "") != (got == "") {
				t.Fatalf("WWW-Authenticate %q, want %q", got, tc.challenge)
			}
			if wantCalled := tc.status == http.StatusOK; (called > before) != wantCalled {
				t.Fatalf("handler called: %v, want %v", called > before, wantCalled)
			}
		})
	}
}

// A 5xx answers a fixed message: the error's text (stream names, servers,
// anything inside) is logged with the route and the actor, never sent.
func TestServerErrorsDoNotLeak(t *testing.T) {
	core, logs := observer.New(zap.ErrorLevel)
	s := newServer(zap.New(core))
	secret := "stream client-c1 on nats://10.0.0.7:4222"
	s.Handle("GET", "/v1/broken", []string{events.RoleAdmin}, failing(errors.New("decide: "+secret)))
	s.Handle("GET", "/v1/down", []string{events.RoleAdmin}, failing(fmt.Errorf("append %s: %w", secret, ledger.ErrUnavailable)))
	s.Handle("GET", "/v1/refused", []string{events.RoleAdmin}, failing(fmt.Errorf("%w: %s", ErrForbidden, "not yours")))
	srv := newTestServer(t, s)
	for _, tc := range []struct {
		name, path string
		status     int
		message    string
		logged     bool
	}{
		{"an unknown error is a 500 that says only internal error", "/v1/broken", http.StatusInternalServerError, "internal error", true},
		{"an unavailable ledger is a 503 that says retry later", "/v1/down", http.StatusServiceUnavailable, "ledger unavailable, retry later", true},
		{"a 4xx says what is wrong, and is not logged as a failure", "/v1/refused", http.StatusForbidden, "forbidden: not yours", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := logs.Len()
			a := call(t, srv, "GET", tc.path, "tok-admin", "")
			if a.status != tc.status || a.err.Error != tc.message {
				t.Fatalf("got %d %q, want %d %q", a.status, a.err.Error, tc.status, tc.message)
			}
			if strings.Contains(a.body, "10.0.0.7") || strings.Contains(a.body, "client-c1") {
				t.Fatalf("body leaks the error: %s", a.body)
			}
			entries := logs.All()[before:]
			if got := len(entries) == 1; got != tc.logged {
				t.Fatalf("%d log entries, want logged=%v", len(entries), tc.logged)
			}
			if tc.logged {
				f := entries[0].ContextMap()
				if !strings.Contains(fmt.Sprint(f["error"]), secret) || f["route"] != "GET "+tc.path || f["actor"] != "admin-1" {
					t.Fatalf("log fields %v, want the error, the route and the actor", f)
				}
			}
		})
	}
}

// Bodies are read strictly, and each way a body can be wrong is a 400 that
// names it; nothing reaches the service.
func TestDecodeErrors(t *testing.T) {
	dir := &fakeDirectory{}
	s := newServer(nil)
	s.RegisterCare(&fakeCases{}, fakePharmacy{}, dir)
	srv := newTestServer(t, s)
	huge := `{"staff_id":"cm-2","role":"case_manager","name":"` + strings.Repeat("é", maxBody/2) + `"}`
	for _, tc := range []struct {
		name, body string
		message    string
	}{
		{"an unknown field is refused, by name", `{"staff_id":"cm-2","role":"case_manager","name":"N","admin":true}`, `unknown field "admin"`},
		{"a second object after the first is trailing data", `{"staff_id":"cm-2","role":"case_manager","name":"N"} {}`, "trailing data"},
		{"a stray bracket after the object is trailing data", `{"staff_id":"cm-2","role":"case_manager","name":"N"}]`, "trailing data"},
		{"garbage after the object is trailing data", `{"staff_id":"cm-2","role":"case_manager","name":"N"}x`, "trailing data"},
		{"a body over 1 MiB is too large", huge, "larger than 1048576 bytes"},
		{"an empty body is refused", "", "empty body"},
		{"a field of the wrong type is refused", `{"staff_id":7}`, "staff_id"},
		{"broken JSON is refused", `{"staff_id":`, "bad request body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, srv, "POST", "/v1/staff", "tok-admin", tc.body)
			if a.status != http.StatusBadRequest || !strings.Contains(a.err.Error, tc.message) {
				t.Fatalf("got %d %q, want 400 saying %q", a.status, a.err.Error, tc.message)
			}
			if !strings.HasPrefix(a.err.Error, "bad request body") {
				t.Fatalf("error %q does not say the body is bad", a.err.Error)
			}
			if len(dir.staff) != 0 {
				t.Fatalf("the service was called with %+v", dir.staff)
			}
		})
	}
	t.Run("a body followed by white space only is read", func(t *testing.T) {
		a := call(t, srv, "POST", "/v1/staff", "tok-admin", `{"staff_id":"cm-2","role":"case_manager","name":"N"}`+" \n")
		if a.status != http.StatusCreated || len(dir.staff) != 1 || dir.staff[0].StaffID != "cm-2" || dir.actor.ID != "admin-1" {
			t.Fatalf("got %d %s, service saw %+v by %+v", a.status, a.body, dir.staff, dir.actor)
		}
	})
}

// A command takes what the path names over the body, runs as the caller,
// and answers what was recorded.
func TestCommandTakesThePathAndTheCaller(t *testing.T) {
	cases := &fakeCases{}
	s := newServer(nil)
	s.RegisterCare(cases, fakePharmacy{}, &fakeDirectory{})
	srv := newTestServer(t, s)
	a := call(t, srv, "POST", "/v1/clients/c1/flag", "tok-cm", `{"client_id":"other","programme":"defi-sante","reason":"urgences"}`)
	if a.status != http.StatusCreated {
		t.Fatalf("got %d %s", a.status, a.body)
	}
	if len(cases.flags) != 1 || cases.flags[0].ClientID != "c1" || cases.flags[0].Programme != "defi-sante" || cases.actor != (events.Actor{ID: "cm-1", Role: events.RoleCaseManager}) {
		t.Fatalf("service saw %+v by %+v", cases.flags, cases.actor)
	}
	if want := `{"stream":"client-c1","revision":2,"position":7,"events":1}` + "\n"; a.body != want {
		t.Fatalf("body %s, want %s", a.body, want)
	}
}
