package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream"
	"github.com/relais-health/relais/infra/natsembed"
	"github.com/relais-health/relais/internal/poll"
)

// shortWindow is the duplicate window of the ledger in these tests: long
// enough for the index to keep up on a loaded machine, short enough to
// pass it in a test.
const shortWindow = time.Second

// windowEnv is an embedded server whose ledger stream has a short
// duplicate window, and a store on it; restart reopens both on the same
// directory.
type windowEnv struct {
	t   *testing.T
	dir string
	srv *natsembed.Server
	nc  *nats.Conn
	st  *jetstream.Store
}

func startWindow(t *testing.T) *windowEnv {
	e := &windowEnv{t: t, dir: t.TempDir()}
	e.start()
	t.Cleanup(e.stop)
	return e
}

func (e *windowEnv) start() {
	t := e.t
	t.Helper()
	srv, err := natsembed.Start(natsembed.Config{DataDir: e.dir, Port: -1, NoListen: true})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(srv.ClientURL(), nats.InProcessServer(srv))
	if err != nil {
		srv.Shutdown()
		t.Fatal(err)
	}
	e.srv, e.nc = srv, nc
	st, err := jetstream.Open(context.Background(), nc, jetstream.Config{DuplicateWindow: shortWindow})
	if err != nil {
		t.Fatal(err)
	}
	e.st = st
	led, err := e.js(t).Stream(context.Background(), jetstream.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if info := led.CachedInfo(); info.Config.Duplicates != shortWindow {
		t.Fatalf("ledger duplicate window %v, want %v", info.Config.Duplicates, shortWindow)
	}
}

func (e *windowEnv) stop() {
	if e.st != nil {
		e.st.Close()
		e.st = nil
	}
	if e.nc != nil {
		e.nc.Close()
		e.nc = nil
	}
	if e.srv != nil {
		e.srv.Shutdown()
		e.srv = nil
	}
}

func (e *windowEnv) restart() {
	e.stop()
	e.start()
}

// codeWrongLastMsgID is JetStream's "wrong last msg ID" error.
const codeWrongLastMsgID = 10070

// waitForgotten waits until JetStream's duplicate window no longer holds
// id, without writing anything: a publish carrying id and an expected last
// message id that never matches is refused as a duplicate while JetStream
// remembers id, and for the wrong last message id once it has forgotten.
func waitForgotten(t *testing.T, nc *nats.Conn, id string) {
	t.Helper()
	js, err := njs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	poll.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		m := nats.NewMsg(jetstream.SubjectPrefix + "window-probe")
		m.Header.Set(njs.MsgIDHeader, id)
		m.Header.Set(njs.ExpectedLastMsgIDHeader, "no-such-message-id")
		ack, err := js.PublishMsg(context.Background(), m)
		var apiErr *njs.APIError
		switch {
		case err == nil && ack.Duplicate:
			return fmt.Errorf("JetStream still remembers %s (window %v)", id, shortWindow)
		case errors.As(err, &apiErr) && apiErr.ErrorCode == codeWrongLastMsgID:
			return nil
		case err == nil:
			t.Fatalf("the window probe was written at position %d", ack.Sequence)
		}
		return fmt.Errorf("window probe: %w", err)
	})
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func idNote(n int) events.Event {
	return events.MustNew(&events.ContactMade{ClientID: "c1", StaffID: "cm-1", Channel: "phone",
		At: time.Date(2026, 1, 1, 0, 0, n, 0, time.UTC), Note: fmt.Sprint("note ", n)},
		events.Actor{ID: "test", Role: "admin"})
}

