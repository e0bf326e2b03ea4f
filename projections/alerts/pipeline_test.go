package alerts_test

import (
	"context"
	"fmt"
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

// pipe is the ledger with the alert appends under the test's control:
// those hold picks wait for release; fail, when set, decides the outcome
// of the n-th alert append (n from 1) before it reaches the store.
type pipe struct {
	*jetstream.Store
	mu       sync.Mutex
	hold     func(e events.Event) bool
	release  chan struct{}
	inflight int
	max      int
	n        int
	fail     func(n int, e events.Event) error
}

func (p *pipe) Append(ctx context.Context, stream string, expected int64, evs ...events.Event) (ledger.Result, error) {
	if !strings.HasPrefix(stream, "alert-") {
		return p.Store.Append(ctx, stream, expected, evs...)
	}
	p.mu.Lock()
	p.n++
	n, held, fail := p.n, p.hold != nil && p.hold(evs[0]), p.fail
	p.inflight++
	p.max = max(p.max, p.inflight)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.inflight--
		p.mu.Unlock()
	}()
	if held {
		select {
		case <-p.release:
		case <-ctx.Done():
			return ledger.Result{}, ctx.Err()
		}
	}
	if fail != nil {
		if err := fail(n, evs[0]); err != nil {
			return ledger.Result{}, fmt.Errorf("append %s: %w", stream, err)
		}
	}
	return p.Store.Append(ctx, stream, expected, evs...)
}

func (p *pipe) state() (inflight, maxInflight int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inflight, p.max
}

// arrivals appends n ED arrivals of the flagged client c2 (no case
// manager: each pages oncall-defi-sante), each a new visit, and returns
// the position of the first.
func arrivals(w *world, prefix string, n int) uint64 {
	w.t.Helper()
	head, err := w.l.Head(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	for i := range n {
		w.hl7(&events.EDVisitStarted{Visit: visit("c2", fmt.Sprintf("%s%d", prefix, i)), ArrivedAt: time.Now()})
	}
	return head + 1
}

// A flood of flagged arrivals keeps a window of alert appends in flight at
// once instead of one blocking commit after another, never more than the
// window, and the runner's position stays behind every arrival whose alert
// is not acknowledged yet; once released, each alert stands once.
func TestDerivedAppendsArePipelinedWithinTheWindow(t *testing.T) {
	const window, n = 16, 40
	p := &pipe{release: make(chan struct{})}
	w := newWorldWindow(t, func(l *jetstream.Store) alerts.Ledger { p.Store = l; return p }, window)
	w.settle()
	before := alertFacts(t, w.l)
	p.mu.Lock()
	p.hold = func(events.Event) bool { return true }
	p.mu.Unlock()
	first := arrivals(w, "VP", n)
	poll.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if in, _ := p.state(); in < window {
			return fmt.Errorf("%d alert appends in flight, want the window of %d", in, window)
		}
		return nil
	})
	if pos := w.r.Position(); pos >= first {
		t.Errorf("runner position %d while the alert of the arrival at %d is not acknowledged", pos, first)
	}
	close(p.release)
	w.settle()
	if _, m := p.state(); m > window {
		t.Errorf("%d alert appends were in flight at once, more than the window of %d", m, window)
	}
	if got := diff(before, alertFacts(t, w.l)); got["alert.raised ed.arrival"] != n || len(got) != 1 {
		t.Errorf("new alert facts: %s; want alert.raised ed.arrival=%d", show(got), n)
	}
	if q := ofKind(w.p.Queue("oncall-defi-sante"), "ed.arrival"); len(q) != n {
		t.Errorf("oncall-defi-sante holds %d arrival alerts, want %d", len(q), n)
	}
	w.noDuplicates("oncall-defi-sante")
}

