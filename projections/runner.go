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

// DeadLetter is an event a projection could not apply.
type DeadLetter struct {
	Projection string    `json:"projection"`
	Position   uint64    `json:"position"`
	EventID    string    `json:"event_id"`
	Type       string    `json:"type"`
	Error      string    `json:"error"`
	At         time.Time `json:"at"`
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

	sinceSnap uint64
	lastSnap  time.Time

	mu      sync.Mutex
	pos     uint64
	target  uint64
	ready   chan struct{}
	waiters []waiter
	dead    []DeadLetter
	once    sync.Once
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
	err = r.L.Subscribe(ctx, from, r.apply)
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("projection %s: %w", r.Name, err)
	}
	return nil
}

// maxBackoff caps the wait between attempts while the ledger is unavailable.
const maxBackoff = 5 * time.Second

func (r *Runner) apply(ctx context.Context, e events.Event) error {
	backoff := r.Backoff
	var err error
	for attempt := 1; attempt <= r.MaxAttempts; attempt++ {
		if err = r.P.Apply(ctx, e); err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		unavailable := errors.Is(err, ledger.ErrUnavailable)
		r.Log.Warn("projection apply failed", zap.String("projection", r.Name), zap.Uint64("position", e.Position),
			zap.String("type", e.Type), zap.Int("attempt", attempt), zap.Bool("ledger_unavailable", unavailable), zap.Error(err))
		if unavailable {
			// Not a poison event: the ledger cannot take the projection's
			// derived facts now. Setting the event aside would lose them,
			// so wait for the ledger instead of counting the attempt.
			attempt--
		}
		if attempt < r.MaxAttempts {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return ctx.Err()
			}
			backoff = min(2*backoff, maxBackoff)
		}
	}
	if err != nil {
		dl := DeadLetter{Projection: r.Name, Position: e.Position, EventID: e.ID, Type: e.Type, Error: err.Error(), At: time.Now().UTC()}
		if err := r.keep(ctx, dl); err != nil {
			return err
		}
		r.mu.Lock()
		r.dead = slices.DeleteFunc(r.dead, func(d DeadLetter) bool { return d.Position == dl.Position })
		r.dead = append(r.dead, dl)
		r.mu.Unlock()
		r.Log.Error("projection dead letter", zap.String("projection", r.Name), zap.Uint64("position", e.Position), zap.String("event_id", e.ID))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pos = e.Position
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
	every := r.SnapshotEvery
	if every == 0 {
		every = 30 * time.Second
	}
	if r.Snapshots != nil && time.Since(r.lastSnap) >= every {
		r.mu.Unlock()
		err := r.saveSnapshot(ctx)
		r.mu.Lock()
		if err != nil {
			r.Log.Warn("projection snapshot failed", zap.String("projection", r.Name), zap.Error(err))
		}
	}
	return nil
}

// keep writes a dead letter to the set-aside store, retrying with backoff
// until it is kept or ctx ends (then the event is applied again at the next
// start, since the position did not move).
func (r *Runner) keep(ctx context.Context, dl DeadLetter) error {
	if r.SetAside == nil {
		return nil
	}
	b, err := json.Marshal(dl)
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
		var dl DeadLetter
		if err := json.Unmarshal(v, &dl); err != nil {
			return fmt.Errorf("set-aside event: %w", err)
		}
		if dl.Projection == r.Name {
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
