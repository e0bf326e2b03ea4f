package console

import (
	"context"
	"crypto/tls"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-health/relais/adapters/httpapi"
	"github.com/relais-health/relais/delivery/sse"
	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/projections/alerts"
	"github.com/relais-health/relais/projections/caseload"
	"github.com/relais-health/relais/projections/clientfile"
	"github.com/relais-health/relais/projections/reports"
)

func TestCatalogHasEveryKeyInBothLanguages(t *testing.T) {
	for k, m := range catalog {
		for _, l := range []string{langFR, langEN} {
			if strings.TrimSpace(m[l]) == "" {
				t.Errorf("catalog key %q has no %s string", k, l)
			}
		}
		if len(m) != 2 {
			t.Errorf("catalog key %q has %d languages, want fr and en only", k, len(m))
		}
	}
}

// Every key a template or the Go code names is in the catalog, and every
// code the pages turn into words (Enum) has its key.
func TestEveryKeyUsedIsInTheCatalog(t *testing.T) {
	used := map[string]string{}
	tmplKey := regexp.MustCompile(`\.(?:T|Tf|HTML) "([^"]+)"`)
	err := fs.WalkDir(templateFS, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(templateFS, path)
		for _, m := range tmplKey.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = path
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	goKey := regexp.MustCompile(`"((?:err|flash|queue|inbox|clients|file|programme|archive|audit|login|nav|feeds|directory|frozen)\.[a-z0-9.]+)"`)
	files, _ := fs.Glob(os.DirFS("."), "*.go")
	for _, f := range files {
		if f == "catalog.go" || strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range goKey.FindAllStringSubmatch(string(b), -1) {
			if !strings.HasSuffix(m[1], ".") {
				used[m[1]] = f
			}
		}
	}
	for _, s := range []int{400, 401, 403, 404, 409, 500, 503} {
		used["err.status."+strconv.Itoa(s)] = "fail"
	}
	for _, c := range events.Categories {
		used["cat."+c] = "events.Categories"
	}
	for _, p := range []string{events.PriorityHigh, events.PriorityNormal, events.PriorityFYI} {
		used["prio."+p] = "priorities"
	}
	for _, r := range append(slices.Clone(events.StaffRoles), partnerRoles...) {
		used["role."+r] = "roles"
	}
	for _, ch := range []string{"phone", "in_person", "ed", "home_visit", "video", "message"} {
		used["channel."+ch] = "channels"
	}
	for _, p := range replayable {
		used["projection."+p] = "replayable"
	}
	for _, e := range archiveExclusions {
		used["reasoncat."+e] = "archiveExclusions"
	}
	if len(used) < 50 {
		t.Fatalf("found only %d keys in use: the scan is broken", len(used))
	}
	for k, where := range used {
		if _, ok := catalog[k]; !ok {
			t.Errorf("%s names key %q, which is not in the catalog", where, k)
		}
	}
}

func TestDatesAreMontrealTime(t *testing.T) {
	loc, err := time.LoadLocation("America/Montreal")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 19, 5, 0, 0, time.UTC)
	summer := time.Date(2026, 7, 1, 4, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		lang string
		t    time.Time
		want string
	}{
		{langFR, at, "2 déc. 2026, 14 h 05"},
		{langEN, at, "Dec 2, 2026, 2:05 PM"},
		{langFR, summer, "1 juil. 2026, 0 h 00"},
		{langFR, time.Time{}, "—"},
	} {
		if got := (L{Lang: tc.lang, loc: loc}).Date(tc.t); got != tc.want {
			t.Errorf("%s Date(%s) = %q, want %q", tc.lang, tc.t, got, tc.want)
		}
	}
}

