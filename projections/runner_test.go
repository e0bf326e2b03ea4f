package projections_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/projections"
)

// counter counts events per type and refuses one poison event id.
type counter struct {
	mu     sync.Mutex
	n      map[string]int
	poison string
}

func (c *counter) Apply(_ context.Context, e events.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.ID == c.poison {
		return fmt.Errorf("cannot apply %s", e.ID)
	}
	c.n[e.Type]++
	return nil
}

func (c *counter) Snapshot() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return []byte(strconv.Itoa(c.n[events.TypeContactMade])), nil
}

func (c *counter) Restore(b []byte) error {
	n, err := strconv.Atoi(string(b))
	c.n = map[string]int{events.TypeContactMade: n}
	return err
}

func (c *counter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[events.TypeContactMade]
}

func contact(t *testing.T, l ledger.Ledger, n int) []events.Event {
	t.Helper()
	var out []events.Event
	for range n {
		e := events.MustNew(&events.ContactMade{ClientID: "c1", StaffID: "cm", Channel: "phone", At: time.Now()}, events.Actor{ID: "cm", Role: "case_manager"})
		if _, err := l.Append(context.Background(), "client-c1", ledger.Any, e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func TestRunnerSetsAsidePoisonAndResumesFromSnapshot(t *testing.T) {
	env := jstest.Start(t, jstest.Options{})
	l := env.Store
	evs := contact(t, l, 10)
	snaps, err := env.Store.Snapshots(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	c := &counter{n: map[string]int{}, poison: evs[3].ID}
	r := &projections.Runner{Name: "count", L: l, P: c, Snapshots: snaps, Backoff: time.Millisecond, MaxAttempts: 3}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Resume(ctx) }()
	<-r.Ready()
	if got := c.count(); got != 9 {
		t.Fatalf("counted %d, want 9 (one poison event set aside)", got)
	}
	if dl := r.DeadLetters(); len(dl) != 1 || dl[0].EventID != evs[3].ID {
		t.Fatalf("dead letters %+v", dl)
	}
	more := contact(t, l, 5)
	if err := r.WaitFor(context.Background(), 15); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_ = more

	// A new runner restores the snapshot (14 counted at position 15) and
	// only applies what came after: nothing skipped, nothing counted twice.
	contact(t, l, 3)
	c2 := &counter{n: map[string]int{}}
	r2 := &projections.Runner{Name: "count", L: l, P: c2, Snapshots: snaps}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go r2.Resume(ctx2) //nolint:errcheck
	<-r2.Ready()
	if got := c2.count(); got != 17 {
		t.Fatalf("after resume counted %d, want 17", got)
	}
}

// flaky fails its first `fails` Apply calls with err, then counts.
type flaky struct {
	mu      sync.Mutex
	fails   int
	err     error
	applied int
}

func (f *flaky) Apply(_ context.Context, e events.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fails > 0 {
		f.fails--
		return f.err
	}
	f.applied++
	return nil
}

// A projection that cannot append while the ledger is unavailable waits for
// the ledger, however many attempts that takes: its event is not set aside
// (the alerts projection would lose the alert it derives). Any other error
// still becomes a dead letter after MaxAttempts.
func TestRunnerWaitsOutAnUnavailableLedger(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		applied int
		dead    int
	}{
		{"ledger unavailable for more attempts than allowed: applied, no dead letter", fmt.Errorf("append alert-x: %w", ledger.ErrUnavailable), 1, 0},
		{"another error as often: set aside as a dead letter", fmt.Errorf("bad payload"), 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := jstest.Start(t, jstest.Options{})
			contact(t, env.Store, 1)
			f := &flaky{fails: 8, err: tt.err}
			r := &projections.Runner{Name: "flaky", L: env.Store, P: f, Backoff: time.Millisecond, MaxAttempts: 3}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx, 1) }()
			if err := r.WaitFor(ctx, 1); err != nil {
				t.Fatal(err)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.applied != tt.applied || len(r.DeadLetters()) != tt.dead {
				t.Fatalf("applied %d, dead letters %v; want %d applied, %d dead", f.applied, r.DeadLetters(), tt.applied, tt.dead)
			}
		})
	}
}

// A poison event is kept in the set-aside bucket: after a restart of the
// server on the same directory, a new runner (which does not apply it again)
// still lists it, with its error.
func TestSetAsideEventsSurviveARestart(t *testing.T) {
	env := jstest.Start(t, jstest.Options{})
	evs := contact(t, env.Store, 4)
	aside, err := env.Store.SetAside(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := &counter{n: map[string]int{}, poison: evs[1].ID}
	r := &projections.Runner{Name: "count", L: env.Store, P: c, SetAside: aside, Backoff: time.Millisecond, MaxAttempts: 2}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, 1) }()
	<-r.Ready()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	env.Stop()

	env2 := jstest.Start(t, jstest.Options{Dir: env.Dir})
	aside2, err := env2.Store.SetAside(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r2 := &projections.Runner{Name: "count", L: env2.Store, P: &counter{n: map[string]int{}}, SetAside: aside2}
	other := &projections.Runner{Name: "other", L: env2.Store, P: &counter{n: map[string]int{}}, SetAside: aside2}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go r2.Run(ctx2, 5)    //nolint:errcheck
	go other.Run(ctx2, 5) //nolint:errcheck
	<-r2.Ready()
	<-other.Ready()
	dl := r2.DeadLetters()
	if len(dl) != 1 || dl[0].EventID != evs[1].ID || dl[0].Position != 2 || dl[0].Error != "cannot apply "+evs[1].ID {
		t.Fatalf("set-aside events after the restart: %+v, want the one at position 2", dl)
	}
	if dl := other.DeadLetters(); len(dl) != 0 {
		t.Fatalf("another projection lists %+v", dl)
	}
}
