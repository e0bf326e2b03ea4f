package jetstream

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/natsembed"
	"github.com/relais-health/relais/internal/poll"
)

func note(n int) events.Event {
	return events.MustNew(&events.ContactMade{ClientID: "c1", StaffID: "cm-1", Channel: "phone",
		At: time.Date(2026, 1, 1, 0, 0, n, 0, time.UTC), Note: fmt.Sprint("note ", n)},
		events.Actor{ID: "test", Role: "admin"})
}

// TestAnIDWhoseHashCollidesIsStillAppended: the index keeps hashes of
// event ids; a new id whose hash is already indexed (another id's) is
// checked against the event stored there and appended, and the id that is
// really there is still found. Without the check, the new event would be
// refused as "already recorded".
func TestAnIDWhoseHashCollidesIsStillAppended(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := natsembed.Start(natsembed.Config{DataDir: t.TempDir(), Port: -1, NoListen: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL(), nats.InProcessServer(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	st, err := Open(ctx, nc, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stored := note(1)
	res, err := st.Append(ctx, "a", ledger.NoStream, stored)
	if err != nil {
		t.Fatal(err)
	}
	poll.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if st.idx.indexed.Load() < res.Position {
			return fmt.Errorf("indexed up to %d, want %d", st.idx.indexed.Load(), res.Position)
		}
		return nil
	})
	fresh := note(2)
	// Make fresh's hash collide: the index now says an id with its hash is
	// at the stored event's position.
	st.idx.mu.Lock()
	st.idx.first[hashID(fresh.ID)] = res.Position
	st.idx.mu.Unlock()
	got, err := st.Append(ctx, "b", ledger.NoStream, fresh)
	if err != nil {
		t.Fatalf("append of an id whose hash collides: %v", err)
	}
	if got.Duplicate || got.Position == res.Position {
		t.Fatalf("append of an id whose hash collides: %+v, want a new position", got)
	}
	found, _, err := st.lookupIDs(ctx, []events.Event{stored, fresh})
	if err != nil {
		t.Fatal(err)
	}
	if found[stored.ID] != res.Position {
		t.Fatalf("lookup of the stored id: %v, want position %d", found, res.Position)
	}
}

// BenchmarkIDIndexAdd reports the index's memory per event id.
func BenchmarkIDIndexAdd(b *testing.B) {
	const n = 1_000_000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7()).String()
	}
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		x := &idIndex{first: map[uint64]uint64{}, more: map[uint64][]uint64{}}
		for i, id := range ids {
			x.add(id, uint64(i+1))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/id")
		runtime.KeepAlive(x)
	}
}

// BenchmarkIDIndexStartup reports how fast a store opened on an existing
// ledger reads its event ids (every start does it once).
func BenchmarkIDIndexStartup(b *testing.B) {
	const n = 200_000
	ctx := context.Background()
	srv, err := natsembed.Start(natsembed.Config{DataDir: b.TempDir(), Port: -1, NoListen: true})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL(), nats.InProcessServer(srv))
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	st, err := Open(ctx, nc, Config{})
	if err != nil {
		b.Fatal(err)
	}
	st.Close()
	js, _ := jetstream.New(nc)
	body := make([]byte, 470)
	for i := range n {
		m := nats.NewMsg(subject(fmt.Sprintf("s-%d", i%1000)))
		m.Data = body
		m.Header.Set(jetstream.MsgIDHeader, uuid.Must(uuid.NewV7()).String())
		if _, err := js.PublishMsgAsync(m); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("publish did not complete")
	}
	for b.Loop() {
		start := time.Now()
		st, err := Open(ctx, nc, Config{})
		if err != nil {
			b.Fatal(err)
		}
		for st.idx.indexed.Load() < n {
			time.Sleep(time.Millisecond)
		}
		b.ReportMetric(n/time.Since(start).Seconds(), "events/s")
		st.Close()
	}
}

