package app

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/relais-health/relais/delivery/webhook"
	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	svcdirectory "github.com/relais-health/relais/services/directory"
)

// testApp runs the assembled app over a real embedded ledger and serves its
// API with httptest; actors exist for every role, with token "tok-<role>".
type testApp struct {
	*App
	srv *httptest.Server
}

func startTestApp(t *testing.T) *testApp {
	t.Helper()
	env := jstest.Start(t, jstest.Options{})
	b := &Backend{Store: env.Store, Conn: env.Conn}
	ctx, cancel := context.WithCancel(context.Background())
	for _, role := range AllRoles {
		var p events.Payload = &events.StaffRegistered{StaffID: "u-" + role, Role: role, Name: role, TokenHash: svcdirectory.HashToken("tok-" + role)}
		stream := "staff-u-" + role
		if !slices.Contains(events.StaffRoles, role) {
			p = &events.PartnerRegistered{PartnerID: "u-" + role, Category: role, Name: role, TokenHash: svcdirectory.HashToken("tok-" + role)}
			stream = "partner-u-" + role
		}
		if _, err := env.Store.Append(ctx, stream, ledger.NoStream, events.MustNew(p, events.Actor{ID: "admin", Role: "admin"})); err != nil {
			t.Fatal(err)
		}
	}
	a, err := New(t.Context(), Config{Backend: b, Facilities: []string{"HSTA"}, PatientSecret: []byte("0123456789abcdef0123")})
	if err != nil {
		t.Fatal(err)
	}
	var g errgroup.Group
	g.Go(func() error { return a.Run(ctx) })
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := a.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		srv.Close()
		cancel()
		g.Wait() //nolint:errcheck
	})
	return &testApp{App: a, srv: srv}
}

// concrete turns a route pattern into a path.
func concrete(pattern string) string {
	r := strings.NewReplacer("{id}", "client-01", "{client}", "client-01", "{oid}", "obj-1", "{rid}", "ref-1", "{category}", "family", "{alert}", "a1", "{name}", "x")
	p := r.Replace(pattern)
	for strings.Contains(p, "{") {
		i, j := strings.Index(p, "{"), strings.Index(p, "}")
		p = p[:i] + "x" + p[j+1:]
	}
	return p
}

// Every route refuses a request without a token (401) and a role it does
// not list (403), and lets the roles it lists through.
func TestRoleEndpointMatrix(t *testing.T) {
	ta := startTestApp(t)
	routes := ta.api.Routes()
	if len(routes) < 2 {
		t.Fatalf("only %d routes", len(routes))
	}
	for _, rt := range routes {
		for _, role := range append([]string{""}, AllRoles...) {
			name := rt.Method + " " + rt.Pattern + " as " + role
			t.Run(name, func(t *testing.T) {
				wait := 5 * time.Second
				if strings.HasSuffix(rt.Pattern, "/stream") {
					wait = 300 * time.Millisecond // a stream let through stays open
				}
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, rt.Method, ta.srv.URL+concrete(rt.Pattern), bytes.NewReader([]byte("{}")))
				if role != "" {
					req.Header.Set("Authorization", "Bearer tok-"+role)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode == http.StatusOK && strings.HasSuffix(rt.Pattern, "/stream") {
					resp.Body.Close()
					if role == "" || !slices.Contains(rt.Roles, role) {
						t.Fatalf("stream opened for role %q", role)
					}
					return
				}
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
				resp.Body.Close()
				roleRefusal := resp.StatusCode == http.StatusForbidden && strings.Contains(string(body), "may not")
				switch {
				case role == "":
					if resp.StatusCode != http.StatusUnauthorized {
						t.Fatalf("anonymous got %d, want 401", resp.StatusCode)
					}
				case !slices.Contains(rt.Roles, role):
					if !roleRefusal {
						t.Fatalf("role %s got %d %s, want 403 for its role", role, resp.StatusCode, body)
					}
				default:
					// Let through by role; the service may still refuse the
					// empty request (400, 404, or 403 for consent).
					if resp.StatusCode == http.StatusUnauthorized || roleRefusal {
						t.Fatalf("allowed role %s got %d %s", role, resp.StatusCode, body)
					}
				}
			})
		}
	}
}

// Auditors and archivists only read: no route that writes lets them in.
func TestAuditorsAndArchivistsAreReadOnly(t *testing.T) {
	ta := startTestApp(t)
	for _, rt := range ta.api.Routes() {
		if rt.Method == "GET" {
			continue
		}
		for _, ro := range []string{events.RoleAuditor, events.RoleArchivist} {
			if slices.Contains(rt.Roles, ro) {
				t.Errorf("%s %s lets the read-only role %s write", rt.Method, rt.Pattern, ro)
			}
		}
	}
}