// Pipelined appends that fail are retried: while the ledger is
// unavailable without limit, and a poison one (failing every time) sets
// its arrival aside; nothing else is lost, nothing doubles, and the
// position moves past everything.
func TestPipelinedAppendFailuresAreRetriedWithoutLossOrDuplicate(t *testing.T) {
	const n = 30
	poison := "VQ7"
	p := &pipe{}
	w := newWorldWindow(t, func(l *jetstream.Store) alerts.Ledger { p.Store = l; return p }, 8)
	w.settle()
	before := alertFacts(t, w.l)
	poisonThread := events.DeriveID("thread", "HSTA", poison)
	p.mu.Lock()
	p.fail = func(k int, e events.Event) error {
		if pl, err := e.Payload(); err == nil {
			if r, ok := pl.(*events.AlertRaised); ok && r.ThreadID == poisonThread {
				return fmt.Errorf("%w: refused on purpose", ledger.ErrInvalidEvent)
			}
		}
		if k%3 == 0 && k < 3*n {
			return fmt.Errorf("%w: leader election", ledger.ErrUnavailable)
		}
		return nil
	}
	p.mu.Unlock()
	first := arrivals(w, "VQ", n)
	w.settle()
	got := diff(before, alertFacts(t, w.l))
	if got["alert.raised ed.arrival"] != n-1 || len(got) != 1 {
		t.Errorf("new alert facts: %s; want alert.raised ed.arrival=%d (all but the poison one)", show(got), n-1)
	}
	dl := w.r.DeadLetters()
	if len(dl) != 1 || dl[0].Attempts != 5 || !strings.Contains(dl[0].Error, "refused on purpose") || visitAt(t, w.l, dl[0].Position) != poison {
		t.Fatalf("set aside: %+v; want the arrival of visit %s after 5 attempts", dl, poison)
	}
	if pos := w.r.Position(); pos <= dl[0].Position || pos < first {
		t.Errorf("runner position %d: not past the set-aside arrival at %d", pos, dl[0].Position)
	}
	if q := ofKind(w.p.Queue("oncall-defi-sante"), "ed.arrival"); len(q) != n-1 {
		t.Errorf("oncall-defi-sante holds %d arrival alerts, want %d", len(q), n-1)
	}
	w.noDuplicates("oncall-defi-sante")
}

