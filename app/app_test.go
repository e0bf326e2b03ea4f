package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/relais-health/relais/delivery/webhook"
	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/internal/poll"
	svcdirectory "github.com/relais-health/relais/services/directory"
)

// testApp runs the assembled app over a real embedded ledger and serves its
// API with httptest; actors exist for every role, with token "tok-<role>".
type testApp struct {
	*App
	srv *httptest.Server
}

func startTestApp(t *testing.T) *testApp { t.Helper(); return startTestAppWith(t, nil) }

// startTestAppWith is startTestApp with configure applied to its Config.
func startTestAppWith(t *testing.T, configure func(*Config)) *testApp {
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
	cfg := Config{Backend: b, Facilities: []string{"HSTA"}, PatientSecret: []byte("0123456789abcdef0123")}
	if configure != nil {
		configure(&cfg)
	}
	a, err := New(t.Context(), cfg)
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

// roleRow is one route of the role × endpoint matrix.
type roleRow struct {
	method, pattern string
	roles           []string
	line            int
}

// roleMatrix reads the role × endpoint matrix from testdata/roles.golden,
// written by hand from docs/API.md (the file says how to read it). It is
// deliberately not derived from the routes' own declarations: a route that
// lets the wrong roles in must fail TestRoleEndpointMatrix.
func roleMatrix(t *testing.T) []roleRow {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "roles.golden"))
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string][]string{}
	var rows []roleRow
	for i, line := range strings.Split(string(raw), "\n") {
		n := i + 1
		if c := strings.Index(line, "#"); c >= 0 {
			line = line[:c]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		expand := func(words []string) []string {
			var roles []string
			for _, w := range words {
				if strings.HasPrefix(w, "@") {
					g, ok := groups[w]
					if !ok {
						t.Fatalf("roles.golden:%d: group %s is not defined above", n, w)
					}
					roles = append(roles, g...)
					continue
				}
				if !slices.Contains(AllRoles, w) {
					t.Fatalf("roles.golden:%d: %q is not a role (%v)", n, w, AllRoles)
				}
				roles = append(roles, w)
			}
			return roles
		}
		if strings.HasPrefix(fields[0], "@") {
			if len(fields) < 3 || fields[1] != "=" {
				t.Fatalf("roles.golden:%d: a group is \"@name = ROLE...\"", n)
			}
			groups[fields[0]] = expand(fields[2:])
			continue
		}
		if len(fields) < 3 || !strings.HasPrefix(fields[1], "/") {
			t.Fatalf("roles.golden:%d: a route is \"METHOD PATTERN ROLE...\"", n)
		}
		rows = append(rows, roleRow{method: fields[0], pattern: fields[1], roles: expand(fields[2:]), line: n})
	}
	if len(rows) == 0 {
		t.Fatal("roles.golden lists no route")
	}
	return rows
}

// The API serves exactly the routes of testdata/roles.golden: none it does not list,
// none missing.
func TestRoleMatrixListsEveryRoute(t *testing.T) {
	ta := startTestApp(t)
	served := map[string]bool{}
	for _, rt := range ta.api.Routes() {
		served[rt.Method+" "+rt.Pattern] = true
	}
	listed := map[string]bool{}
	for _, row := range roleMatrix(t) {
		key := row.method + " " + row.pattern
		if listed[key] {
			t.Errorf("roles.golden:%d lists %s twice", row.line, key)
		}
		listed[key] = true
		if !served[key] {
			t.Errorf("roles.golden:%d lists %s, which the API does not serve", row.line, key)
		}
	}
	for key := range served {
		if !listed[key] {
			t.Errorf("the API serves %s, which testdata/roles.golden does not list (add it, with the roles docs/API.md gives it)", key)
		}
	}
}

// Every route refuses a request without a token (401) and a role that
// testdata/roles.golden does not give it (403), and lets the roles it gives through.
func TestRoleEndpointMatrix(t *testing.T) {
	ta := startTestApp(t)
	for _, row := range roleMatrix(t) {
		for _, role := range append([]string{""}, AllRoles...) {
			t.Run(row.method+" "+row.pattern+" as "+role, func(t *testing.T) {
				checkRole(t, ta, row.method, row.pattern, role, slices.Contains(row.roles, role))
			})
		}
	}
}