func TestUnknownTokenIsRefused(t *testing.T) {
	ta := startTestApp(t)
	req, _ := http.NewRequest("GET", ta.srv.URL+"/v1/me", nil)
	req.Header.Set("Authorization", "Bearer not-a-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("got %d", resp.StatusCode)
	}
	resp, err = http.Get(ta.srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
}

// A partner with a webhook gets its alerts as signed POSTs.
func TestPartnerWebhookIsSigned(t *testing.T) {
	got := make(chan []byte, 4)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify([]byte("whsec"), r.Header, body, time.Now(), time.Minute); err != nil {
			t.Errorf("signature: %v", err)
		}
		got <- body
	}))
	defer recv.Close()
	env := jstest.Start(t, jstest.Options{})
	ctx := context.Background()
	admin := events.Actor{ID: "admin", Role: "admin"}
	put := func(stream string, ps ...events.Payload) {
		for _, p := range ps {
			if _, err := env.Store.Append(ctx, stream, ledger.Any, events.MustNew(p, admin)); err != nil {
				t.Fatal(err)
			}
		}
	}
	put("partner-org-1", &events.PartnerRegistered{PartnerID: "org-1", Category: "community", Name: "Org", WebhookURL: recv.URL})
	a, err := New(t.Context(), Config{Backend: &Backend{Store: env.Store, Conn: env.Conn}, Facilities: []string{"HSTA"}, PatientSecret: []byte("0123456789abcdef0123"), WebhookSecret: []byte("whsec")})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	var g errgroup.Group
	g.Go(func() error { return a.Run(rctx) })
	defer func() { cancel(); g.Wait() }() //nolint:errcheck
	if err := a.WaitReady(rctx); err != nil {
		t.Fatal(err)
	}
	checkLive := time.Now().Add(5 * time.Second)
	for !a.fan.Live() && time.Now().Before(checkLive) {
		time.Sleep(5 * time.Millisecond)
	}
	put("client-c1",
		&events.ClientRegistered{ClientID: "c1", GivenName: "A", FamilyName: "B", Identifiers: []events.Identifier{{Authority: "RAMQ", Value: "1"}}},
		&events.ConsentGranted{ClientID: "c1", Category: "community"},
		&events.ReferralSent{ClientID: "c1", ReferralID: "r1", PartnerID: "org-1", Category: "community", Reason: "isolement"})
	select {
	case b := <-got:
		if !strings.Contains(string(b), "referral.received") {
			t.Fatalf("webhook body %s", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook delivery")
	}
}

// An alert recorded just before a stop reaches the partner's webhook when
// Relais catches up, and a restart that re-reads it does not send it twice
// (the queue drops a delivery id it already holds).
func TestWebhookAfterRestartIsSentOnce(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(body))
		mu.Unlock()
	}))
	defer recv.Close()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(bodies) }
	env := jstest.Start(t, jstest.Options{})
	admin := events.Actor{ID: "admin", Role: "admin"}
	for _, a := range []struct {
		stream string
		p      events.Payload
	}{
		{"partner-org-1", &events.PartnerRegistered{PartnerID: "org-1", Category: "community", Name: "Org", WebhookURL: recv.URL}},
		{"client-c1", &events.ClientRegistered{ClientID: "c1", GivenName: "A", FamilyName: "B", Identifiers: []events.Identifier{{Authority: "RAMQ", Value: "1"}}}},
		{"client-c1", &events.ConsentGranted{ClientID: "c1", Category: "community"}},
		{"client-c1", &events.ReferralSent{ClientID: "c1", ReferralID: "r1", PartnerID: "org-1", Category: "community", Reason: "isolement"}},
	} {
		if _, err := env.Store.Append(t.Context(), a.stream, ledger.Any, events.MustNew(a.p, admin)); err != nil {
			t.Fatal(err)
		}
	}
	for run := 1; run <= 2; run++ {
		a, err := New(t.Context(), Config{Backend: &Backend{Store: env.Store, Conn: env.Conn}, Facilities: []string{"HSTA"}, PatientSecret: []byte("0123456789abcdef0123"), WebhookSecret: []byte("whsec")})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		var g errgroup.Group
		g.Go(func() error { return a.Run(ctx) })
		if err := a.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for count() == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond) // a duplicate would arrive by now
		cancel()
		g.Wait() //nolint:errcheck
		if n := count(); n != 1 {
			t.Fatalf("run %d: %d webhook deliveries, want 1: %q", run, n, bodies)
		}
	}
	if !strings.Contains(bodies[0], "referral.received") {
		t.Fatalf("webhook body %s", bodies[0])
	}
}
