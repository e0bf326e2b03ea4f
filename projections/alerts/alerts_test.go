package alerts_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/internal/poll"
	"github.com/relais-health/relais/projections"
	"github.com/relais-health/relais/projections/alerts"
	"github.com/relais-health/relais/services/alerting"
)

var admin = events.Actor{ID: "admin", Role: events.RoleAdmin}

type world struct {
	t   *testing.T
	l   *jetstream.Store
	p   *alerts.Projection
	r   *projections.Runner
	ctl int
	rec *recorder
	// pl, when set, is the ledger the projection appends through (a
	// wrapper around l that fails on purpose).
	pl alerts.Ledger
	// window, when set, is the runner's Window.
	window int
}

type recorder struct {
	mu sync.Mutex
	us []alerts.Update
}

func (r *recorder) Notify(_ context.Context, u alerts.Update) {
	r.mu.Lock()
	r.us = append(r.us, u)
	r.mu.Unlock()
}

func put(t *testing.T, l ledger.Ledger, stream string, opts []events.Option, ps ...events.Payload) {
	t.Helper()
	for _, p := range ps {
		e, err := events.New(p, admin, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(context.Background(), stream, ledger.Any, e); err != nil {
			t.Fatal(err)
		}
	}
}

func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldWith(t, nil)
}

// newWorldWith is newWorld with the projection appending through wrap(l)
// when wrap is not nil.
func newWorldWith(t *testing.T, wrap func(*jetstream.Store) alerts.Ledger) *world {
	t.Helper()
	return newWorldWindow(t, wrap, 0)
}

// newWorldWindow is newWorldWith with the runner's Window set.
func newWorldWindow(t *testing.T, wrap func(*jetstream.Store) alerts.Ledger, window int) *world {
	t.Helper()
	l := jstest.Ledger(t)
	put(t, l, "staff-cm-1", nil, &events.StaffRegistered{StaffID: "cm-1", Role: events.RoleCaseManager, Name: "CM"})
	put(t, l, "staff-pm-1", nil, &events.StaffRegistered{StaffID: "pm-1", Role: events.RoleProgrammeManager, Name: "PM"})
	for id, cat := range map[string]string{"doc-1": "doctor", "rehab-1": "rehab", "ph-1": "pharmacy", "org-1": "community"} {
		put(t, l, "partner-"+id, nil, &events.PartnerRegistered{PartnerID: id, Category: cat, Name: id})
	}
	put(t, l, "client-c1", nil,
		&events.ClientRegistered{ClientID: "c1", GivenName: "Hélène", FamilyName: "Bélanger", Identifiers: []events.Identifier{{Authority: "RAMQ", Value: "1"}}},
		&events.ClientFlagged{ClientID: "c1", Programme: "defi-sante"},
		&events.CaseManagerAssigned{ClientID: "c1", StaffID: "cm-1"},
		&events.ConsentGranted{ClientID: "c1", Category: "doctor", PartnerID: "doc-1"},
		&events.ConsentGranted{ClientID: "c1", Category: "rehab"},
		&events.ConsentGranted{ClientID: "c1", Category: "pharmacy"},
		&events.ReferralSent{ClientID: "c1", ReferralID: "r1", PartnerID: "rehab-1", Category: "rehab", Reason: "dépendance"},
	)
	put(t, l, "client-c2", nil,
		&events.ClientRegistered{ClientID: "c2", GivenName: "Gaston", FamilyName: "Côté", Identifiers: []events.Identifier{{Authority: "RAMQ", Value: "2"}}},
		&events.ClientFlagged{ClientID: "c2", Programme: "defi-sante"},
		&events.ConsentGranted{ClientID: "c2", Category: "family"},
	)
	w := &world{t: t, l: l, rec: &recorder{}, ctl: 100, window: window}
	if wrap != nil {
		w.pl = wrap(l)
	}
	w.start()
	return w
}

func (w *world) start() {
	var pl alerts.Ledger = w.l
	if w.pl != nil {
		pl = w.pl
	}
	w.p = alerts.New(pl, alerts.Config{Notifier: w.rec})
	w.r = &projections.Runner{Name: "alerts", L: w.l, P: w.p, Backoff: time.Millisecond, Window: w.window}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.r.Run(ctx, 1); close(done) }() //nolint:errcheck
	w.t.Cleanup(func() { cancel(); <-done })
	<-w.r.Ready()
}

// service is the alert command side over the same ledger as the
// projection, with its clock stopped at now.
func (w *world) service(now time.Time) *alerting.Service {
	var l ledger.Appender = w.l
	if w.pl != nil {
		l = w.pl
	}
	return alerting.New(l, w.p, alerting.Config{Facilities: []string{"HSTA"}, Now: func() time.Time { return now }})
}