// visitAt is the visit number of the hospital event at pos.
func visitAt(t *testing.T, l ledger.Ledger, pos uint64) string {
	t.Helper()
	var v string
	err := l.Subscribe(context.Background(), pos, func(_ context.Context, e events.Event) error {
		if pl, err := e.Payload(); err == nil {
			if s, ok := pl.(*events.EDVisitStarted); ok {
				v = s.VisitNumber
			}
		}
		return nil
	}, ledger.Until(pos), ledger.StopAtHead())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A visit the hospital cancels while its alerts are still being appended
// (pipelined) retracts them all the same: an alert that reaches the ledger
// after the cancellation is withdrawn as it is read back.
func TestACancelBeforeAPipelinedAlertLandsStillRetractsIt(t *testing.T) {
	p := &pipe{release: make(chan struct{})}
	w := newWorldWindow(t, func(l *jetstream.Store) alerts.Ledger { p.Store = l; return p }, 0)
	w.settle()
	p.mu.Lock()
	p.hold = func(e events.Event) bool {
		pl, err := e.Payload()
		r, ok := pl.(*events.AlertRaised)
		return err == nil && ok && r.RecipientID == "rehab-1" && r.Kind == "ed.arrival"
	}
	p.mu.Unlock()
	w.hl7(&events.EDVisitStarted{Visit: visit("c1", "V9"), ArrivedAt: time.Now()})
	w.queue("cm-1", kind("ed.arrival", 1))
	w.hl7(&events.EDVisitCancelled{Visit: visit("c1", "V9"), Trigger: "A11"})
	w.queue("cm-1", func(q []alerts.Alert) bool { return len(q) == 1 && q[0].Withdrawn })
	close(p.release)
	w.settle()
	for _, r := range []string{"cm-1", "doc-1", "rehab-1"} {
		if q := ofKind(w.p.Queue(r), "ed.arrival"); len(q) != 1 || !q[0].Withdrawn || !strings.Contains(q[0].WithdrawReason, "A11") {
			t.Errorf("%s's alert of the cancelled visit: %+v; want it withdrawn (A11)", r, q)
		}
	}
	w.noDuplicates("cm-1", "doc-1", "rehab-1")
}

// A visit whose reason the hospital corrects while one of its alerts is
// still being appended (pipelined) amends that alert too once it lands:
// every recipient is told of the correction once, late or not.
func TestACorrectionBeforeAPipelinedAlertLandsStillAmendsIt(t *testing.T) {
	p := &pipe{release: make(chan struct{})}
	w := newWorldWindow(t, func(l *jetstream.Store) alerts.Ledger { p.Store = l; return p }, 0)
	w.settle()
	p.mu.Lock()
	p.hold = func(e events.Event) bool {
		pl, err := e.Payload()
		r, ok := pl.(*events.AlertRaised)
		return err == nil && ok && r.RecipientID == "rehab-1" && r.Kind == "ed.arrival"
	}
	p.mu.Unlock()
	w.hl7(&events.EDVisitStarted{Visit: visit("c1", "V8"), ArrivedAt: time.Now(), Reason: "Chute"})
	w.queue("cm-1", kind("ed.arrival", 1))
	w.hl7(&events.EDVisitUpdated{Visit: visit("c1", "V8"), Reason: "Fracture de la hanche"})
	w.queue("cm-1", kind("ed.arrival.amended", 1))
	close(p.release)
	w.settle()
	for _, r := range []string{"cm-1", "doc-1", "rehab-1"} {
		q := w.p.Queue(r)
		arrival, amended := ofKind(q, "ed.arrival"), ofKind(q, "ed.arrival.amended")
		if len(arrival) != 1 || len(amended) != 1 || amended[0].Amends != arrival[0].ID || !strings.Contains(amended[0].Summary, "Correction") {
			t.Errorf("%s's alerts of the corrected visit: arrival %+v, amendments %+v; want one amendment of the arrival", r, arrival, amended)
		}
	}
	w.noDuplicates("cm-1", "doc-1", "rehab-1")
}

// Retrying an event set aside because its derived facts could not be
// appended appends those very facts, once, and folds nothing again: a feed
// gap is seen only against the feed as it was before the event, so
// applying the event again (its control id already folded) would derive
// no gap alert at all.
func TestRetryingASetAsideEventAppendsTheFactsItOwed(t *testing.T) {
	p := &pipe{}
	w := newWorldWindow(t, func(l *jetstream.Store) alerts.Ledger { p.Store = l; return p }, 8)
	w.settle()
	refuse := true
	p.mu.Lock()
	p.fail = func(_ int, e events.Event) error {
		p.mu.Lock() // fail runs unlocked
		defer p.mu.Unlock()
		if pl, err := e.Payload(); err == nil && refuse {
			if r, ok := pl.(*events.AlertRaised); ok && r.Kind == "feed.gap" {
				return fmt.Errorf("%w: refused on purpose", ledger.ErrInvalidEvent)
			}
		}
		return nil
	}
	p.mu.Unlock()
	w.hl7(&events.EDVisitStarted{Visit: visit("", "VG1"), ArrivedAt: time.Now()})
	w.hl7(&events.EDVisitStarted{Visit: visit("", "VG2"), ArrivedAt: time.Now()}, 3) // three control ids skipped
	w.settle()
	dl := w.r.DeadLetters()
	if len(dl) != 1 || len(dl[0].Owed) == 0 {
		t.Fatalf("set aside: %+v; want the gap's event, with the facts it owed", dl)
	}
	if q := ofKind(w.p.Queue("pm-1"), "feed.gap"); len(q) != 0 {
		t.Fatalf("pm-1 has a gap alert while its append is refused: %+v", q)
	}
	p.mu.Lock()
	refuse = false
	p.mu.Unlock()
	if _, err := w.r.Retry(context.Background(), dl[0].ID); err != nil {
		t.Fatalf("retry: %v", err)
	}
	w.settle()
	q := ofKind(w.p.Queue("pm-1"), "feed.gap")
	if len(q) != 1 || !strings.Contains(q[0].Summary, "à/to") {
		t.Fatalf("pm-1's gap alerts after the retry: %+v; want the one the set-aside event owed", q)
	}
	if dl := w.r.DeadLetters(); len(dl) != 0 {
		t.Errorf("still set aside after a successful retry: %+v", dl)
	}
	w.noDuplicates("pm-1")
}
