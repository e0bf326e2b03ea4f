package projections_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/internal/poll"
	"github.com/relais-health/relais/projections"
)

// A set-aside event is retried by an explicit action: still failing, it
// stays with the new error and one more attempt; once its cause is fixed,
// the retry applies it and it leaves the set-aside store (a restart lists
// nothing); an id nobody set aside is ErrSetAsideNotFound.
func TestRetryOfASetAsideEvent(t *testing.T) {
	env := jstest.Start(t, jstest.Options{})
	evs := contact(t, env.Store, 3)
	aside, err := env.Store.SetAside(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := &counter{n: map[string]int{}, poison: evs[1].ID}
	r := &projections.Runner{Name: "count", L: env.Store, P: c, SetAside: aside, Backoff: time.Millisecond, MaxAttempts: 2}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx, 1) //nolint:errcheck
	<-r.Ready()
	dl := r.DeadLetters()
	if len(dl) != 1 || dl[0].ID != "count.00000000000000000002" || dl[0].Attempts != 2 {
		t.Fatalf("set aside: %+v; want count.00000000000000000002 after 2 attempts", dl)
	}
	id := dl[0].ID
	for _, tt := range []struct {
		name     string
		id       string
		fix      bool
		wantErr  error
		attempts int // of the event still set aside; 0: gone
		counted  int
	}{
		{name: "unknown id", id: "count.00000000000000000009", wantErr: projections.ErrSetAsideNotFound, attempts: 2, counted: 2},
		{name: "still failing", id: id, wantErr: projections.ErrRetryFailed, attempts: 3, counted: 2},
		{name: "fixed", id: id, fix: true, counted: 3},
		{name: "already retried", id: id, wantErr: projections.ErrSetAsideNotFound, counted: 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fix {
				c.mu.Lock()
				c.poison = ""
				c.mu.Unlock()
			}
			_, err := r.Retry(context.Background(), tt.id)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Retry(%s) = %v, want %v", tt.id, err, tt.wantErr)
			}
			dl := r.DeadLetters()
			kept, err := aside.List(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.attempts == 0 && (len(dl) != 0 || len(kept) != 0):
				t.Errorf("after the retry: listed %+v, kept %d; want none", dl, len(kept))
			case tt.attempts > 0 && (len(dl) != 1 || dl[0].Attempts != tt.attempts || len(kept) != 1 ||
				!strings.Contains(string(kept[0]), `"attempts":`+strconv.Itoa(tt.attempts))):
				t.Errorf("after the retry: listed %+v, kept %s; want it with %d attempts", dl, kept, tt.attempts)
			}
			if got := c.count(); got != tt.counted {
				t.Errorf("counted %d, want %d", got, tt.counted)
			}
		})
	}
}

// stager counts contacts at once and leaves, for each, work that waits
// for the gate while it is closed.
type stager struct {
	counter
	gate chan struct{}
	mu2  sync.Mutex
	done int
}

func (s *stager) Stage(ctx context.Context, e events.Event) (*projections.Work, error) {
	if err := s.Apply(ctx, e); err != nil {
		return nil, err
	}
	return &projections.Work{Run: func(ctx context.Context) error {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu2.Lock()
		s.done++
		s.mu2.Unlock()
		return nil
	}}, nil
}

var _ projections.Stager = (*stager)(nil)

// memSnaps keeps the last snapshot in memory.
type memSnaps struct {
	mu   sync.Mutex
	data []byte
	pos  uint64
}

func (m *memSnaps) Load(context.Context, string) ([]byte, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.data, m.pos, nil
}

func (m *memSnaps) Save(_ context.Context, _ string, data []byte, pos uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data, m.pos = data, pos
	return nil
}

func (m *memSnaps) get() (string, uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return string(m.data), m.pos
}

// A Stager's position, its readiness and its snapshots never pass an event
// whose work is still in flight, even though its state has moved on: a run
// stopped with work in flight saves no snapshot (the next one redoes that
// work), and a run whose work is done saves a snapshot whose state
// matches its position.
func TestStagerPositionWaitsForWorkInFlight(t *testing.T) {
	env := jstest.Start(t, jstest.Options{})
	contact(t, env.Store, 6)
	snaps := &memSnaps{}
	s := &stager{counter: counter{n: map[string]int{}}, gate: make(chan struct{})}
	r := &projections.Runner{Name: "stage", L: env.Store, P: s, Snapshots: snaps, SnapshotEvery: time.Hour, Window: 4}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Resume(ctx) }()
	poll.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if n := s.count(); n < 4 {
			return fmt.Errorf("staged %d events, want the window of 4", n)
		}
		return nil
	})
	if pos := r.Position(); pos != 0 {
		t.Errorf("position %d while no event's work is done", pos)
	}
	if n := s.count(); n > 5 {
		t.Errorf("staged %d events with a window of 4 (and one waiting for a slot)", n)
	}
	select {
	case <-r.Ready():
		t.Error("ready while every event's work is in flight")
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if data, pos := snaps.get(); data != "" || pos != 0 {
		t.Fatalf("snapshot %q at %d saved with every event's work in flight", data, pos)
	}

	open := make(chan struct{})
	close(open)
	s2 := &stager{counter: counter{n: map[string]int{}}, gate: open}
	r2 := &projections.Runner{Name: "stage", L: env.Store, P: s2, Snapshots: snaps, SnapshotEvery: time.Hour, Window: 4}
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { done <- r2.Resume(ctx2) }()
	<-r2.Ready()
	cancel2()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s2.done != 6 {
		t.Errorf("%d events' work done after the restart, want 6", s2.done)
	}
	if data, pos := snaps.get(); pos != 6 || data != "6" {
		t.Errorf("snapshot %q at %d; want 6 contacts at 6", data, pos)
	}
}