func TestLanguageFromCookieThenAcceptLanguage(t *testing.T) {
	for _, tc := range []struct{ accept, cookie, want string }{
		{"", "", langFR},
		{"en-US,en;q=0.9", "", langEN},
		{"fr-CA,fr;q=0.9,en;q=0.8", "", langFR},
		{"de-DE", "", langFR},
		{"en-US", "fr", langFR},
		{"fr-CA", "en", langEN},
	} {
		r := httptest.NewRequest("GET", "/console/login", nil)
		if tc.accept != "" {
			r.Header.Set("Accept-Language", tc.accept)
		}
		if tc.cookie != "" {
			r.AddCookie(&http.Cookie{Name: langCookie, Value: tc.cookie})
		}
		if got := langOf(r); got != tc.want {
			t.Errorf("Accept-Language %q cookie %q: %s, want %s", tc.accept, tc.cookie, got, tc.want)
		}
	}
}

func TestPastedMedicationLists(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []events.Medication
	}{
		{"metformine | 500 mg | 2 f.p.j.\n\n", []events.Medication{{Name: "metformine", Dose: "500 mg", Frequency: "2 f.p.j."}}},
		{"salbutamol\t100 mcg\tPRN\r\nramipril - 5 mg", []events.Medication{{Name: "salbutamol", Dose: "100 mcg", Frequency: "PRN"}, {Name: "ramipril", Dose: "5 mg"}}},
		{"  \n | 5 mg", nil},
	} {
		got := parseMeds(tc.in)
		if !slices.Equal(got, tc.want) {
			t.Errorf("parseMeds(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// ---- the console over fakes: sign-in, cookies, CSRF, roles, idle ----

type fakeAuth map[string]httpapi.Principal

func (f fakeAuth) Authenticate(tok string) (httpapi.Principal, bool) { p, ok := f[tok]; return p, ok }

type fakeAlerts struct{ q []alerts.Alert }

func (f *fakeAlerts) Queue(string) []alerts.Alert           { return f.q }
func (f *fakeAlerts) Get(string) (alerts.Alert, bool)       { return alerts.Alert{}, false }
func (f *fakeAlerts) Since(string, uint64) []alerts.Update  { return nil }
func (f *fakeAlerts) Unacknowledged() []alerts.Alert        { return nil }
func (f *fakeAlerts) WaitFor(context.Context, uint64) error { return nil }

type fakeAck struct {
	mu  sync.Mutex
	ids []string
}

func (f *fakeAck) Acknowledge(_ context.Context, _ events.Actor, id string) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ids = append(f.ids, id)
	return 1, nil
}

type fakeFiles struct{}

func (fakeFiles) FileFor(id string, v clientfile.Viewer) (clientfile.File, error) {
	if v.Role == events.CategoryPharmacy {
		return clientfile.File{}, clientfile.ErrNoConsent
	}
	return clientfile.File{ClientID: id, GivenName: "Hélène", FamilyName: "Côté"}, nil
}

type fakeLoads struct{}

func (fakeLoads) Caseload(s string, now time.Time) caseload.Caseload {
	return caseload.Caseload{StaffID: s}
}
func (fakeLoads) All(time.Time) []caseload.Caseload { return nil }

type fakeReports struct{}

func (fakeReports) HighUtilizers(reports.Query) []reports.Row      { return nil }
func (fakeReports) Outcomes(reports.OutcomeQuery) reports.Outcomes { return reports.Outcomes{} }

type fakeAccess struct {
	mu             sync.Mutex
	reads, denials []string
}

func (f *fakeAccess) RecordAccess(_ context.Context, a events.Actor, id, view string) (ledger.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads = append(f.reads, a.ID+":"+id)
	return ledger.Result{}, nil
}

func (f *fakeAccess) RecordDenial(_ context.Context, a events.Actor, id, view, reason string) (ledger.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.denials = append(f.denials, a.ID+":"+id+":"+reason)
	return ledger.Result{}, nil
}

type rig struct {
	c   *Console
	ack *fakeAck
	acc *fakeAccess
	now time.Time
	mu  sync.Mutex
}

func newRig(t *testing.T) *rig {
	t.Helper()
	g := &rig{ack: &fakeAck{}, acc: &fakeAccess{}, now: time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)}
	al := &fakeAlerts{q: []alerts.Alert{{ID: "al-1", ThreadID: "t-1", Priority: "high", Kind: "ed.arrival", ClientID: "client-01", Summary: "À l'urgence", RaisedAt: g.now}}}
	c, err := New(Deps{
		Auth: fakeAuth{
			"tok-cm": {ID: "cm-1", Role: events.RoleCaseManager},
			"tok-ph": {ID: "ph-1", Role: events.CategoryPharmacy, Partner: true},
			"tok-ar": {ID: "arch-1", Role: events.RoleArchivist},
		},
		Alerts: al, Ack: g.ack, AlertsW: al, Files: fakeFiles{}, Caseloads: fakeLoads{}, Reports: fakeReports{}, Access: g.acc,
		Now: func() time.Time { g.mu.Lock(); defer g.mu.Unlock(); return g.now },
		Hub: sse.NewHub(), SessionCheck: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	g.c = c
	return g
}

func (g *rig) advance(d time.Duration) { g.mu.Lock(); g.now = g.now.Add(d); g.mu.Unlock() }

func (g *rig) do(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	g.c.ServeHTTP(w, r)
	return w
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn signs in with token and returns the session cookie and the
// session's CSRF token.
func (g *rig) signIn(t *testing.T, token string, tlsOn bool) (*http.Cookie, string, *httptest.ResponseRecorder) {
	t.Helper()
	page := g.do(httptest.NewRequest("GET", "/console/login", nil))
	m := csrfField.FindStringSubmatch(page.Body.String())
	if m == nil {
		t.Fatalf("sign-in page has no CSRF field:\n%s", page.Body)
	}
	r := httptest.NewRequest("POST", "/console/login", strings.NewReader(url.Values{"csrf": {m[1]}, "token": {token}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, ck := range page.Result().Cookies() {
		r.AddCookie(ck)
	}
	if tlsOn {
		r.TLS = &tls.ConnectionState{}
	}
	w := g.do(r)
	var sess *http.Cookie
	for _, ck := range w.Result().Cookies() {
		if ck.Name == sessionCookie && ck.Value != "" {
			sess = ck
		}
	}
	if sess == nil {
		return nil, "", w
	}
	q := httptest.NewRequest("GET", "/console/queue", nil)
	q.AddCookie(sess)
	mm := csrfField.FindStringSubmatch(g.do(q).Body.String())
	if mm == nil {
		t.Fatal("queue page has no CSRF field")
	}
	return sess, mm[1], w
}

func post(path string, ck *http.Cookie, form url.Values) *http.Request {
	r := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if ck != nil {
		r.AddCookie(ck)
	}
	return r
}

func TestSessionCookieIsHttpOnlyStrictAndSecureOverTLS(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		g := newRig(t)
		ck, _, w := g.signIn(t, "tok-cm", tlsOn)
		if ck == nil {
			t.Fatalf("no session cookie: %d %s", w.Code, w.Body)
		}
		if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure != tlsOn {
			t.Errorf("TLS %v: cookie %+v, want HttpOnly, SameSite=Strict, Secure=%v", tlsOn, ck, tlsOn)
		}
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/queue" {
			t.Errorf("sign-in answered %d to %q", w.Code, w.Header().Get("Location"))
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("Content-Security-Policy %q", csp)
		}
	}
}

func TestUnknownTokenIsRefused(t *testing.T) {
	g := newRig(t)
	ck, _, w := g.signIn(t, "nope", false)
	if ck != nil || w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "pas reconnu") {
		t.Errorf("unknown token: cookie %v, %d %s", ck, w.Code, w.Body)
	}
}

func TestPostsWithoutTheCSRFTokenAreRefused(t *testing.T) {
	g := newRig(t)
	ck, csrf, _ := g.signIn(t, "tok-cm", false)
	for _, tc := range []struct {
		name string
		form url.Values
		want int
	}{
		{"no token", url.Values{"alert": {"al-1"}}, http.StatusForbidden},
		{"wrong token", url.Values{"alert": {"al-1"}, "csrf": {"x" + csrf}}, http.StatusForbidden},
		{"right token", url.Values{"alert": {"al-1"}, "csrf": {csrf}}, http.StatusSeeOther},
	} {
		w := g.do(post("/console/alerts/ack", ck, tc.form))
		if w.Code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, w.Code, tc.want)
		}
	}
	if len(g.ack.ids) != 1 {
		t.Errorf("acknowledged %v; only the post with the CSRF token may act", g.ack.ids)
	}
	// The sign-in form is protected too.
	r := post("/console/login", nil, url.Values{"token": {"tok-cm"}})
	if w := g.do(r); w.Code != http.StatusForbidden {
		t.Errorf("sign-in without CSRF: %d", w.Code)
	}
}

func TestIdleSessionEnds(t *testing.T) {
	g := newRig(t)
	ck, _, _ := g.signIn(t, "tok-cm", false)
	g.advance(29 * time.Minute)
	r := httptest.NewRequest("GET", "/console/queue", nil)
	r.AddCookie(ck)
	if w := g.do(r); w.Code != http.StatusOK {
		t.Fatalf("after 29 min: %d", w.Code)
	}
	g.advance(31 * time.Minute)
	r = httptest.NewRequest("GET", "/console/queue", nil)
	r.AddCookie(ck)
	if w := g.do(r); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/login" {
		t.Errorf("after 31 idle min: %d %q, want the sign-in page", w.Code, w.Header().Get("Location"))
	}
}

func TestPagesFollowRolesAndRecordReads(t *testing.T) {
	g := newRig(t)
	cm, _, _ := g.signIn(t, "tok-cm", false)
	ph, _, _ := g.signIn(t, "tok-ph", false)
	ar, _, _ := g.signIn(t, "tok-ar", false)
	for _, tc := range []struct {
		who  *http.Cookie
		path string
		want int
		not  string
	}{
		{cm, "/console/clients/client-01", http.StatusOK, ""},
		{ph, "/console/clients/client-01", http.StatusForbidden, "Hélène"},
		{ar, "/console/queue", http.StatusForbidden, ""},
		{ph, "/console/programme", http.StatusForbidden, ""},
		{nil, "/console/queue", http.StatusSeeOther, ""},
	} {
		r := httptest.NewRequest("GET", tc.path, nil)
		if tc.who != nil {
			r.AddCookie(tc.who)
		}
		w := g.do(r)
		if w.Code != tc.want {
			t.Errorf("%v %s: %d, want %d", tc.who != nil, tc.path, w.Code, tc.want)
		}
		if tc.not != "" && strings.Contains(w.Body.String(), tc.not) {
			t.Errorf("%s shows %q to a viewer without consent", tc.path, tc.not)
		}
	}
	if !slices.Equal(g.acc.reads, []string{"cm-1:client-01"}) || !slices.Equal(g.acc.denials, []string{"ph-1:client-01:" + events.DenialNoConsent}) {
		t.Errorf("reads %v denials %v", g.acc.reads, g.acc.denials)
	}
}

// An open alert stream is not activity: when the session goes idle the
// stream ends (the page then goes back to the sign-in page).
func TestStreamEndsWithTheSession(t *testing.T) {
	g := newRig(t)
	ck, _, _ := g.signIn(t, "tok-cm", false)
	srv := httptest.NewServer(g.c)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/console/stream", nil)
	req.AddCookie(ck)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	buf := make([]byte, 64)
	if _, err := resp.Body.Read(buf); err != nil { // the retry line: the stream is open
		t.Fatal(err)
	}
	g.advance(31 * time.Minute)
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatalf("the stream did not end with its session: %v", err)
	}
}
