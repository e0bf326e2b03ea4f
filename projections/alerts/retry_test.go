package alerts_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream"
	"github.com/relais-health/relais/internal/poll"
	"github.com/relais-health/relais/projections/alerts"
)

// flaky is the ledger with exactly one failing append: the first one that
// matches once armed fails with ledger.ErrUnavailable, as a ledger briefly
// out of reach would.
type flaky struct {
	*jetstream.Store
	mu     sync.Mutex
	match  func(stream string, evs []events.Event) bool
	failed int
}

func (f *flaky) Append(ctx context.Context, stream string, expected int64, evs ...events.Event) (ledger.Result, error) {
	f.mu.Lock()
	if f.match != nil && f.match(stream, evs) {
		f.match = nil
		f.failed++
		f.mu.Unlock()
		return ledger.Result{}, fmt.Errorf("append %s: %w", stream, ledger.ErrUnavailable)
	}
	f.mu.Unlock()
	return f.Store.Append(ctx, stream, expected, evs...)
}

// arm makes the next append of an alert fact of type typ (and, for
// alert.raised, of kind kind) fail once.
func (f *flaky) arm(typ, kind string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.match = func(stream string, evs []events.Event) bool {
		return strings.HasPrefix(stream, "alert-") && len(evs) > 0 && evs[0].Type == typ && (kind == "" || kindOf(evs[0]) == kind)
	}
}

func (f *flaky) failures() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

func kindOf(e events.Event) string {
	if p, err := e.Payload(); err == nil {
		if r, ok := p.(*events.AlertRaised); ok {
			return r.Kind
		}
	}
	return ""
}

// alertFacts counts the events of the alert streams by type (and kind for
// alert.raised), and fails when an event id stands twice.
func alertFacts(t *testing.T, l ledger.Ledger) map[string]int {
	t.Helper()
	out := map[string]int{}
	seen := map[string]bool{}
	err := l.Subscribe(context.Background(), 1, func(_ context.Context, e events.Event) error {
		if !strings.HasPrefix(e.Stream, "alert-") {
			return nil
		}
		if seen[e.ID] {
			t.Errorf("event %s (%s) stands twice in the ledger", e.ID, e.Type)
		}
		seen[e.ID] = true
		k := e.Type
		if kd := kindOf(e); kd != "" {
			k += " " + kd
		}
		out[k]++
		return nil
	}, ledger.StopAtHead())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// settle waits until the projection has applied the ledger's head and the
// head no longer moves: every derived fact of what came before is in.
func (w *world) settle() {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		head, err := w.l.Head(ctx)
		if err != nil {
			w.t.Fatal(err)
		}
		if err := w.r.WaitFor(ctx, head); err != nil {
			w.t.Fatalf("projection never reached %d: %v", head, err)
		}
		if again, err := w.l.Head(ctx); err == nil && again == head {
			return
		}
	}
}

// noDuplicates fails when a queue holds an alert twice or a recipient was
// told of the same change twice.
func (w *world) noDuplicates(recipients ...string) {
	w.t.Helper()
	for _, r := range recipients {
		ids := map[string]bool{}
		for _, a := range w.p.Queue(r) {
			if ids[a.ID] {
				w.t.Errorf("queue %s holds alert %s twice", r, a.ID)
			}
			ids[a.ID] = true
		}
	}
	w.rec.mu.Lock()
	defer w.rec.mu.Unlock()
	told := map[string]bool{}
	for _, u := range w.rec.us {
		k := fmt.Sprintf("%s %d %s %s", u.Recipient, u.Position, u.Change, u.Alert.ID)
		if told[k] {
			w.t.Errorf("%s was told twice of %s of alert %s at %d", u.Recipient, u.Change, u.Alert.ID, u.Position)
		}
		told[k] = true
	}
}

