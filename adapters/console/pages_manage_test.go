package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/relais-health/relais/adapters/httpapi"
	"github.com/relais-health/relais/delivery/sse"
	"github.com/relais-health/relais/delivery/webhook"
	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/projections"
	"github.com/relais-health/relais/projections/alerts"
	"github.com/relais-health/relais/projections/directory"
	"github.com/relais-health/relais/projections/rebuild"
	"github.com/relais-health/relais/projections/reports"
	"github.com/relais-health/relais/services/alerting"
	svcdirectory "github.com/relais-health/relais/services/directory"
)

func TestCompareListsSaysWhoEnteredLeftAndMoved(t *testing.T) {
	row := func(rank int, client string, visits int) reports.Row {
		return reports.Row{Rank: rank, ClientID: client, Visits: visits}
	}
	then := []reports.Row{row(1, "a", 5), row(2, "b", 4), row(3, "c", 3)}
	now := []reports.Row{row(1, "b", 6), row(2, "a", 5), row(3, "d", 4)}
	got := compareLists(then, now)
	want := []struct {
		key, change string
		moved       int
	}{{"b", "up", 1}, {"a", "down", 1}, {"d", "entered", 0}, {"c", "left", 0}}
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Key != w.key || got[i].Change != w.change || got[i].Moved != w.moved {
			t.Errorf("row %d: %s %s %d, want %s %s %d", i, got[i].Key, got[i].Change, got[i].Moved, w.key, w.change, w.moved)
		}
	}
}

type fakeHooks struct {
	mu      sync.Mutex
	retried []string
}

func (f *fakeHooks) DeadLetters(context.Context) ([]webhook.DeadLetter, error) {
	return []webhook.DeadLetter{{Delivery: webhook.Delivery{ID: "d-1", URL: "https://org.example/hook", Recipient: "org-1"}, Attempts: 8, LastError: "connection refused", FailedAt: time.Now()}}, nil
}

func (f *fakeHooks) Retry(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retried = append(f.retried, id)
	return nil
}

type fakeFeeds struct{}

func (fakeFeeds) Feeds() []alerting.FeedHealth {
	return []alerting.FeedHealth{{Facility: "HSTA", Heard: true, LastSeen: time.Now(), SilentSeconds: 3 * 3600, Expecting: true, Silent: true, Hours: [2]int{7, 23}, Zone: "America/Toronto", SilenceAfterSeconds: 7200}}
}

type fakeAside struct{}

func (fakeAside) SetAside() []projections.DeadLetter {
	return []projections.DeadLetter{{ID: "caseload.42", Projection: "caseload", Position: 42, Type: "client.enrolled", Error: "boom", Attempts: 3}}
}

const issuedToken = "rls_just-issued-token-0123456789"

type fakeDirectory struct{}

func (fakeDirectory) RegisterStaff(context.Context, events.Actor, events.StaffRegistered) (svcdirectory.Registered, error) {
	return svcdirectory.Registered{}, nil
}
func (fakeDirectory) RegisterPartner(_ context.Context, _ events.Actor, r events.PartnerRegistered) (svcdirectory.Registered, error) {
	return svcdirectory.Registered{ID: r.PartnerID, Role: r.Category, Token: issuedToken}, nil
}
func (fakeDirectory) RotateToken(_ context.Context, _ events.Actor, kind, id string) (svcdirectory.Registered, error) {
	return svcdirectory.Registered{ID: id, Token: issuedToken}, nil
}
func (fakeDirectory) RevokeToken(context.Context, events.Actor, string, string, string) (ledger.Result, error) {
	return ledger.Result{}, nil
}
func (fakeDirectory) IssueNATSKey(context.Context, events.Actor, string) (svcdirectory.NATSKey, error) {
	return svcdirectory.NATSKey{}, nil
}
func (fakeDirectory) RevokeNATSKey(context.Context, events.Actor, string, string) (ledger.Result, error) {
	return ledger.Result{}, nil
}

type fakePeople struct{}

func (fakePeople) All() []directory.Entry {
	return []directory.Entry{{ID: "org-1", Kind: directory.KindPartner, Role: events.CategoryCommunity, Name: "Centre d'entraide"}}
}

