// Package ledgertest is the conformance suite every ledger backend passes:
// concurrency conflicts under parallel writers, idempotent retries, batch
// atomicity, ordering, catch-up then live without gap or duplicate,
// checkpoint resume, and the hash chain. A backend's own test calls Run
// with a function that opens a fresh, empty ledger.
package ledgertest

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
	"github.com/relais-health/relais/internal/poll"
)

// Open returns a fresh, empty ledger and registers its own cleanup.
type Open func(t *testing.T) ledger.Ledger

var actor = events.Actor{ID: "cm-1", Role: events.RoleCaseManager}

// contact is a small valid event.
func contact(n int) events.Event {
	return events.MustNew(&events.ContactMade{ClientID: "c1", StaffID: "cm-1", Channel: "phone",
		At: time.Date(2026, 1, 1, 0, 0, n, 0, time.UTC), Note: fmt.Sprint("note ", n)}, actor)
}

func contacts(n int) []events.Event {
	out := make([]events.Event, n)
	for i := range out {
		out[i] = contact(i)
	}
	return out
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Run runs the whole suite.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, ledger.Ledger)
	}{
		{"appended events read back with their envelope", testAppendRead},
		{"expected revision is enforced", testExpectedRevision},
		{"parallel writers on one stream never lose or duplicate", testParallelSameStream},
		{"Update retries concurrent deciders until each is applied once", testUpdateConcurrent},
		{"parallel writers on distinct streams all succeed", testParallelDistinct},
		{"a conflicting append fails alone among concurrent good ones", testConflictAlone},
		{"a retried append returns the original result", testIdempotentRetry},
		{"an append with an invalid event writes nothing", testBatchAtomicity},
		{"a multi-event append is contiguous and seen whole", testBatchContiguous},
		{"subscribe catches up then follows live without gap or duplicate", testCatchUpLive},
		{"subscribe options stop where asked and cancel promptly", testSubscribeOptions},
		{"every stream is hash-chained and verifies", testHashChain},
		{"invalid stream names are refused", testStreamNames},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

func testAppendRead(t *testing.T, l ledger.Ledger) {
	ctx := ctxT(t)
	evs := contacts(3)
	res, err := l.Append(ctx, "client-a", ledger.NoStream, evs...)
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 3 || len(res.Events) != 3 || res.Stream != "client-a" {
		t.Fatalf("result %+v", res)
	}
	got, err := l.Read(ctx, "client-a", 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range got {
		if e.ID != evs[i].ID || e.Type != evs[i].Type || e.Actor != actor || e.Revision != uint64(i+1) || e.Stream != "client-a" {
			t.Fatalf("event %d read back as %+v", i, e)
		}
		if e.RecordedAt.IsZero() || e.Position == 0 {
			t.Fatalf("event %d lacks recorded-at or position", i)
		}
		p, err := e.Payload()
		if err != nil || p.(*events.ContactMade).Note != fmt.Sprint("note ", i) {
			t.Fatalf("payload %d: %+v %v", i, p, err)
		}
	}
	tail, err := l.Read(ctx, "client-a", 3)
	if err != nil || len(tail) != 1 || tail[0].Revision != 3 {
		t.Fatalf("read from revision 3: %+v %v", tail, err)
	}
	if _, err := l.Read(ctx, "client-nobody", 1); !errors.Is(err, ledger.ErrStreamNotFound) {
		t.Fatalf("unknown stream: %v", err)
	}
	head, err := l.Head(ctx)
	if err != nil || head != res.Position {
		t.Fatalf("head %d, last position %d, %v", head, res.Position, err)
	}
}

func testExpectedRevision(t *testing.T, l ledger.Ledger) {
	ctx := ctxT(t)
	if _, err := l.Append(ctx, "s", ledger.NoStream, contact(1)); err != nil {
		t.Fatal(err)
	}
	_, err := l.Append(ctx, "s", ledger.NoStream, contact(2))
	var wr *ledger.WrongRevisionError
	if !errors.Is(err, ledger.ErrWrongRevision) || !errors.As(err, &wr) || wr.Actual != 1 || wr.Expected != 0 {
		t.Fatalf("NoStream on an existing stream: %v", err)
	}
	if _, err := l.Append(ctx, "s", 5, contact(3)); !errors.Is(err, ledger.ErrWrongRevision) {
		t.Fatalf("expected revision ahead of the stream: %v", err)
	}
	if _, err := l.Append(ctx, "s", 1, contact(4)); err != nil {
		t.Fatal(err)
	}
	res, err := l.Append(ctx, "s", ledger.Any, contact(5))
	if err != nil || res.Revision != 3 {
		t.Fatalf("Any: %+v %v", res, err)
	}
}

func testParallelSameStream(t *testing.T, l ledger.Ledger) {
	ctx := ctxT(t)
	const writers, tries = 16, 10
	var mu sync.Mutex
	won := map[string]bool{}
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range tries {
				evs, err := l.Read(ctx, "hot", 1)
				if err != nil && !errors.Is(err, ledger.ErrStreamNotFound) {
					t.Error(err)
					return
				}
				e := contact(len(evs))
				_, err = l.Append(ctx, "hot", int64(len(evs)), e)
				switch {
				case err == nil:
					mu.Lock()
					won[e.ID] = true
					mu.Unlock()
				case !errors.Is(err, ledger.ErrWrongRevision):
					t.Errorf("append: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	evs, err := l.Read(ctx, "hot", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(won) {
		t.Fatalf("%d successful appends, stream holds %d events", len(won), len(evs))
	}
	for i, e := range evs {
		if e.Revision != uint64(i+1) || !won[e.ID] {
			t.Fatalf("event %d: revision %d, acknowledged %v", i, e.Revision, won[e.ID])
		}
	}
}

func testUpdateConcurrent(t *testing.T, l ledger.Ledger) {
	ctx := ctxT(t)
	const n = 16
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := ledger.Update(ctx, l, "counter", func(h []events.Event) ([]events.Event, error) {
				return []events.Event{contact(i)}, nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	evs, _ := l.Read(ctx, "counter", 1)
	if len(evs) != n {
		t.Fatalf("%d events after %d concurrent updates", len(evs), n)
	}
}

func testParallelDistinct(t *testing.T, l ledger.Ledger) {
	ctx := ctxT(t)
	const writers, each = 64, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := l.Append(ctx, fmt.Sprintf("w-%d", w), int64(i), contact(i)); err != nil {
					t.Errorf("writer %d append %d: %v", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for w := range writers {
		evs, err := l.Read(ctx, fmt.Sprintf("w-%d", w), 1)
		if err != nil || len(evs) != each {
			t.Fatalf("writer %d: %d events %v", w, len(evs), err)
		}
	}
}

func testConflictAlone(t *testing.T, l ledger.Ledger) {
	ctx := ctxT(t)
	if _, err := l.Append(ctx, "bad", ledger.NoStream, contact(0)); err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		var wg sync.WaitGroup
		errs := make([]error, 33)
		for i := range 33 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i == 16 {
					_, errs[i] = l.Append(ctx, "bad", ledger.NoStream, contact(i)) // wrong: stream exists
					return
				}
				_, errs[i] = l.Append(ctx, fmt.Sprintf("good-%d-%d", round, i), ledger.NoStream, contact(i))
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if i == 16 {
				if !errors.Is(err, ledger.ErrWrongRevision) {
					t.Fatalf("the conflicting append: %v", err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("good append %d failed beside a conflicting one: %v", i, err)
			}
		}
	}
}

func testIdempotentRetry(t *testing.T, l ledger.Ledger) {
	ctx := ctxT(t)
	evs := contacts(2)
	first, err := l.Append(ctx, "idem", ledger.NoStream, evs...)
	if err != nil {
		t.Fatal(err)
	}
	again, err := l.Append(ctx, "idem", ledger.NoStream, evs...)
	if err != nil || again.Revision != first.Revision || again.Position != first.Position {
		t.Fatalf("retry: %+v %v, original %+v", again, err, first)
	}
	if _, err := l.Append(ctx, "idem", 2, contact(9)); err != nil {
		t.Fatal(err)
	}
	late, err := l.Append(ctx, "idem", ledger.NoStream, evs...)
	if err != nil || late.Position != first.Position {
		t.Fatalf("retry after more events: %+v %v", late, err)
	}
	if _, err := l.Append(ctx, "idem", 1, evs...); !errors.Is(err, ledger.ErrWrongRevision) {
		t.Fatalf("same ids at another revision: %v", err)
	}
	one := contact(42)
	a, err := l.Append(ctx, "idem-any", ledger.Any, one)
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Append(ctx, "idem-any", ledger.Any, one)
	if err != nil || b.Position != a.Position {
		t.Fatalf("retry with Any: %+v %v", b, err)
	}
	all, _ := l.Read(ctx, "idem", 1)
	if len(all) != 3 {
		t.Fatalf("stream holds %d events, want 3 (no duplicates)", len(all))
	}
}

func testBatchAtomicity(t *testing.T, l ledger.Ledger) {
	ctx := ctxT(t)
	unknown := contact(1)
	unknown.Type = "client.teleported"
	missing := contact(2)
	missing.Data = []byte(`{"client_id":"c1","channel":"phone","at":"2026-01-01T00:00:00Z"}`)
	huge := events.MustNew(&events.ContactMade{ClientID: "c1", StaffID: "cm", Channel: "phone", At: time.Now()}, actor)
	huge.Data = []byte(`{"client_id":"c1","staff_id":"cm","channel":"phone","at":"2026-01-01T00:00:00Z","note":"` + strings.Repeat("x", events.MaxEventSize) + `"}`)
	for _, tc := range []struct {
		bad  events.Event
		want string
	}{{unknown, "unknown event type"}, {missing, "staff_id"}, {huge, "data"}} {
		_, err := l.Append(ctx, "atom", ledger.Any, contact(0), tc.bad, contact(3))
		if !errors.Is(err, ledger.ErrInvalidEvent) || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("want ErrInvalidEvent naming %q, got %v", tc.want, err)
		}
	}
	if _, err := l.Read(ctx, "atom", 1); !errors.Is(err, ledger.ErrStreamNotFound) {
		t.Fatalf("a refused append left events: %v", err)
	}
}

func testBatchContiguous(t *testing.T, l ledger.Ledger) {
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	seen := make(chan events.Event, 1000)
	go l.Subscribe(ctx, 1, func(_ context.Context, e events.Event) error { seen <- e; return nil }) //nolint:errcheck
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				res, err := l.Append(ctx, fmt.Sprintf("batch-%d", w), int64(i*4), contacts(4)...)
				if err != nil {
					t.Error(err)
					return
				}
				for j, e := range res.Events {
					if e.Position != res.Events[0].Position+uint64(j) || e.Revision != uint64(i*4+j+1) {
						t.Errorf("append not contiguous: %+v", res.Events)
					}
				}
			}
		}()
	}
	wg.Wait()
	// A subscriber sees each append whole: the four events of a batch are
	// consecutive positions of the same stream.
	var got []events.Event
	deadline := time.After(20 * time.Second)
	for len(got) < 8*5*4 {
		select {
		case e := <-seen:
			got = append(got, e)
		case <-deadline:
			t.Fatalf("subscriber saw %d of %d events", len(got), 160)
		}
	}
	for i := 0; i < len(got); i += 4 {
		for j := 1; j < 4; j++ {
			if got[i+j].Stream != got[i].Stream || got[i+j].Revision != got[i].Revision+uint64(j) {
				t.Fatalf("append interleaved with another at position %d", got[i+j].Position)
			}
		}
	}
}

func testCatchUpLive(t *testing.T, l ledger.Ledger) {
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	const before, after = 50, 150
	for i := range before {
		if _, err := l.Append(ctx, fmt.Sprintf("cl-%d", i%5), ledger.Any, contact(i)); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var got []events.Event
	done := make(chan error, 1)
	go func() {
		done <- l.Subscribe(ctx, 1, func(_ context.Context, e events.Event) error {
			mu.Lock()
			got = append(got, e)
			mu.Unlock()
			return nil
		})
	}()
	var wg sync.WaitGroup
	for w := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range after / 5 {
				if _, err := l.Append(ctx, fmt.Sprintf("cl-%d", w), ledger.Any, contact(i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	poll.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) < before+after {
			return fmt.Errorf("subscriber got %d of %d events", len(got), before+after)
		}
		return nil
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("subscribe returned %v after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscribe did not return after cancel")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != before+after {
		t.Fatalf("subscriber got %d events, want %d", len(got), before+after)
	}
	ids := map[string]bool{}
	for i, e := range got {
		if i > 0 && e.Position <= got[i-1].Position {
			t.Fatalf("positions not increasing at %d: %d after %d", i, e.Position, got[i-1].Position)
		}
		if ids[e.ID] {
			t.Fatalf("event %s delivered twice", e.ID)
		}
		ids[e.ID] = true
	}
}

func testSubscribeOptions(t *testing.T, l ledger.Ledger) {
	ctx := ctxT(t)
	var positions []uint64
	for i := range 10 {
		res, err := l.Append(ctx, "opt", ledger.Any, contact(i))
		if err != nil {
			t.Fatal(err)
		}
		positions = append(positions, res.Position)
	}
	collect := func(from uint64, opts ...ledger.SubscribeOption) []uint64 {
		var out []uint64
		err := l.Subscribe(ctx, from, func(_ context.Context, e events.Event) error {
			out = append(out, e.Position)
			return nil
		}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := collect(1, ledger.StopAtHead()); len(got) != 10 {
		t.Fatalf("StopAtHead delivered %d events", len(got))
	}
	if got := collect(positions[4], ledger.StopAtHead()); len(got) != 6 || got[0] != positions[4] {
		t.Fatalf("from the middle: %v", got)
	}
	if got := collect(1, ledger.Until(positions[2])); len(got) != 3 {
		t.Fatalf("Until: %v", got)
	}
	stop := errors.New("stop")
	err := l.Subscribe(ctx, 1, func(context.Context, events.Event) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("a handler error must end Subscribe with it: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	live := make(chan struct{}, 1)
	go func() {
		done <- l.Subscribe(cctx, positions[9]+1, func(context.Context, events.Event) error {
			select {
			case live <- struct{}{}:
			default:
			}
			return nil
		})
	}()
	// An event appended now reaches the handler only once the subscription
	// follows the live tail: cancel it there.
	if _, err := l.Append(ctx, "opt", ledger.Any, contact(10)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-live:
	case <-time.After(10 * time.Second):
		t.Fatal("the subscription never delivered a live event")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("cancelled subscribe returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancel did not stop Subscribe")
	}
}

func testHashChain(t *testing.T, l ledger.Ledger) {
	ctx := ctxT(t)
	for i := range 30 {
		if _, err := l.Append(ctx, fmt.Sprintf("chain-%d", i%3), ledger.Any, contact(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Append(ctx, "chain-0", ledger.Any, contacts(3)...); err != nil {
		t.Fatal(err)
	}
	for s := range 3 {
		evs, err := l.Read(ctx, fmt.Sprintf("chain-%d", s), 1)
		if err != nil {
			t.Fatal(err)
		}
		prev := ""
		for _, e := range evs {
			if e.PrevHash != prev {
				t.Fatalf("stream chain-%d revision %d: prev_hash %q, previous hash %q", s, e.Revision, e.PrevHash, prev)
			}
			if e.Hash != events.HashOf(e.Raw) {
				t.Fatalf("stream chain-%d revision %d: hash does not match the stored bytes", s, e.Revision)
			}
			prev = e.Hash
		}
	}
	rep, err := ledger.Verify(ctx, l, nil)
	if err != nil || rep.Events != 33 || rep.Streams != 3 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

func testStreamNames(t *testing.T, l ledger.Ledger) {
	ctx := ctxT(t)
	for _, name := range []string{"", "a b", "a.b", "a>b", "a*", strings.Repeat("x", 300), "é"} {
		if _, err := l.Append(ctx, name, ledger.Any, contact(0)); !errors.Is(err, ledger.ErrInvalidEvent) {
			t.Fatalf("stream name %q: %v", name, err)
		}
	}
}