func diff(before, after map[string]int) map[string]int {
	out := map[string]int{}
	for k, n := range after {
		if d := n - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

func show(m map[string]int) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, fmt.Sprintf("%s=%d", k, m[k]))
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

// Each kind of derived alert fact survives one failed append: the retry
// derives the same fact again, nothing is lost and nothing doubles.
func TestADerivedAlertFactSurvivesOneFailedAppend(t *testing.T) {
	loc, _ := time.LoadLocation("America/Toronto")
	afternoon := time.Date(time.Now().Year()+1, 1, 5, 15, 0, 0, 0, loc)
	everyone := []string{"cm-1", "doc-1", "rehab-1", "pm-1", "oncall-defi-sante", "oncall-escalation"}
	tests := []struct {
		name      string
		setup     func(w *world)
		typ, kind string // the append that fails once
		trigger   func(w *world)
		want      map[string]int // new alert facts in the ledger
		check     func(w *world) error
	}{
		{
			name: "an ED arrival still pages the case manager and tells the partners",
			typ:  events.TypeAlertRaised, kind: "ed.arrival",
			trigger: func(w *world) { w.hl7(&events.EDVisitStarted{Visit: visit("c1", "V1"), ArrivedAt: time.Now()}) },
			want:    map[string]int{"alert.raised ed.arrival": 3},
			check: func(w *world) error {
				for _, r := range []string{"cm-1", "doc-1", "rehab-1"} {
					if n := len(ofKind(w.p.Queue(r), "ed.arrival")); n != 1 {
						return fmt.Errorf("%s holds %d arrival alerts, want 1", r, n)
					}
				}
				return nil
			},
		},
		{
			name: "a corrected reason still amends what everyone was told",
			setup: func(w *world) {
				w.hl7(&events.EDVisitStarted{Visit: visit("c1", "V1"), ArrivedAt: time.Now(), Reason: "Dyspnée"})
			},
			typ: events.TypeAlertRaised, kind: "ed.arrival.amended",
			trigger: func(w *world) {
				w.hl7(&events.EDVisitUpdated{Visit: visit("c1", "V1"), Reason: "Douleur thoracique"})
			},
			want: map[string]int{"alert.raised ed.arrival.amended": 3},
			check: func(w *world) error {
				for _, r := range []string{"cm-1", "doc-1", "rehab-1"} {
					am := ofKind(w.p.Queue(r), "ed.arrival.amended")
					if len(am) != 1 {
						return fmt.Errorf("%s holds %d amendments, want 1", r, len(am))
					}
					if a := ofKind(w.p.Queue(r), "ed.arrival")[0]; a.Status != "updated" {
						return fmt.Errorf("%s's arrival alert has status %q, want updated", r, a.Status)
					}
				}
				return nil
			},
		},
		{
			name: "a visit cancelled by an A11 still retracts every alert",
			setup: func(w *world) {
				w.hl7(&events.EDVisitStarted{Visit: visit("c1", "V9"), ArrivedAt: time.Now()})
			},
			typ:     events.TypeAlertWithdrawn,
			trigger: func(w *world) { w.hl7(&events.EDVisitCancelled{Visit: visit("c1", "V9"), Trigger: "A11"}) },
			want:    map[string]int{"alert.withdrawn": 3},
			check: func(w *world) error {
				// Staff keep what the alert said and where the visit stands;
				// a partner keeps only that it was withdrawn, and why.
				for _, r := range []struct{ id, status, summary string }{
					{"cm-1", "cancelled", "Arrivée"}, {"doc-1", "", "Retiré / withdrawn"}, {"rehab-1", "", "Retiré / withdrawn"},
				} {
					if a := ofKind(w.p.Queue(r.id), "ed.arrival"); len(a) != 1 || !a[0].Withdrawn || a[0].Status != r.status ||
						!strings.HasPrefix(a[0].Summary, r.summary) || !strings.Contains(a[0].WithdrawReason, "A11") {
						return fmt.Errorf("%s's arrival alert not retracted as it should: %+v", r.id, a)
					}
				}
				return nil
			},
		},
		{
			name: "an alert raised after its consent was revoked is still withdrawn",
			setup: func(w *world) {
				put(w.t, w.l, "client-c1", nil, &events.ConsentRevoked{ClientID: "c1", Category: "rehab"})
			},
			typ: events.TypeAlertWithdrawn,
			trigger: func(w *world) {
				// Raised from a cause read before the revocation reached it.
				id := events.DeriveID("late-alert")
				put(w.t, w.l, events.AlertStream(id), nil, &events.AlertRaised{AlertID: id, ThreadID: "t-late", RecipientID: "rehab-1",
					Priority: events.PriorityFYI, Kind: "ed.arrival", ClientID: "c1", Summary: "late", CauseID: "cause-late", RaisedAt: time.Now()})
			},
			want: map[string]int{"alert.raised ed.arrival": 1, "alert.withdrawn": 1},
			check: func(w *world) error {
				if a := ofKind(w.p.Queue("rehab-1"), "ed.arrival"); len(a) != 1 || !a[0].Withdrawn {
					return fmt.Errorf("the late alert is not withdrawn: %+v", a)
				}
				return nil
			},
		},
		{
			name: "skipped control ids still raise a feed gap alert",
			setup: func(w *world) {
				w.hl7(&events.EDVisitStarted{Visit: visit("", "V1"), ArrivedAt: time.Now()})
			},
			typ: events.TypeAlertRaised, kind: "feed.gap",
			trigger: func(w *world) {
				w.hl7(&events.EDVisitStarted{Visit: visit("", "V2"), ArrivedAt: time.Now()}, 3)
			},
			want: map[string]int{"alert.raised feed.gap": 1},
			check: func(w *world) error {
				if n := len(ofKind(w.p.Queue("pm-1"), "feed.gap")); n != 1 {
					return fmt.Errorf("pm-1 holds %d feed gap alerts, want 1", n)
				}
				return nil
			},
		},
		{
			name: "a silent feed still raises its alert on the next sweep",
			setup: func(w *world) {
				w.hl7(&events.EDVisitStarted{Visit: visit("", "V1"), ArrivedAt: time.Now()})
			},
			typ: events.TypeAlertRaised, kind: "feed.silent",
			trigger: func(w *world) {
				if err := w.sweep(afternoon); err == nil {
					w.t.Error("the sweep whose append failed reported no error")
				}
				if err := w.sweep(afternoon); err != nil {
					w.t.Fatalf("second sweep: %v", err)
				}
			},
			want: map[string]int{"alert.raised feed.silent": 1},
			check: func(w *world) error {
				if n := len(ofKind(w.p.Queue("pm-1"), "feed.silent")); n != 1 {
					return fmt.Errorf("pm-1 holds %d feed silence alerts, want 1", n)
				}
				return nil
			},
		},
		{
			name: "an unacknowledged arrival is still escalated on the next sweep",
			setup: func(w *world) {
				w.hl7(&events.EDVisitStarted{Visit: visit("c1", "V1"), ArrivedAt: time.Now()})
			},
			typ: events.TypeAlertEscalated,
			trigger: func(w *world) {
				later := time.Now().Add(16 * time.Minute)
				if err := w.sweep(later); err == nil {
					w.t.Error("the sweep whose append failed reported no error")
				}
				if err := w.sweep(later); err != nil {
					w.t.Fatalf("second sweep: %v", err)
				}
				if err := w.sweep(later.Add(time.Minute)); err != nil {
					w.t.Fatalf("third sweep: %v", err)
				}
			},
			want: map[string]int{"alert.escalated": 1},
			check: func(w *world) error {
				if q := w.p.Queue("pm-1"); len(q) != 1 || q[0].EscalatedTo != "pm-1" || q[0].Kind != "ed.arrival" {
					return fmt.Errorf("pm-1's queue after the escalation: %+v", q)
				}
				return nil
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f *flaky
			w := newWorldWith(t, func(l *jetstream.Store) alerts.Ledger { f = &flaky{Store: l}; return f })
			if tt.setup != nil {
				tt.setup(w)
			}
			w.settle()
			before := alertFacts(t, w.l)
			f.arm(tt.typ, tt.kind)
			tt.trigger(w)
			poll.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
				if err := tt.check(w); err != nil {
					return fmt.Errorf("%w (new alert facts in the ledger: %s)", err, show(diff(before, alertFacts(t, w.l))))
				}
				return nil
			})
			w.settle()
			if got := diff(before, alertFacts(t, w.l)); show(got) != show(tt.want) {
				t.Errorf("new alert facts in the ledger: %s; want %s", show(got), show(tt.want))
			}
			if err := tt.check(w); err != nil {
				t.Error(err)
			}
			if f.failures() != 1 {
				t.Fatalf("%d appends failed, want exactly 1", f.failures())
			}
			w.noDuplicates(everyone...)
			if dl := w.r.DeadLetters(); len(dl) != 0 {
				t.Fatalf("dead letters: %+v", dl)
			}
		})
	}
}