type fakeUnacked struct{ fakeAlerts }

func (fakeUnacked) Unacknowledged() []alerts.Alert {
	return []alerts.Alert{{ID: "g-1", ThreadID: "t-g", RecipientID: "pm-1", Priority: "high", Kind: "feed.silent", Summary: "Flux HL7 HSTA silencieux depuis 11:00"}}
}

func manageRig(t *testing.T) (*rig, *fakeHooks, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	g := &rig{ack: &fakeAck{}, acc: &fakeAccess{}, now: time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)}
	hooks := &fakeHooks{}
	al := &fakeUnacked{}
	c, err := New(Deps{
		Auth: fakeAuth{
			"tok-cm":  {ID: "cm-1", Role: events.RoleCaseManager},
			"tok-pm":  {ID: "pm-1", Role: events.RoleProgrammeManager},
			"tok-adm": {ID: "admin", Role: events.RoleAdmin},
		},
		Alerts: al, Ack: g.ack, AlertsW: al, Files: fakeFiles{}, Caseloads: fakeLoads{}, Reports: fakeReports{}, Access: g.acc,
		Now: func() time.Time { return g.now }, Hub: sse.NewHub(), Log: zap.New(core),
		Feeds: fakeFeeds{}, Hooks: hooks, SetAside: fakeAside{}, Directory: fakeDirectory{}, People: fakePeople{},
	})
	if err != nil {
		t.Fatal(err)
	}
	g.c = c
	return g, hooks, logs
}

// The feed page shows a silent feed with its pending alarm, the dead
// letters with a retry that reaches the dispatcher, and the set-aside
// events.
func TestFeedsPageAndDeadLetterRetry(t *testing.T) {
	g, hooks, _ := manageRig(t)
	ck, csrf, _ := g.signIn(t, "tok-pm", false)
	r, _ := http.NewRequest("GET", "/console/programme/feeds", nil)
	r.AddCookie(ck)
	body := g.do(r).Body.String()
	for _, want := range []string{"Silencieux", "Flux HL7 HSTA silencieux depuis 11:00", "180 min", "connection refused", "client.enrolled"} {
		if !strings.Contains(body, want) {
			t.Errorf("the feed page does not say %q", want)
		}
	}
	w := g.do(post("/console/programme/feeds/retry", ck, url.Values{"csrf": {csrf}, "id": {"d-1"}}))
	if w.Code != http.StatusSeeOther || fmt.Sprint(hooks.retried) != "[d-1]" {
		t.Fatalf("retry answered %d, retried %v", w.Code, hooks.retried)
	}
}

// A token issued by the directory page is in that page's body only: not
// in a redirect, a header, a cookie or a log line.
func TestIssuedTokenIsShownOnceAndNowhereElse(t *testing.T) {
	for _, tc := range []struct {
		token, path string
		form        url.Values
		want        int
	}{
		{"tok-pm", "/console/programme/directory/partners", url.Values{"id": {"org-9"}, "name": {"Maison"}, "category": {"community"}}, http.StatusCreated},
		{"tok-adm", "/console/programme/directory/token", url.Values{"kind": {"partner"}, "id": {"org-1"}, "action": {"rotate"}}, http.StatusCreated},
		{"tok-pm", "/console/programme/directory/token", url.Values{"kind": {"partner"}, "id": {"org-1"}, "action": {"rotate"}}, http.StatusForbidden},
		{"tok-cm", "/console/programme/directory/partners", url.Values{"id": {"org-9"}, "name": {"Maison"}, "category": {"community"}}, http.StatusForbidden},
	} {
		t.Run(tc.token+" "+tc.path, func(t *testing.T) {
			g, _, logs := manageRig(t)
			ck, csrf, _ := g.signIn(t, tc.token, false)
			tc.form.Set("csrf", csrf)
			w := g.do(post(tc.path, ck, tc.form))
			if w.Code != tc.want {
				t.Fatalf("answered %d, want %d", w.Code, tc.want)
			}
			shown := strings.Contains(w.Body.String(), issuedToken)
			if shown != (tc.want == http.StatusCreated) {
				t.Errorf("token in the page: %v, want %v", shown, !shown)
			}
			for k, v := range w.Header() {
				if strings.Contains(strings.Join(v, " "), issuedToken) {
					t.Errorf("the token is in header %s", k)
				}
			}
			for _, e := range logs.All() {
				if strings.Contains(fmt.Sprint(e.Message, e.ContextMap()), issuedToken) {
					t.Errorf("the token is in a log line: %s", e.Message)
				}
			}
			// The next page does not show it again.
			r, _ := http.NewRequest("GET", "/console/programme/directory", nil)
			r.AddCookie(ck)
			if again := g.do(r); strings.Contains(again.Body.String(), issuedToken) {
				t.Error("the token is shown again on the next page")
			}
		})
	}
}