// checkRole calls method pattern as role (no token when role is "") and
// checks that the answer is a 401, a 403 for the role, or neither, as
// allowed says.
func checkRole(t *testing.T, ta *testApp, method, pattern, role string, allowed bool) {
	t.Helper()
	stream := strings.HasSuffix(pattern, "/stream")
	wait := 5 * time.Second
	if stream {
		wait = 300 * time.Millisecond // a stream let through stays open
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, ta.srv.URL+concrete(pattern), bytes.NewReader([]byte("{}")))
	if role != "" {
		req.Header.Set("Authorization", "Bearer tok-"+role)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK && stream {
		resp.Body.Close()
		if role == "" || !allowed {
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
	case !allowed:
		if !roleRefusal {
			t.Fatalf("role %s got %d %s, want 403 for its role", role, resp.StatusCode, body)
		}
	default:
		// Let through by role; the service may still refuse the empty
		// request (400, 404, or 403 for consent).
		if resp.StatusCode == http.StatusUnauthorized || roleRefusal {
			t.Fatalf("allowed role %s got %d %s", role, resp.StatusCode, body)
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
	waitLive(t, a)
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

// waitLive waits until a's fan-out delivers live changes (the alert
// projection has caught up).
func waitLive(t *testing.T, a *App) {
	t.Helper()
	poll.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if !a.fan.Live() {
			return errors.New("the fan-out is not live")
		}
		return nil
	})
}

// An alert recorded just before a stop reaches the partner's webhook when
// Relais catches up, and a restart that re-reads it does not send it twice
// (the queue drops a delivery id it already holds). Absence is proved by a
// later marker, not by waiting: after the restart a second referral to the
// same partner is recorded, and once its webhook has arrived and the
// delivery queue is empty, a duplicate of the first would have been queued
// before the marker (same connection, in order) and sent already.
func TestWebhookAfterRestartIsSentOnce(t *testing.T) {
	var mu sync.Mutex
	var ids []string // Relais-Delivery of each POST, in arrival order
	bodies := map[string]string{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		id := r.Header.Get(webhook.HeaderDelivery)
		ids = append(ids, id)
		bodies[id] = string(body)
	}))
	defer recv.Close()
	deliveries := func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(ids) }
	env := jstest.Start(t, jstest.Options{})
	admin := events.Actor{ID: "admin", Role: "admin"}
	record := func(stream string, p events.Payload) {
		t.Helper()
		if _, err := env.Store.Append(t.Context(), stream, ledger.Any, events.MustNew(p, admin)); err != nil {
			t.Fatal(err)
		}
	}
	record("partner-org-1", &events.PartnerRegistered{PartnerID: "org-1", Category: "community", Name: "Org", WebhookURL: recv.URL})
	record("client-c1", &events.ClientRegistered{ClientID: "c1", GivenName: "A", FamilyName: "B", Identifiers: []events.Identifier{{Authority: "RAMQ", Value: "1"}}})
	record("client-c1", &events.ConsentGranted{ClientID: "c1", Category: "community"})
	record("client-c1", &events.ReferralSent{ClientID: "c1", ReferralID: "r1", PartnerID: "org-1", Category: "community", Reason: "isolement"})

	start := func() (a *App, stop func()) {
		t.Helper()
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
		return a, func() { cancel(); g.Wait() } //nolint:errcheck
	}

	// Run 1: the referral recorded before start is delivered on catch-up.
	_, stop := start()
	poll.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := len(deliveries()); n == 0 {
			return errors.New("no webhook delivery of the first referral")
		}
		return nil
	})
	stop()
	first := deliveries()[0]
	if !strings.Contains(bodies[first], "referral.received") {
		t.Fatalf("webhook body %s", bodies[first])
	}

	// Run 2: the restart re-reads the first referral; then the marker.
	a, stop := start()
	defer stop()
	waitLive(t, a)
	record("client-c1", &events.ReferralSent{ClientID: "c1", ReferralID: "r2", PartnerID: "org-1", Category: "community", Reason: "marqueur"})
	js, err := jetstream.New(env.Conn)
	if err != nil {
		t.Fatal(err)
	}
	poll.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if !slices.ContainsFunc(deliveries(), func(id string) bool { return id != first }) {
			return errors.New("the marker's webhook has not arrived")
		}
		q, err := js.Stream(t.Context(), webhook.StreamName)
		if err != nil {
			return err
		}
		info, err := q.Info(t.Context())
		if err != nil {
			return err
		}
		if info.State.Msgs != 0 {
			return fmt.Errorf("%d deliveries still queued", info.State.Msgs)
		}
		return nil
	})
	got := deliveries()
	if n := len(got); n != 2 || got[0] != first {
		t.Fatalf("%d webhook deliveries %q, want the first referral once, then the marker", n, got)
	}
}

// Reading a client's file is recorded (file.accessed, by the reader, on the
// client's access stream) before it is answered.
func TestFileReadIsRecorded(t *testing.T) {
	ta := startTestApp(t)
	post := func(path, body string) {
		t.Helper()
		req, _ := http.NewRequest("POST", ta.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok-case_manager")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
		}
	}
	post("/v1/clients", `{"client_id":"c9","given_name":"A","family_name":"B","birth_date":"1950-01-01","identifiers":[{"authority":"RAMQ","value":"9"}]}`)
	var accessed []events.FileAccessed
	for _, view := range []string{"", "/timeline"} {
		poll.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
			req, _ := http.NewRequest("GET", ta.srv.URL+"/v1/clients/c9"+view, nil)
			req.Header.Set("Authorization", "Bearer tok-auditor")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET /v1/clients/c9%s: %d", view, resp.StatusCode)
			}
			return nil
		})
	}
	evs, err := ta.b.Store.Read(t.Context(), events.AccessStream("c9"), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		p, err := e.Payload()
		if err != nil {
			t.Fatal(err)
		}
		accessed = append(accessed, *p.(*events.FileAccessed))
	}
	want := []events.FileAccessed{
		{ClientID: "c9", ActorID: "u-auditor", Role: "auditor", View: "file"},
		{ClientID: "c9", ActorID: "u-auditor", Role: "auditor", View: "timeline"},
	}
	if !slices.Equal(accessed, want) {
		t.Fatalf("access stream %+v, want %+v", accessed, want)
	}
}
