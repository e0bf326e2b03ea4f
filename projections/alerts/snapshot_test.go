package alerts

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/projections"
)

// snapLedger records the ids of the derived facts a projection appends.
type snapLedger struct {
	Ledger
	mu  sync.Mutex
	ids map[string]bool
}

func (l *snapLedger) Append(ctx context.Context, stream string, expected int64, evs ...events.Event) (ledger.Result, error) {
	l.mu.Lock()
	for _, e := range evs {
		l.ids[e.ID] = true
	}
	l.mu.Unlock()
	return l.Ledger.Append(ctx, stream, expected, evs...)
}

func (l *snapLedger) appended() map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return cloneSet(l.ids)
}

func cloneSet(m map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

type snapNotes struct {
	mu sync.Mutex
	us []Update
}

func (n *snapNotes) Notify(_ context.Context, u Update) {
	n.mu.Lock()
	n.us = append(n.us, u)
	n.mu.Unlock()
}

func (n *snapNotes) after(pos uint64) []Update {
	return n.where(func(u Update) bool { return u.Position > pos })
}

// upTo is the notifications up to pos, in (position, recipient, seq)
// order (the order within one position does not matter to delivery).
func (n *snapNotes) upTo(pos uint64) []Update {
	out := n.where(func(u Update) bool { return u.Position <= pos })
	slices.SortStableFunc(out, func(a, b Update) int {
		if a.Position != b.Position {
			return cmp.Compare(a.Position, b.Position)
		}
		if a.Recipient != b.Recipient {
			return strings.Compare(a.Recipient, b.Recipient)
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	return out
}

func (n *snapNotes) where(ok func(Update) bool) []Update {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []Update
	for _, u := range n.us {
		if ok(u) {
			out = append(out, u)
		}
	}
	return out
}

// snapWorld is one ledger and the projections run over it.
type snapWorld struct {
	t   *testing.T
	l   *jetstream.Store
	ctl int
}

var snapAdmin = events.Actor{ID: "admin", Role: events.RoleAdmin}

func (w *snapWorld) put(stream string, opts []events.Option, ps ...events.Payload) {
	w.t.Helper()
	for _, p := range ps {
		e, err := events.New(p, snapAdmin, opts...)
		if err != nil {
			w.t.Fatal(err)
		}
		if _, err := w.l.Append(context.Background(), stream, ledger.Any, e); err != nil {
			w.t.Fatal(err)
		}
	}
}

// hl7 appends a hospital event with the next control id of HSTA, skip
// control ids first (a gap in the feed).
func (w *snapWorld) hl7(v events.Visit, p events.Payload, skip int) {
	w.t.Helper()
	w.ctl += 1 + skip
	w.put(events.VisitStream(v.Facility, v.VisitNumber),
		[]events.Option{events.WithSource("HSTA", strconv.Itoa(w.ctl)), events.WithOccurredAt(time.Now())}, p)
}

// run starts a projection's runner from position from and returns it
// with a stop.
func (w *snapWorld) run(p *Projection, from uint64) (*projections.Runner, func()) {
	r := &projections.Runner{Name: "alerts", L: w.l, P: p, Backoff: time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx, from); close(done) }() //nolint:errcheck
	stop := func() { cancel(); <-done }
	w.t.Cleanup(stop)
	return r, stop
}

// settle waits until r has applied the ledger's head and no derived fact
// moved it further (facts are appended before their cause is folded).
func (w *snapWorld) settle(r *projections.Runner) uint64 {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		h, err := w.l.Head(ctx)
		if err != nil {
			w.t.Fatal(err)
		}
		if err := r.WaitFor(ctx, h); err != nil {
			w.t.Fatal(err)
		}
		if h2, err := w.l.Head(ctx); err != nil || h2 == h {
			return h
		}
	}
}

func visitOf(client, n string) events.Visit {
	return events.Visit{ClientID: client, PatientKey: "pk-" + client, Facility: "HSTA", VisitNumber: n}
}

// history is the ledger before the snapshot: every kind of state the
// fold keeps is set at least once.
func (w *snapWorld) history() {
	w.put("staff-cm-1", nil, &events.StaffRegistered{StaffID: "cm-1", Role: events.RoleCaseManager, Name: "CM"})
	w.put("staff-pm-1", nil, &events.StaffRegistered{StaffID: "pm-1", Role: events.RoleProgrammeManager, Name: "PM"})
	w.put("partner-doc-1", nil, &events.PartnerRegistered{PartnerID: "doc-1", Category: "doctor", Name: "Dre", WebhookURL: "https://doc.example/hook"})
	w.put("partner-rehab-1", nil, &events.PartnerRegistered{PartnerID: "rehab-1", Category: "rehab", Name: "Rehab", WebhookURL: "https://rehab.example/hook"})
	w.put("partner-ph-1", nil, &events.PartnerRegistered{PartnerID: "ph-1", Category: "pharmacy", Name: "Pharmacie"})
	w.put("client-c1", nil,
		&events.ClientRegistered{ClientID: "c1", GivenName: "Hélène", FamilyName: "Bélanger", Identifiers: []events.Identifier{{Authority: "RAMQ", Value: "1"}}},
		&events.ClientFlagged{ClientID: "c1", Programme: "defi-sante"},
		&events.ClientEnrolled{ClientID: "c1", Programme: "defi-sante", EnrolledAt: time.Now(), Consents: []string{"family"}},
		&events.CaseManagerAssigned{ClientID: "c1", StaffID: "cm-1"},
		&events.PivotWorkerAssigned{ClientID: "c1", StaffID: "pv-1"},
		&events.ConsentGranted{ClientID: "c1", Category: "doctor", PartnerID: "doc-1"},
		&events.ConsentGranted{ClientID: "c1", Category: "rehab"},
		&events.ReferralSent{ClientID: "c1", ReferralID: "r1", PartnerID: "rehab-1", Category: "rehab", Reason: "dépendance"},
		&events.ReferralAccepted{ReferralAnswer: events.ReferralAnswer{ClientID: "c1", ReferralID: "r1", PartnerID: "rehab-1"}},
		&events.ObjectiveAdded{ClientID: "c1", PlanID: "p1", ObjectiveID: "o1", Description: "marcher", ResponsiblePartner: "rehab-1"},
	)
	w.put("client-c2", nil,
		&events.ClientRegistered{ClientID: "c2", GivenName: "Gaston", FamilyName: "Côté", Identifiers: []events.Identifier{{Authority: "RAMQ", Value: "2"}}},
		&events.ClientFlagged{ClientID: "c2", Programme: "defi-sante"},
		&events.ConsentGranted{ClientID: "c2", Category: "family"},
	)
	w.put("client-c3", nil,
		&events.ClientRegistered{ClientID: "c3", GivenName: "Rose", FamilyName: "Roy", Identifiers: []events.Identifier{{Authority: "RAMQ", Value: "3"}}},
		&events.ClientFlagged{ClientID: "c3", Programme: "defi-sante"},
		&events.CaseClosed{ClientID: "c3", Reason: "moved"},
	)
	now := time.Now()
	w.hl7(visitOf("c1", "V1"), &events.EDVisitStarted{Visit: visitOf("c1", "V1"), ArrivedAt: now, Reason: "Dyspnée"}, 0)
	w.hl7(visitOf("c2", "V2"), &events.EDVisitStarted{Visit: visitOf("c2", "V2"), ArrivedAt: now}, 0)
	w.hl7(visitOf("c2", "V2"), &events.HospitalAdmitted{Visit: visitOf("c2", "V2"), AdmittedAt: now}, 0)
	w.put("patient-merge", []events.Option{events.WithSource("HSTA", "merge-1")},
		&events.PatientMerged{Facility: "HSTA", SurvivingKey: "pk-c2b", MergedKey: "pk-c2", SurvivingClient: "c2"})
}

// future is the ledger after the snapshot: each event needs a piece of
// the restored state to be handled as a full replay handles it.
func (w *snapWorld) future() {
	now := time.Now()
	// The same A04 under a new control id: the thread already paged.
	w.hl7(visitOf("c1", "V1"), &events.EDVisitStarted{Visit: visitOf("c1", "V1"), ArrivedAt: now, Reason: "Dyspnée"}, 0)
	// A corrected reason: every recipient of the thread gets an amendment.
	w.hl7(visitOf("c1", "V1"), &events.EDVisitUpdated{Visit: visitOf("c1", "V1"), Reason: "Douleur thoracique"}, 0)
	// Three control ids missing: the programme manager hears of the gap.
	w.hl7(visitOf("c1", "V1"), &events.HospitalAdmitted{Visit: visitOf("c1", "V1"), AdmittedAt: now}, 3)
	w.put("client-c1", nil,
		&events.ObjectiveMet{ClientID: "c1", ObjectiveID: "o1"},
		&events.ConsentRevoked{ClientID: "c1", Category: "rehab"},
	)
	w.hl7(visitOf("c3", "V3"), &events.EDVisitStarted{Visit: visitOf("c3", "V3"), ArrivedAt: now}, 0)
	w.hl7(visitOf("c2", "V4"), &events.EDVisitStarted{Visit: visitOf("c2", "V4"), ArrivedAt: now}, 0)
	w.put("patient-merge", []events.Option{events.WithSource("HSTA", "merge-2")},
		&events.PatientMerged{Facility: "HSTA", SurvivingKey: "pk-c2c", MergedKey: "pk-c2b", SurvivingClient: "c2"})
	w.hl7(visitOf("c2", "V2"), &events.HospitalDischarged{Visit: events.Visit{PatientKey: "pk-c2c", Facility: "HSTA", VisitNumber: "V2"}, DischargedAt: now}, 0)
}

// parts is the projection's whole state, by name, for comparison.
func parts(p *Projection) map[string]any {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return map[string]any{
		"clients": p.st.clients, "partners": p.st.partners, "webhooks": p.st.webhooks, "roles": p.st.roles,
		"threads": p.st.threads, "byKey": p.st.byKey, "feeds": p.st.feeds,
		"alerts": p.alerts, "byRecipient": p.byRecipient, "updates": p.updates, "lastPos": p.lastPos,
	}
}

// sameState fails naming each part (and the first entry of it) where got
// differs from want.
func sameState(t *testing.T, what string, got, want *Projection) {
	t.Helper()
	g, wt := parts(got), parts(want)
	names := make([]string, 0, len(g))
	for n := range g {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if reflect.DeepEqual(g[n], wt[n]) {
			continue
		}
		t.Errorf("%s: %s differs: %s", what, n, firstDiff(reflect.ValueOf(g[n]), reflect.ValueOf(wt[n])))
	}
}

func firstDiff(g, w reflect.Value) string {
	if g.Kind() != reflect.Map {
		return fmt.Sprintf("got %+v, want %+v", g.Interface(), w.Interface())
	}
	keys := w.MapKeys()
	for _, k := range g.MapKeys() {
		if !w.MapIndex(k).IsValid() {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
	for _, k := range keys {
		gv, wv := g.MapIndex(k), w.MapIndex(k)
		if gv.IsValid() && wv.IsValid() && reflect.DeepEqual(gv.Interface(), wv.Interface()) {
			continue
		}
		return fmt.Sprintf("[%s] got %s, want %s", k, show(gv), show(wv))
	}
	return "?"
}

func show(v reflect.Value) string {
	if !v.IsValid() {
		return "(missing)"
	}
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	return fmt.Sprintf("%+v", v.Interface())
}

// TestRestartFromSnapshotRaisesWhatAFullReplayRaises restores a projection
// from a snapshot, lets it handle events that depend on every part of the
// state (a duplicate arrival, a corrected reason, a feed gap, an
// objective met, a consent revoked, a closed case, a merge), and checks it
// derives, notifies and ends up holding exactly what a projection
// replaying the whole ledger from position 1 does.
func TestRestartFromSnapshotRaisesWhatAFullReplayRaises(t *testing.T) {
	w := &snapWorld{t: t, l: jstest.Ledger(t), ctl: 100}
	w.history()

	// Before the restart: a projection from position 1, whose alerts are
	// then acknowledged and escalated.
	first := New(w.l, Config{})
	r, stop := w.run(first, 1)
	w.settle(r)
	var cmAlert, oncallAlert string
	for _, a := range first.Queue("cm-1") {
		if a.Kind == "ed.arrival" {
			cmAlert = a.ID
		}
	}
	for _, a := range first.Queue("oncall-defi-sante") {
		if a.Kind == "ed.arrival" {
			oncallAlert = a.ID
		}
	}
	if cmAlert == "" || oncallAlert == "" || len(first.Queue("doc-1")) != 1 || len(first.Queue("rehab-1")) != 2 {
		t.Fatalf("the history raised cm-1 %q, oncall %q, doc-1 %d, rehab-1 %d alerts", cmAlert, oncallAlert,
			len(first.Queue("doc-1")), len(first.Queue("rehab-1")))
	}
	w.put(events.AlertStream(cmAlert), nil, &events.AlertAcknowledged{AlertID: cmAlert, ActorID: "cm-1"})
	w.put(events.AlertStream(oncallAlert), nil, &events.AlertEscalated{AlertID: oncallAlert, EscalatedTo: "pm-1", Reason: "overdue"})
	at := w.settle(r)
	stop()
	snap, err := first.Snapshot()
	if err != nil {
		t.Fatal(err)
	}

	// The restart: a new projection restored from the snapshot holds the
	// same state, and goes on from the position after it.
	restoredL := &snapLedger{Ledger: w.l, ids: map[string]bool{}}
	restoredN := &snapNotes{}
	restored := New(restoredL, Config{Notifier: restoredN})
	if err := restored.Restore(snap); err != nil {
		t.Fatal(err)
	}
	sameState(t, "restored from the snapshot, before any new event", restored, first)
	// Delivery hears again of the changes up to the snapshot, as from a
	// replay from position 1, so it can publish those it had not yet.
	if got := restoredN.upTo(at); len(got) == 0 {
		t.Error("the restore told delivery of no change")
	}
	w.future()
	r2, stop2 := w.run(restored, at+1)
	restartedHead := w.settle(r2)
	stop2()

	// The same ledger replayed from position 1.
	fullN := &snapNotes{}
	full := New(w.l, Config{Notifier: fullN})
	r3, _ := w.run(full, 1)
	head := w.settle(r3)
	if head != restartedHead {
		t.Errorf("the full replay appended facts the restored projection had not derived: head %d, was %d", head, restartedHead)
	}

	sameState(t, "restored + new events vs full replay", restored, full)
	if len(restoredL.appended()) == 0 {
		t.Fatal("the restored projection derived nothing from the events after the snapshot")
	}
	if got, want := restoredN.upTo(at), fullN.upTo(at); !reflect.DeepEqual(got, want) {
		t.Errorf("changes up to the snapshot told at the restore differ from a full replay's:\n restored %d: %+v\n full     %d: %+v", len(got), got, len(want), want)
	}
	gotN, wantN := restoredN.after(at), fullN.after(at)
	if !reflect.DeepEqual(gotN, wantN) {
		t.Errorf("notifications after the snapshot differ:\n restored %d: %+v\n full     %d: %+v", len(gotN), gotN, len(wantN), wantN)
	}

	// What the events after the restart should have done, said plainly.
	kinds := func(recipient string) []string {
		var ks []string
		for _, a := range restored.Queue(recipient) {
			k := a.Kind
			if a.Withdrawn {
				k += " (withdrawn)"
			}
			if a.Acknowledged {
				k += " (acknowledged)"
			}
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	for _, c := range []struct {
		recipient string
		want      []string
	}{
		{"cm-1", []string{"ed.arrival (acknowledged)", "ed.arrival.amended", "referral.answered"}},
		{"doc-1", []string{"ed.arrival", "ed.arrival.amended", "objective.met"}},
		{"rehab-1", []string{"ed.arrival (withdrawn)", "ed.arrival.amended (withdrawn)", "objective.met (withdrawn)", "referral.received (withdrawn)"}},
		{"pm-1", []string{"ed.arrival", "feed.gap"}}, // the escalated oncall alert, and the gap
		{"oncall-defi-sante", []string{"ed.arrival", "ed.arrival"}},
	} {
		if got := kinds(c.recipient); !reflect.DeepEqual(got, c.want) {
			t.Errorf("after the restart %s holds %q, want %q", c.recipient, got, c.want)
		}
	}
	if got, want := restored.Overdue(time.Now()), full.Overdue(time.Now()); !reflect.DeepEqual(got, want) || len(got) != 2 {
		t.Errorf("escalation candidates after the restart %q, full replay %q (want the pending, unescalated arrival of V4 and the feed gap)", got, want)
	}
	for _, u := range restoredN.after(at) {
		if want := map[string]string{"doc-1": "https://doc.example/hook", "rehab-1": "https://rehab.example/hook"}[u.Recipient]; u.Webhook != want {
			t.Errorf("update %d for %s names webhook %q, want %q", u.Seq, u.Recipient, u.Webhook, want)
		}
	}
	// Updates kept for SSE resumption came through the snapshot with their
	// webhook URL (the fan-out resends from them).
	for _, u := range restored.Since("doc-1", 0) {
		if u.Webhook != "https://doc.example/hook" {
			t.Errorf("doc-1's change log at %d lost its webhook URL: %q", u.Seq, u.Webhook)
		}
	}
}

// TestSnapshotHoldsEveryField fails when a field is added to the fold's
// state without a place in the snapshot (a restart would lose it).
func TestSnapshotHoldsEveryField(t *testing.T) {
	notState := map[string]bool{"l": true, "cfg": true, "mu": true, "st": true, "lastPos": true}
	for _, c := range []struct {
		internal, snap any
		skip           map[string]bool
	}{
		{Projection{}, snapState{}, notState},
		{state{}, snapState{}, nil},
		{client{}, snapClient{}, nil},
		{referral{}, snapReferral{}, nil},
		{thread{}, snapThread{}, nil},
		{feed{}, snapFeed{}, nil},
	} {
		it, st := reflect.TypeOf(c.internal), reflect.TypeOf(c.snap)
		for i := range it.NumField() {
			f := it.Field(i)
			if c.skip[f.Name] {
				continue
			}
			if _, ok := st.FieldByNameFunc(func(n string) bool { return strings.EqualFold(n, f.Name) }); !ok {
				t.Errorf("%s.%s has no field in %s: a restart from a snapshot would lose it", it.Name(), f.Name, st.Name())
			}
		}
	}
	if _, ok := reflect.TypeOf(snapUpd{}).FieldByName("Webhook"); !ok {
		t.Error("the change log's webhook URL is not in the snapshot")
	}
}

// TestRestoreRefusesAnotherLayout: a snapshot of another version is
// refused and the state stays as it was.
func TestRestoreRefusesAnotherLayout(t *testing.T) {
	for _, c := range []struct {
		name, snap, want string
	}{
		{"no version", `{"position":5}`, "snapshot version 0, want 1"},
		{"newer", `{"version":2,"position":5}`, "snapshot version 2, want 1"},
		{"not json", `{`, "alerts: restore"},
		{"queue names a missing alert", `{"version":1,"position":5,"by_recipient":{"cm-1":["a1"]}}`, `alert "a1" the snapshot does not hold`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := New(nil, Config{})
			p.lastPos = 3
			err := p.Restore([]byte(c.snap))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Restore(%s) = %v, want an error with %q", c.snap, err, c.want)
			}
			if p.lastPos != 3 {
				t.Fatalf("a refused snapshot moved the position to %d", p.lastPos)
			}
		})
	}
}