func streamLen(t *testing.T, st *jetstream.Store, stream string) int {
	t.Helper()
	evs, err := st.Read(context.Background(), stream, 1)
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// TestSameIDBeyondTheWindowReturnsTheOriginal: an append retried after
// JetStream's duplicate window has passed (and after a restart, and after
// on another Relais instance) returns the original result in every
// expected-revision mode, and writes nothing.
func TestSameIDBeyondTheWindowReturnsTheOriginal(t *testing.T) {
	tests := []struct {
		name string
		// before is appended first (at NoStream) when set.
		before   bool
		expected int64
		events   int
		restart  bool
		// elsewhere retries on a second store (another Relais instance on
		// the same ledger), opened after the first append.
		elsewhere bool
	}{
		{name: "any", expected: ledger.Any, events: 1},
		{name: "any, a batch", expected: ledger.Any, events: 3},
		{name: "new stream", expected: ledger.NoStream, events: 1},
		{name: "exact revision", before: true, expected: 1, events: 2},
		{name: "any, after a restart", expected: ledger.Any, events: 1, restart: true},
		{name: "exact revision, after a restart", before: true, expected: 1, events: 1, restart: true},
		{name: "any, on another instance", expected: ledger.Any, events: 2, elsewhere: true},
		{name: "exact revision, on another instance", before: true, expected: 1, events: 1, elsewhere: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := startWindow(t)
			ctx := ctxT(t)
			const stream = "retry"
			if tt.before {
				if _, err := env.st.Append(ctx, stream, ledger.NoStream, idNote(100)); err != nil {
					t.Fatal(err)
				}
			}
			evs := make([]events.Event, tt.events)
			for i := range evs {
				evs[i] = idNote(i)
			}
			first, err := env.st.Append(ctx, stream, tt.expected, evs...)
			if err != nil {
				t.Fatal(err)
			}
			if first.Duplicate {
				t.Fatalf("the first append is reported as a duplicate: %+v", first)
			}
			// Something after it, so the stream has moved on.
			if _, err := env.st.Append(ctx, "other", ledger.Any, idNote(200)); err != nil {
				t.Fatal(err)
			}
			if tt.restart {
				env.restart()
			}
			retrier := env.st
			if tt.elsewhere {
				other, err := jetstream.Open(ctx, env.nc, jetstream.Config{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { other.Close() })
				retrier = other
			}
			waitForgotten(t, env.nc, evs[len(evs)-1].ID)
			again, err := retrier.Append(ctx, stream, tt.expected, evs...)
			if err != nil {
				t.Fatalf("retry beyond the window: %v", err)
			}
			if again.Position != first.Position || again.Revision != first.Revision || !again.Duplicate {
				t.Fatalf("retry beyond the window: position %d revision %d duplicate %v, want the original position %d revision %d, duplicate",
					again.Position, again.Revision, again.Duplicate, first.Position, first.Revision)
			}
			want := tt.events
			if tt.before {
				want++
			}
			if n := streamLen(t, env.st, stream); n != want {
				t.Fatalf("stream %s holds %d events after the retry, want %d (nothing appended)", stream, n, want)
			}
		})
	}
}

func (e *windowEnv) js(t *testing.T) njs.JetStream {
	t.Helper()
	js, err := njs.New(e.nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestSameIDElsewhereBeyondTheWindowIsRefused: beyond the window, the same
// ids at another revision or in another stream append nothing.
func TestSameIDElsewhereBeyondTheWindowIsRefused(t *testing.T) {
	env := startWindow(t)
	ctx := ctxT(t)
	e := idNote(1)
	if _, err := env.st.Append(ctx, "home", ledger.NoStream, e); err != nil {
		t.Fatal(err)
	}
	if _, err := env.st.Append(ctx, "home", 1, idNote(2)); err != nil {
		t.Fatal(err)
	}
	waitForgotten(t, env.nc, e.ID)
	tests := []struct {
		name     string
		stream   string
		expected int64
		want     error
	}{
		{"a stale revision is a conflict", "home", 1, ledger.ErrWrongRevision},
		{"at the head, the id is already recorded", "home", 2, ledger.ErrInvalidEvent},
		{"another stream, any", "away", ledger.Any, ledger.ErrInvalidEvent},
		{"another stream, new", "away", ledger.NoStream, ledger.ErrInvalidEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := env.st.Append(ctx, tt.stream, tt.expected, e)
			if !errors.Is(err, tt.want) {
				t.Fatalf("append %s at %d: position %d revision %d, %v; want %v", tt.stream, tt.expected, res.Position, res.Revision, err, tt.want)
			}
		})
	}
	if n := streamLen(t, env.st, "home"); n != 2 {
		t.Fatalf("home holds %d events, want 2", n)
	}
	if _, err := env.st.Read(ctx, "away", 1); !errors.Is(err, ledger.ErrStreamNotFound) {
		t.Fatalf("away: %v, want it empty", err)
	}
}

// TestConcurrentSameNewIDGivesOneEvent: the same new event id appended at
// once by many callers, to one stream or to several, in any mode, lands
// once.
func TestConcurrentSameNewIDGivesOneEvent(t *testing.T) {
	tests := []struct {
		name     string
		streams  int
		expected int64
	}{
		{"one stream, any", 1, ledger.Any},
		{"one stream, new", 1, ledger.NoStream},
		{"many streams, new", 8, ledger.NoStream},
		{"many streams, any", 8, ledger.Any},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := startWindow(t)
			ctx := ctxT(t)
			e := idNote(7)
			const callers = 8
			var wg sync.WaitGroup
			results := make([]ledger.Result, callers)
			errs := make([]error, callers)
			for i := range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i], errs[i] = env.st.Append(ctx, fmt.Sprintf("s-%d", i%tt.streams), tt.expected, e)
				}()
			}
			wg.Wait()
			landed := map[uint64]bool{}
			for i := range callers {
				switch {
				case errs[i] == nil:
					landed[results[i].Position] = true
				case !errors.Is(errs[i], ledger.ErrInvalidEvent):
					t.Fatalf("caller %d: %v", i, errs[i])
				}
			}
			var holding []uint64
			err := env.st.Subscribe(ctx, 1, func(_ context.Context, got events.Event) error {
				if got.ID == e.ID {
					holding = append(holding, got.Position)
				}
				return nil
			}, ledger.StopAtHead())
			if err != nil {
				t.Fatal(err)
			}
			if len(holding) != 1 || len(landed) != 1 || !landed[holding[0]] {
				t.Fatalf("event id %s is at positions %v in the ledger; callers were told %v; want one position", e.ID, holding, landed)
			}
		})
	}
}

// TestIndexKeepsUpWhenIdle: with nothing appended for longer than the
// window, appends are still accepted (the indexer says it covers the
// ledger).
func TestIndexKeepsUpWhenIdle(t *testing.T) {
	env := startWindow(t)
	ctx := ctxT(t)
	e := idNote(1)
	if _, err := env.st.Append(ctx, "idle", ledger.Any, e); err != nil {
		t.Fatal(err)
	}
	waitForgotten(t, env.nc, e.ID)
	if _, err := env.st.Append(ctx, "idle", 1, idNote(2)); err != nil {
		t.Fatalf("append after an idle window: %v", err)
	}
	if _, err := uuid.Parse(e.ID); err != nil {
		t.Fatal(err)
	}
}