// sweep runs one round of the periodic sweep at now.
func (w *world) sweep(now time.Time) error {
	return w.service(now).Sweep(context.Background())
}

// hl7 appends a hospital event as ED intake would, with the next control id.
func (w *world) hl7(p events.Payload, skip ...int) {
	w.t.Helper()
	w.ctl++
	if len(skip) > 0 {
		w.ctl += skip[0]
	}
	var v events.Visit
	switch x := p.(type) {
	case *events.EDVisitStarted:
		v = x.Visit
	case *events.EDVisitUpdated:
		v = x.Visit
	case *events.HospitalAdmitted:
		v = x.Visit
	case *events.HospitalDischarged:
		v = x.Visit
	case *events.EDVisitCancelled:
		v = x.Visit
	}
	put(w.t, w.l, events.VisitStream(v.Facility, v.VisitNumber),
		[]events.Option{events.WithSource("HSTA", strings.TrimLeft(strings.Repeat("0", 0)+itoa(w.ctl), "")), events.WithOccurredAt(time.Now())}, p)
}

func itoa(n int) string {
	b := []byte{}
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// queue waits until recipient's queue satisfies ok.
func (w *world) queue(recipient string, ok func([]alerts.Alert) bool) []alerts.Alert {
	w.t.Helper()
	var q []alerts.Alert
	poll.CheckFor(w.t, 10*time.Second, 10*time.Millisecond, func() error {
		if q = w.p.Queue(recipient); !ok(q) {
			return fmt.Errorf("queue of %s never satisfied the condition; it holds %+v", recipient, q)
		}
		return nil
	})
	return q
}

func count(n int) func([]alerts.Alert) bool {
	return func(q []alerts.Alert) bool { return len(q) == n }
}

func kind(k string, n int) func([]alerts.Alert) bool {
	return func(q []alerts.Alert) bool { return len(ofKind(q, k)) == n }
}

func ofKind(q []alerts.Alert, k string) []alerts.Alert {
	var out []alerts.Alert
	for _, a := range q {
		if a.Kind == k {
			out = append(out, a)
		}
	}
	return out
}

func visit(client, n string) events.Visit {
	return events.Visit{ClientID: client, PatientKey: "pk" + client, Facility: "HSTA", VisitNumber: n}
}

func TestEDArrivalPagesTheCaseManagerAndTellsOnlyConsentedPartners(t *testing.T) {
	w := newWorld(t)
	now := time.Now()
	w.hl7(&events.EDVisitStarted{Visit: visit("c1", "V1"), ArrivedAt: now, Reason: "Crise d'anxiété"})
	cm := w.queue("cm-1", count(1))[0]
	if cm.Priority != events.PriorityHigh || cm.Kind != "ed.arrival" || !strings.Contains(cm.Summary, "Crise d'anxiété") {
		t.Fatalf("case manager alert: %+v", cm)
	}
	if !strings.Contains(cm.Summary, "Ne pas contacter la famille") {
		t.Fatalf("no family consent, yet the alert does not say so: %s", cm.Summary)
	}
	doc := w.queue("doc-1", count(1))[0]
	if doc.Priority != events.PriorityFYI || strings.Contains(doc.Summary, "anxiété") {
		t.Fatalf("the doctor gets an FYI without the reason: %+v", doc)
	}
	rehab := ofKind(w.queue("rehab-1", kind("ed.arrival", 1)), "ed.arrival")[0]
	if strings.Contains(rehab.Summary, "anxiété") || strings.Contains(rehab.Summary, "HSTA") {
		t.Fatalf("the rehab centre learns only that the client is at the ED: %s", rehab.Summary)
	}
	if q := w.p.Queue("ph-1"); len(q) != 0 {
		t.Fatalf("the pharmacy must not be told of an ED visit: %+v", q)
	}

	// A client without case manager goes to the programme's on-call queue.
	w.hl7(&events.EDVisitStarted{Visit: visit("c2", "V2"), ArrivedAt: now})
	oc := w.queue("oncall-defi-sante", count(1))[0]
	if !strings.Contains(oc.Summary, "Famille : consentement donné") {
		t.Fatalf("family consent not mentioned: %s", oc.Summary)
	}
	// A stranger's visit pages nobody.
	w.hl7(&events.EDVisitStarted{Visit: events.Visit{PatientKey: "pkX", Facility: "HSTA", VisitNumber: "V3"}, ArrivedAt: now})
	if w.r.WaitFor(context.Background(), 0); len(w.p.Queue("cm-1")) != 1 {
		t.Fatal("stranger paged the case manager")
	}
}

func TestOneThreadPerVisitWithAmendmentsAndRetraction(t *testing.T) {
	w := newWorld(t)
	now := time.Now()
	w.hl7(&events.EDVisitStarted{Visit: visit("c1", "V1"), ArrivedAt: now, Reason: "Dyspnée"})
	w.queue("cm-1", count(1))
	w.hl7(&events.EDVisitUpdated{Visit: visit("c1", "V1"), Reason: "Douleur thoracique"})
	w.hl7(&events.HospitalAdmitted{Visit: visit("c1", "V1"), AdmittedAt: now})
	w.hl7(&events.HospitalDischarged{Visit: visit("c1", "V1"), DischargedAt: now})
	q := w.queue("cm-1", func(q []alerts.Alert) bool {
		return len(q) == 2 && q[1].Status == "discharged"
	})
	if q[0].Amends != q[1].ID || !strings.Contains(q[0].Summary, "Douleur thoracique") {
		t.Fatalf("the correction must amend the original alert: %+v", q)
	}
	w.queue("doc-1", count(2)) // amended too, but still one page each

	// An A11 after an admission cancels the admission only: no retraction.
	w.hl7(&events.EDVisitStarted{Visit: visit("c1", "V7"), ArrivedAt: now})
	w.hl7(&events.HospitalAdmitted{Visit: visit("c1", "V7"), AdmittedAt: now})
	w.hl7(&events.EDVisitCancelled{Visit: visit("c1", "V7"), Trigger: "A11"})
	q7 := w.queue("cm-1", func(q []alerts.Alert) bool { return len(q) == 3 && q[0].Status == "admission cancelled" })
	if q7[0].Withdrawn {
		t.Fatal("cancelling an admission retracted the ED arrival")
	}

	// A cancel retracts what everyone received.
	w.hl7(&events.EDVisitStarted{Visit: visit("c1", "V9"), ArrivedAt: now})
	w.queue("cm-1", count(4))
	w.hl7(&events.EDVisitCancelled{Visit: visit("c1", "V9"), Trigger: "A11"})
	for _, r := range []string{"cm-1", "doc-1", "rehab-1"} {
		w.queue(r, func(q []alerts.Alert) bool {
			arr := ofKind(q, "ed.arrival")
			return len(arr) == 3 && arr[0].Withdrawn && !arr[1].Withdrawn && !arr[2].Withdrawn
		})
	}
}

func TestConsentRevocationWithdrawsPendingPartnerAlerts(t *testing.T) {
	w := newWorld(t)
	w.hl7(&events.EDVisitStarted{Visit: visit("c1", "V1"), ArrivedAt: time.Now()})
	w.queue("rehab-1", kind("ed.arrival", 1))
	put(t, w.l, "client-c1", nil, &events.ConsentRevoked{ClientID: "c1", Category: "rehab"})
	w.queue("rehab-1", func(q []alerts.Alert) bool { return len(q) == 2 && q[0].Withdrawn && q[1].Withdrawn })
	if q := w.p.Queue("cm-1"); q[0].Withdrawn {
		t.Fatal("the case manager's alert was withdrawn too")
	}
	// No new alert for the rehab centre after revocation.
	w.hl7(&events.EDVisitStarted{Visit: visit("c1", "V2"), ArrivedAt: time.Now()})
	w.queue("cm-1", count(2))
	if q := w.p.Queue("rehab-1"); len(q) != 2 {
		t.Fatalf("rehab centre still alerted after revocation: %+v", q)
	}
}

func TestEscalationAcknowledgementAndReplayWithoutDuplicates(t *testing.T) {
	w := newWorld(t)
	w.hl7(&events.EDVisitStarted{Visit: visit("c1", "V1"), ArrivedAt: time.Now()})
	w.hl7(&events.EDVisitStarted{Visit: visit("c2", "V2"), ArrivedAt: time.Now()})
	a := w.queue("cm-1", count(1))[0]
	w.queue("oncall-defi-sante", count(1))

	ack := w.service(time.Now()).Acknowledge
	_, err := ack(context.Background(), events.Actor{ID: "doc-1", Role: "doctor"}, a.ID)
	if !errors.Is(err, alerting.ErrForbidden) {
		t.Fatalf("a doctor acknowledged the case manager's alert: %v", err)
	}
	if _, err := ack(context.Background(), events.Actor{ID: "cm-1", Role: "case_manager"}, "nope"); !errors.Is(err, alerting.ErrNotFound) {
		t.Fatalf("unknown alert: %v", err)
	}
	// Nobody acknowledges: sixteen minutes later both are escalated.
	if err := w.sweep(time.Now().Add(16 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	pm := w.queue("pm-1", count(1))
	if pm[0].ID != a.ID || pm[0].EscalatedTo != "pm-1" {
		t.Fatalf("escalation to the programme manager: %+v", pm)
	}
	w.queue("oncall-escalation", count(1)) // the on-call alert goes one step up
	for range 2 {
		if _, err := ack(context.Background(), events.Actor{ID: "cm-1", Role: "case_manager"}, a.ID); err != nil {
			t.Fatal(err)
		}
	}
	w.queue("cm-1", func(q []alerts.Alert) bool { return q[0].Acknowledged })
	if err := w.sweep(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	raised := countType(t, w.l, events.TypeAlertRaised)
	acks := countType(t, w.l, events.TypeAlertAcknowledged)
	esc := countType(t, w.l, events.TypeAlertEscalated)
	if acks != 1 || esc != 2 {
		t.Fatalf("acknowledgements %d (want 1), escalations %d (want 2)", acks, esc)
	}
	// A second instance (or a restart) replays everything: nothing doubles.
	w.start()
	w.queue("cm-1", func(q []alerts.Alert) bool { return len(q) == 1 && q[0].Acknowledged })
	if got := countType(t, w.l, events.TypeAlertRaised); got != raised {
		t.Fatalf("replay raised %d alerts, before %d", got, raised)
	}
}

func TestFeedGapAlertsTheProgrammeManager(t *testing.T) {
	w := newWorld(t)
	w.hl7(&events.EDVisitStarted{Visit: visit("", "V1"), ArrivedAt: time.Now()})
	w.hl7(&events.EDVisitStarted{Visit: visit("", "V2"), ArrivedAt: time.Now()}, 3) // three control ids skipped
	q := w.queue("pm-1", count(1))
	if q[0].Kind != "feed.gap" || !strings.Contains(q[0].Summary, "102 à/to 104") {
		t.Fatalf("gap alert: %+v", q[0])
	}
	// Silence: nothing for three hours in the middle of the afternoon.
	loc, _ := time.LoadLocation("America/Toronto")
	afternoon := time.Date(time.Now().Year()+1, 1, 5, 15, 0, 0, 0, loc)
	if err := w.sweep(afternoon); err != nil {
		t.Fatal(err)
	}
	w.queue("pm-1", func(q []alerts.Alert) bool { return len(q) == 2 && q[0].Kind == "feed.silent" })
	// At night, silence is expected: a later marker shows nothing came first.
	night := time.Date(time.Now().Year()+1, 1, 6, 3, 0, 0, 0, loc)
	if err := w.sweep(night); err != nil {
		t.Fatal(err)
	}
	w.settle()
	if len(w.p.Queue("pm-1")) != 2 {
		t.Fatal("silence at night raised an alert")
	}
}

func countType(t *testing.T, l ledger.Ledger, typ string) int {
	t.Helper()
	n := 0
	err := l.Subscribe(context.Background(), 1, func(_ context.Context, e events.Event) error {
		if e.Type == typ {
			n++
		}
		return nil
	}, ledger.StopAtHead())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// An A40 merge moves a visit's thread to the surviving client: a later
// correction of that visit names the surviving client.
func TestMergeMovesTheThreadToTheSurvivingClient(t *testing.T) {
	w := newWorld(t)
	w.hl7(&events.EDVisitStarted{Visit: visit("c2", "V3"), ArrivedAt: time.Now(), Reason: "Chute"})
	q := w.queue("oncall-defi-sante", count(1))
	if q[0].ClientID != "c2" {
		t.Fatalf("arrival alert for %q, want c2", q[0].ClientID)
	}
	w.ctl++
	put(t, w.l, "patient-merge-1", []events.Option{events.WithSource("HSTA", itoa(w.ctl)), events.WithOccurredAt(time.Now())},
		&events.PatientMerged{Facility: "HSTA", SurvivingKey: "pkc1", MergedKey: "pkc2", SurvivingClient: "c1", MergedClient: "c2"})
	w.hl7(&events.EDVisitUpdated{Visit: visit("c1", "V3"), Reason: "Fracture de la hanche"})
	q = w.queue("oncall-defi-sante", count(2))
	amended := q[0]
	if amended.Kind != "ed.arrival.amended" || amended.Amends != q[1].ID || amended.ClientID != "c1" || !strings.Contains(amended.Summary, "c1") {
		t.Fatalf("after the merge the correction should amend the arrival for c1: %+v", amended)
	}
}