// WaitIndexed returns once the index has read every event the ledger held
// when the store opened (a start waits for it before saying it is ready).
func TestWaitIndexedWaitsForTheWholeLedger(t *testing.T) {
	const n = 50_000
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := natsembed.Start(natsembed.Config{DataDir: t.TempDir(), Port: -1, NoListen: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL(), nats.InProcessServer(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	st, err := Open(ctx, nc, Config{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	js, _ := jetstream.New(nc)
	for i := range n {
		m := nats.NewMsg(subject(fmt.Sprintf("s-%d", i%100)))
		m.Data = []byte("{}")
		m.Header.Set(jetstream.MsgIDHeader, uuid.Must(uuid.NewV7()).String())
		if _, err := js.PublishMsgAsync(m); err != nil {
			t.Fatal(err)
		}
	}
	<-js.PublishAsyncComplete()
	st, err = Open(ctx, nc, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	if got := st.IndexProgress(); got < n {
		t.Fatalf("WaitIndexed returned with the index at position %d of %d", got, n)
	}
}

// idEnv is an embedded server and a store on it that a test reopens.
type idEnv struct {
	t   *testing.T
	nc  *nats.Conn
	log *observer.ObservedLogs
}

func startIDEnv(t *testing.T) *idEnv {
	srv, err := natsembed.Start(natsembed.Config{DataDir: t.TempDir(), Port: -1, NoListen: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL(), nats.InProcessServer(srv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return &idEnv{t: t, nc: nc}
}

func (e *idEnv) open() *Store {
	e.t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	e.log = logs
	st, err := Open(context.Background(), e.nc, Config{Logger: zap.New(core)})
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func appendNotes(t *testing.T, st *Store, from, n int) []events.Event {
	t.Helper()
	evs := make([]events.Event, n)
	for i := range evs {
		evs[i] = note(from + i)
		if _, err := st.Append(context.Background(), fmt.Sprintf("s-%d", (from+i)%5), ledger.Any, evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return evs
}

// found looks evs up and fails unless exactly want of them are found.
func found(t *testing.T, st *Store, evs []events.Event, want int) {
	t.Helper()
	if err := st.WaitIndexed(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _, err := st.lookupIDs(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != want {
		t.Fatalf("%d of %d ids found in the index, want %d", len(got), len(evs), want)
	}
}

// The saved index is restored at start (nothing before its position is
// read again), events after its position are read from the ledger (a crash
// after a save), and a snapshot of another ledger by the same name is not
// used.
func TestTheIndexIsRestoredFromItsSnapshot(t *testing.T) {
	t.Run("after a clean stop", func(t *testing.T) {
		e := startIDEnv(t)
		st := e.open()
		before := appendNotes(t, st, 0, 20)
		found(t, st, before, 20)
		st.Close()
		st = e.open()
		defer st.Close()
		if e.log.FilterMessage("event-id index restored").Len() != 1 {
			t.Fatalf("no restore logged: %v", e.log.All())
		}
		if got := st.IndexProgress(); got < 20 {
			t.Fatalf("index at position %d once opened, want the saved 20", got)
		}
		found(t, st, before, 20)
	})
	t.Run("events after the last save", func(t *testing.T) {
		e := startIDEnv(t)
		st := e.open()
		saved := appendNotes(t, st, 0, 10)
		found(t, st, saved, 10)
		st.saveIndex(context.Background())
		after := appendNotes(t, st, 10, 10)
		found(t, st, after, 10)
		// A crash: the store never saves again.
		st.idx.saved.Store(st.idx.indexed.Load())
		st.Close()
		st = e.open()
		defer st.Close()
		found(t, st, append(saved, after...), 20)
	})
	t.Run("another ledger by the same name", func(t *testing.T) {
		e := startIDEnv(t)
		st := e.open()
		old := appendNotes(t, st, 0, 10)
		found(t, st, old, 10)
		st.Close()
		js, _ := jetstream.New(e.nc)
		if err := js.DeleteStream(context.Background(), StreamName); err != nil {
			t.Fatal(err)
		}
		st = e.open()
		fresh := appendNotes(t, st, 100, 12)
		found(t, st, fresh, 12)
		// It crashes: the old ledger's snapshot (position 10) stays.
		st.idx.saved.Store(st.idx.indexed.Load())
		st.Close()
		st = e.open()
		defer st.Close()
		found(t, st, fresh, 12)
		found(t, st, old, 0)
	})
}
