// Package projections runs the read models of Relais over the ledger: each
// projection is a fold applied to events in global order; the Runner owns the
// subscription, retries a failing event a bounded number of times and then
// sets it aside as a dead letter instead of stalling everything behind it,
// and tells waiters when the projection has caught up.
package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

// Applier is a projection: Apply folds one event into its state.
type Applier interface {
	Apply(ctx context.Context, e events.Event) error
}

// Snapshotter is a projection whose state can be saved and restored, so it
// resumes after a restart instead of rebuilding from position 1.
type Snapshotter interface {
	Snapshot() ([]byte, error)
	Restore([]byte) error
}

// SnapshotStore keeps one snapshot per projection with the position it
// reflects (state and position are saved together).
type SnapshotStore interface {
	Load(ctx context.Context, name string) ([]byte, uint64, error)
	Save(ctx context.Context, name string, data []byte, pos uint64) error
}

// Subscriber is the slice of the ledger a Runner needs.
type Subscriber interface {
	Subscribe(ctx context.Context, from uint64, fn func(context.Context, events.Event) error, opts ...ledger.SubscribeOption) error
	Head(ctx context.Context) (uint64, error)
}

// Stager is a projection whose events leave work owed to the ledger (the
// alerts projection's derived facts): Stage folds e at once and returns
// that work (nil: none). The Runner keeps up to Window events' work in
// flight and moves its position, in ledger order, only past events whose
// work is done, so a snapshot or a reader waiting for a position never sees
// an event whose work could still be lost. Failing work is retried like a
// failing Apply (without limit while the ledger is unavailable), and then
// its event is set aside. Work must be idempotent: it runs again after a
// failure or a restart. Apply stays the one-event-at-a-time form (used by
// a retry of an event whose Stage failed).
type Stager interface {
	Applier
	Stage(ctx context.Context, e events.Event) (*Work, error)
}

// Work is what a Stager owes the ledger for one event it folded.
type Work struct {
	// Run does the work; it must be idempotent.
	Run func(context.Context) error
	// Owed, called only when the work fails for good and its event is set
	// aside, encodes what Run does; it is kept with the dead letter, and a
	// retry hands it to the Stager's Rework instead of applying the event
	// a second time (its fold is in the state already, and the state after
	// it may not derive the same work). nil: a retry applies the event.
	Owed func() ([]byte, error)
}

// Reworker is a Stager that can redo the work it owed for an event it set
// aside (Work.Owed), without folding the event again.
type Reworker interface {
	Rework(ctx context.Context, e events.Event, owed []byte) error
}

// DeadLetter is an event a projection could not apply.
type DeadLetter struct {
	// ID names it in the set-aside store and in POST /v1/set-aside/{id}/retry
	// (SetAsideKey).
	ID         string `json:"id"`
	Projection string `json:"projection"`
	Position   uint64 `json:"position"`
	EventID    string `json:"event_id"`
	Type       string `json:"type"`
	Error      string `json:"error"`
	// Attempts is how many times the event was tried, retries included.
	Attempts int       `json:"attempts"`
	At       time.Time `json:"at"`
	// Owed is the work a Stager still owed for the event, which it folded
	// already (Work.Owed); empty when the event itself failed. Kept in the
	// set-aside store, never shown (it may hold what the alerts said).
	Owed []byte `json:"-"`
}

// keptDeadLetter is a DeadLetter as the set-aside store keeps it.
type keptDeadLetter struct {
	DeadLetter
	Owed []byte `json:"owed,omitempty"`
}