// slowReplay applies one event, then runs until its context ends.
type slowReplay struct{}

func (slowReplay) Replay(ctx context.Context, _ rebuild.Until, a rebuild.Applier) (rebuild.Stats, error) {
	e := events.MustNew(&events.StaffRegistered{StaffID: "s-1", Role: events.RoleCaseManager, Name: "x"}, events.Actor{ID: "admin", Role: events.RoleAdmin})
	e.Position = 7
	if err := a.Apply(ctx, e); err != nil {
		return rebuild.Stats{}, err
	}
	<-ctx.Done()
	return rebuild.Stats{Events: 1, Last: 7}, ctx.Err()
}

// A replay longer than the console allows stops, says where it stood and
// points to `relais replay`; it is not an internal error.
func TestReplayCutShortSaysSo(t *testing.T) {
	old := replayBound
	replayBound = 50 * time.Millisecond
	t.Cleanup(func() { replayBound = old })
	g, _, _ := manageRig(t)
	g.c.d.Replay = slowReplay{}
	ck, csrf, _ := g.signIn(t, "tok-adm", false)
	w := g.do(post("/console/audit/replay", ck, url.Values{"csrf": {csrf}, "projection": {"directory"}, "at": {"2026-12-02T10:00"}}))
	body := w.Body.String()
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(body, "relais replay --until") || !strings.Contains(body, "at position 7") {
		t.Fatalf("a replay cut short answered %d:\n%s", w.Code, body)
	}
}

type fakeRetrier struct{ err error }

func (f fakeRetrier) RetrySetAside(_ context.Context, id string) (projections.DeadLetter, error) {
	if id != "caseload.42" {
		return projections.DeadLetter{}, projections.ErrSetAsideNotFound
	}
	return projections.DeadLetter{ID: id}, f.err
}

// A set-aside event is retried from the feed page when the retry is
// wired: applied or failing again, the page says which; an unknown id is
// refused with the API's status.
func TestSetAsideRetryFromTheFeedPage(t *testing.T) {
	for _, tc := range []struct {
		name, id string
		err      error
		status   int
		flash    string
	}{
		{"applied", "caseload.42", nil, http.StatusSeeOther, "plus mis de côté"},
		{"fails again", "caseload.42", fmt.Errorf("%w: boom", projections.ErrRetryFailed), http.StatusSeeOther, "a encore échoué"},
		{"unknown: the API's status for it", "caseload.7", nil, httpapi.StatusOf(projections.ErrSetAsideNotFound), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, _, _ := manageRig(t)
			g.c.d.RetryAside = fakeRetrier{err: tc.err}
			ck, csrf, _ := g.signIn(t, "tok-pm", false)
			r, _ := http.NewRequest("GET", "/console/programme/feeds", nil)
			r.AddCookie(ck)
			if page := g.do(r).Body.String(); !strings.Contains(page, `action="/console/programme/feeds/aside/retry"`) {
				t.Fatal("no retry button beside the set-aside event")
			}
			w := g.do(post("/console/programme/feeds/aside/retry", ck, url.Values{"csrf": {csrf}, "id": {tc.id}}))
			if w.Code != tc.status {
				t.Fatalf("answered %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.flash == "" {
				return
			}
			r, _ = http.NewRequest("GET", "/console/programme/feeds", nil)
			r.AddCookie(ck)
			if page := g.do(r).Body.String(); !strings.Contains(page, tc.flash) {
				t.Errorf("the page after the retry does not say %q", tc.flash)
			}
		})
	}
}