// SetAsideStore keeps the events projections set aside, durably, one value
// (a JSON DeadLetter) per key (SetAsideKey), so they outlive a restart
// until someone retries them.
type SetAsideStore interface {
	Put(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
	List(ctx context.Context) ([][]byte, error)
}

// SetAsideKey is the store key of the event at pos set aside by projection.
func SetAsideKey(projection string, pos uint64) string {
	return fmt.Sprintf("%s.%020d", projection, pos)
}

// Runner feeds one projection. An event whose Apply keeps failing becomes a
// dead letter after MaxAttempts, except while the failure is
// ledger.ErrUnavailable: then the Runner waits for the ledger (backoff up
// to 5s) for as long as it takes, because a projection that appends derived
// facts (the alerts) would otherwise lose them.
type Runner struct {
	Name string
	L    Subscriber
	P    Applier
	Log  *zap.Logger
	// MaxAttempts per event before it becomes a dead letter (default 5).
	MaxAttempts int
	// Backoff between attempts (default 50ms, doubled each time).
	Backoff time.Duration
	// Snapshots, when set and P is a Snapshotter, makes Resume restore the
	// last snapshot and save a new one when SnapshotEvery has passed and new
	// events were applied (default 30s), and when Run ends.
	Snapshots     SnapshotStore
	SnapshotEvery time.Duration
	// SetAside, when set, keeps every dead letter durably: Run lists those
	// kept by an earlier run, and a dead letter that cannot be kept holds
	// the projection (retried with backoff) rather than being forgotten.
	SetAside SetAsideStore
	// Window bounds the events whose Stage work is in flight at once
	// (default 256; a Stager only).
	Window int

	sinceSnap uint64
	lastSnap  time.Time

	// applyMu: one event at a time goes through the projection (the
	// subscription, or a retry of a set-aside event).
	applyMu sync.Mutex
	// The pipeline of a Stager: flights in ledger order, a slot per flight,
	// and how many are not settled yet.
	queue     chan *flight
	slots     chan struct{}
	unsettled atomic.Int64
	abandoned atomic.Bool // a flight's work ended with its context

	mu      sync.Mutex
	pos     uint64
	target  uint64
	ready   chan struct{}
	waiters []waiter
	dead    []DeadLetter
	once    sync.Once
}

// flight is one event in a Stager's pipeline; a flight without an event
// is a marker that Flush waits for.
type flight struct {
	e    events.Event
	done chan struct{} // closed once the work is settled
	err  error         // the context ended first: the event is not settled
	mark chan struct{} // markers: closed when the settler reaches it
}

type waiter struct {
	pos uint64
	ch  chan struct{}
}

func (r *Runner) init() {
	r.once.Do(func() {
		r.ready = make(chan struct{})
		if r.Log == nil {
			r.Log = zap.NewNop()
		}
		if r.MaxAttempts == 0 {
			r.MaxAttempts = 5
		}
		if r.Backoff == 0 {
			r.Backoff = 50 * time.Millisecond
		}
		if r.Window <= 0 {
			r.Window = 256
		}
	})
}

// Resume restores the projection's last snapshot (if any) and runs from
// the position after it; without a snapshot store it is Run(ctx, 1).
func (r *Runner) Resume(ctx context.Context) error {
	r.init()
	sn, ok := r.P.(Snapshotter)
	if r.Snapshots == nil || !ok {
		return r.Run(ctx, 1)
	}
	data, pos, err := r.Snapshots.Load(ctx, r.Name)
	if err != nil {
		return fmt.Errorf("projection %s: %w", r.Name, err)
	}
	if data != nil {
		if err := sn.Restore(data); err != nil {
			return fmt.Errorf("projection %s: restore snapshot at %d: %w", r.Name, pos, err)
		}
		r.Log.Info("projection restored", zap.String("projection", r.Name), zap.Uint64("position", pos))
	}
	r.mu.Lock()
	r.lastSnap = time.Now()
	r.mu.Unlock()
	err = r.Run(ctx, pos+1)
	if serr := r.saveSnapshot(context.WithoutCancel(ctx)); serr != nil && err == nil {
		err = serr
	}
	return err
}

// saveSnapshot writes the state and the position it reflects.
func (r *Runner) saveSnapshot(ctx context.Context) error {
	sn, ok := r.P.(Snapshotter)
	if r.Snapshots == nil || !ok {
		return nil
	}
	if r.abandoned.Load() || r.unsettled.Load() != 0 {
		// A Stager's state is past events whose work is not done: a
		// snapshot now would skip that work after a restart.
		r.Log.Info("projection snapshot skipped: work still in flight", zap.String("projection", r.Name))
		return nil
	}
	r.mu.Lock()
	pos := r.pos
	data, err := sn.Snapshot()
	r.sinceSnap = 0
	r.lastSnap = time.Now()
	r.mu.Unlock()
	if err != nil {
		return fmt.Errorf("projection %s: snapshot: %w", r.Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return r.Snapshots.Save(ctx, r.Name, data, pos)
}

// Run applies every event from position from (1 for a full rebuild) and
// then live events, until ctx ends.
func (r *Runner) Run(ctx context.Context, from uint64) error {
	r.init()
	head, err := r.L.Head(ctx)
	if err != nil {
		return fmt.Errorf("projection %s: %w", r.Name, err)
	}
	if err := r.loadSetAside(ctx); err != nil {
		return fmt.Errorf("projection %s: %w", r.Name, err)
	}
	r.mu.Lock()
	r.target = head
	if from > 0 {
		r.pos = from - 1
	}
	r.checkReadyLocked()
	r.mu.Unlock()
	apply := r.apply
	if st, ok := r.P.(Stager); ok {
		r.abandoned.Store(false)
		r.queue, r.slots = make(chan *flight, r.Window), make(chan struct{}, r.Window)
		settled := make(chan struct{})
		go func() {
			defer close(settled)
			r.settle()
		}()
		defer func() {
			close(r.queue)
			<-settled
		}()
		apply = func(ctx context.Context, e events.Event) error { return r.stage(ctx, st, e) }
	}
	err = r.L.Subscribe(ctx, from, apply)
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("projection %s: %w", r.Name, err)
	}
	return nil
}

// maxBackoff caps the wait between attempts while the ledger is unavailable.
const maxBackoff = 5 * time.Second

// try runs fn for e until it succeeds, with backoff: at most MaxAttempts
// times, except that attempts failing with ledger.ErrUnavailable are not
// counted. It returns fn's last error (nil: done) and the attempts made; a
// context that ends returns its error.
func (r *Runner) try(ctx context.Context, e events.Event, fn func(context.Context) error) (int, error) {
	backoff := r.Backoff
	var err error
	attempt := 0
	for counted := 1; counted <= r.MaxAttempts; counted++ {
		attempt++
		if err = fn(ctx); err == nil {
			return attempt, nil
		}
		if ctx.Err() != nil {
			return attempt, ctx.Err()
		}
		unavailable := errors.Is(err, ledger.ErrUnavailable)
		r.Log.Warn("projection apply failed", zap.String("projection", r.Name), zap.Uint64("position", e.Position),
			zap.String("type", e.Type), zap.Int("attempt", attempt), zap.Bool("ledger_unavailable", unavailable), zap.Error(err))
		if unavailable {
			// Not a poison event: the ledger cannot take the projection's
			// derived facts now. Setting the event aside would lose them,
			// so wait for the ledger instead of counting the attempt.
			counted--
		}
		if counted < r.MaxAttempts {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return attempt, ctx.Err()
			}
			backoff = min(2*backoff, maxBackoff)
		}
	}
	return attempt, err
}

// setAside keeps e as a dead letter after it failed with err; owed is the
// work a Stager still owes for it (Work.Owed), nil when e itself failed.
func (r *Runner) setAside(ctx context.Context, e events.Event, attempts int, err error, owed ...[]byte) error {
	dl := DeadLetter{ID: SetAsideKey(r.Name, e.Position), Projection: r.Name, Position: e.Position, EventID: e.ID, Type: e.Type,
		Error: err.Error(), Attempts: attempts, At: time.Now().UTC()}
	if len(owed) > 0 {
		dl.Owed = owed[0]
	}
	if err := r.keep(ctx, dl); err != nil {
		return err
	}
	r.mu.Lock()
	r.dead = slices.DeleteFunc(r.dead, func(d DeadLetter) bool { return d.Position == dl.Position })
	r.dead = append(r.dead, dl)
	r.mu.Unlock()
	r.Log.Error("projection dead letter", zap.String("projection", r.Name), zap.Uint64("position", e.Position), zap.String("event_id", e.ID))
	return nil
}

func (r *Runner) apply(ctx context.Context, e events.Event) error {
	r.applyMu.Lock()
	n, err := r.try(ctx, e, func(ctx context.Context) error { return r.P.Apply(ctx, e) })
	r.applyMu.Unlock()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		if err := r.setAside(ctx, e, n, err); err != nil {
			return err
		}
	}
	r.advance(e.Position)
	if r.snapshotDue() {
		if err := r.saveSnapshot(ctx); err != nil {
			r.Log.Warn("projection snapshot failed", zap.String("projection", r.Name), zap.Error(err))
		}
	}
	return nil
}

// stage is apply for a Stager: it folds e, puts its work in flight (waiting
// for a slot when Window events are in flight) and returns; the settler
// moves the position.
func (r *Runner) stage(ctx context.Context, st Stager, e events.Event) error {
	var work *Work
	r.applyMu.Lock()
	n, err := r.try(ctx, e, func(ctx context.Context) error {
		w, err := st.Stage(ctx, e)
		if w != nil && w.Run == nil {
			w = nil
		}
		work = w
		return err
	})
	r.applyMu.Unlock()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		// Stage folds nothing when it fails: set aside like an Apply.
		if err := r.setAside(ctx, e, n, err); err != nil {
			return err
		}
		work = nil
	}
	if work == nil && r.unsettled.Load() == 0 {
		// Nothing before it is in flight (the settler decrements only
		// after it advanced), so the position may move now.
		r.advance(e.Position)
	} else {
		select {
		case r.slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		f := &flight{e: e, done: make(chan struct{})}
		r.unsettled.Add(1)
		if work == nil {
			close(f.done)
		} else {
			go func() {
				defer close(f.done)
				f.err = r.settleWork(ctx, e, work)
			}()
		}
		r.queue <- f // never blocks: a slot is held
	}
	if r.snapshotDue() {
		if err := r.Flush(ctx); err != nil {
			return err
		}
		if err := r.saveSnapshot(ctx); err != nil {
			r.Log.Warn("projection snapshot failed", zap.String("projection", r.Name), zap.Error(err))
		}
	}
	return nil
}

// settleWork runs one event's work until it is done or, failing
// deterministically, its event is set aside; it returns an error only when
// ctx ended first (the event is then not settled).
func (r *Runner) settleWork(ctx context.Context, e events.Event, work *Work) error {
	n, err := r.try(ctx, e, work.Run)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var owed []byte
	if work.Owed != nil {
		b, oerr := work.Owed()
		if oerr != nil {
			r.Log.Error("projection cannot keep the work it owes with its dead letter: a retry will apply the event again",
				zap.String("projection", r.Name), zap.Uint64("position", e.Position), zap.Error(oerr))
		}
		owed = b
	}
	return r.setAside(ctx, e, n, err, owed)
}

// settle moves the position past each flight, in order, once its work is
// settled; after a flight abandoned with its context it moves nothing.
func (r *Runner) settle() {
	for f := range r.queue {
		<-f.done
		if f.mark != nil {
			close(f.mark)
			continue
		}
		if f.err != nil {
			r.abandoned.Store(true)
		}
		if !r.abandoned.Load() {
			r.advance(f.e.Position)
		}
		r.unsettled.Add(-1)
		<-r.slots
	}
}

// Flush waits until every event a Stager staged so far is settled (its
// work done or the event set aside) and the position is past it. Called
// from the subscription only.
func (r *Runner) Flush(ctx context.Context) error {
	if r.queue == nil || r.unsettled.Load() == 0 {
		return nil
	}
	m := &flight{done: make(chan struct{}), mark: make(chan struct{})}
	close(m.done)
	select {
	case r.queue <- m:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-m.mark:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// advance records that every event up to pos is applied (and its work
// done) and wakes the waiters it satisfies.
func (r *Runner) advance(pos uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pos = pos
	r.checkReadyLocked()
	kept := r.waiters[:0]
	for _, w := range r.waiters {
		if r.pos >= w.pos {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	r.waiters = kept
	r.sinceSnap++
}

// snapshotDue reports whether a snapshot store is set and SnapshotEvery
// has passed since the last snapshot.
func (r *Runner) snapshotDue() bool {
	if _, ok := r.P.(Snapshotter); !ok || r.Snapshots == nil {
		return false
	}
	every := r.SnapshotEvery
	if every == 0 {
		every = 30 * time.Second
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return time.Since(r.lastSnap) >= every
}

// keep writes a dead letter to the set-aside store, retrying with backoff
// until it is kept or ctx ends (then the event is applied again at the next
// start, since the position did not move).
func (r *Runner) keep(ctx context.Context, dl DeadLetter) error {
	if r.SetAside == nil {
		return nil
	}
	b, err := json.Marshal(keptDeadLetter{DeadLetter: dl, Owed: dl.Owed})
	if err != nil {
		return fmt.Errorf("projection %s: set aside %d: %w", r.Name, dl.Position, err)
	}
	backoff := r.Backoff
	for {
		err := r.SetAside.Put(ctx, SetAsideKey(r.Name, dl.Position), b)
		if err == nil {
			return nil
		}
		r.Log.Warn("projection dead letter not kept yet", zap.String("projection", r.Name), zap.Uint64("position", dl.Position), zap.Error(err))
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// loadSetAside lists the dead letters of this projection an earlier run kept.
func (r *Runner) loadSetAside(ctx context.Context) error {
	if r.SetAside == nil {
		return nil
	}
	vals, err := r.SetAside.List(ctx)
	if err != nil {
		return err
	}
	var mine []DeadLetter
	for _, v := range vals {
		var kept keptDeadLetter
		if err := json.Unmarshal(v, &kept); err != nil {
			return fmt.Errorf("set-aside event: %w", err)
		}
		dl := kept.DeadLetter
		dl.Owed = kept.Owed
		if dl.Projection == r.Name {
			if dl.ID == "" { // kept before set-aside events had ids
				dl.ID = SetAsideKey(dl.Projection, dl.Position)
			}
			mine = append(mine, dl)
		}
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].Position < mine[j].Position })
	r.mu.Lock()
	r.dead = mine
	r.mu.Unlock()
	return nil
}

func (r *Runner) checkReadyLocked() {
	if r.pos >= r.target {
		select {
		case <-r.ready:
		default:
			close(r.ready)
		}
	}
}

// Ready is closed once the projection has applied everything that was in
// the ledger when Run started.
func (r *Runner) Ready() <-chan struct{} {
	r.init()
	return r.ready
}

// Position is the last applied global position.
func (r *Runner) Position() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pos
}

// WaitFor blocks until the projection has applied position pos (so a reader
// sees its own writes) or ctx ends.
func (r *Runner) WaitFor(ctx context.Context, pos uint64) error {
	r.init()
	r.mu.Lock()
	if r.pos >= pos {
		r.mu.Unlock()
		return nil
	}
	w := waiter{pos: pos, ch: make(chan struct{})}
	r.waiters = append(r.waiters, w)
	r.mu.Unlock()
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("projection %s waiting for position %d: %w", r.Name, pos, ctx.Err())
	}
}

// DeadLetters lists the events this projection set aside.
func (r *Runner) DeadLetters() []DeadLetter {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]DeadLetter(nil), r.dead...)
}

// Retry runs the set-aside event id (a DeadLetter.ID of this projection)
// through the projection again, once: with Apply, or for a Stager's event
// whose work failed (DeadLetter.Owed), with Rework. Applied, it leaves the
// set-aside store and the returned DeadLetter is the one it was; still
// failing, it stays there with the new error and attempt count, and the
// error wraps ErrRetryFailed. An id this projection did not set aside is
// ErrSetAsideNotFound.
func (r *Runner) Retry(ctx context.Context, id string) (DeadLetter, error) {
	r.init()
	r.mu.Lock()
	i := slices.IndexFunc(r.dead, func(d DeadLetter) bool { return d.ID == id })
	var dl DeadLetter
	if i >= 0 {
		dl = r.dead[i]
	}
	r.mu.Unlock()
	if i < 0 {
		return DeadLetter{}, fmt.Errorf("%w: %q in projection %s", ErrSetAsideNotFound, id, r.Name)
	}
	var e events.Event
	found := false
	err := r.L.Subscribe(ctx, dl.Position, func(_ context.Context, ev events.Event) error {
		if ev.Position == dl.Position {
			e, found = ev, true
		}
		return nil
	}, ledger.Until(dl.Position), ledger.StopAtHead())
	if err != nil {
		return dl, fmt.Errorf("projection %s: retry %s: read position %d: %w", r.Name, id, dl.Position, err)
	}
	if !found || e.ID != dl.EventID {
		return dl, fmt.Errorf("projection %s: retry %s: the ledger holds no event %s at position %d", r.Name, id, dl.EventID, dl.Position)
	}
	r.applyMu.Lock()
	var aerr error
	if rw, ok := r.P.(Reworker); ok && len(dl.Owed) > 0 {
		aerr = rw.Rework(ctx, e, dl.Owed)
	} else {
		aerr = r.P.Apply(ctx, e)
	}
	r.applyMu.Unlock()
	if aerr == nil {
		if r.SetAside != nil {
			if err := r.SetAside.Delete(ctx, id); err != nil {
				return dl, fmt.Errorf("projection %s: retry %s: applied, but: %w", r.Name, id, err)
			}
		}
		r.mu.Lock()
		r.dead = slices.DeleteFunc(r.dead, func(d DeadLetter) bool { return d.ID == id })
		r.mu.Unlock()
		r.Log.Info("set-aside event applied on retry", zap.String("projection", r.Name), zap.String("id", id), zap.String("event_id", e.ID))
		return dl, nil
	}
	dl.Error, dl.Attempts, dl.At = aerr.Error(), dl.Attempts+1, time.Now().UTC()
	if err := r.keep(ctx, dl); err != nil {
		return dl, err
	}
	r.mu.Lock()
	if j := slices.IndexFunc(r.dead, func(d DeadLetter) bool { return d.ID == id }); j >= 0 {
		r.dead[j] = dl
	}
	r.mu.Unlock()
	r.Log.Warn("set-aside event still failing on retry", zap.String("projection", r.Name), zap.String("id", id), zap.Int("attempts", dl.Attempts), zap.Error(aerr))
	return dl, fmt.Errorf("%w: %s (attempt %d): %w", ErrRetryFailed, id, dl.Attempts, aerr)
}
