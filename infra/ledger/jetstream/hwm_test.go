package jetstream_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream"
	"github.com/relais-health/relais/infra/natsembed"
)

// markRecorder is a HighWater that remembers its marks, or fails.
type markRecorder struct {
	mu    sync.Mutex
	marks []uint64
	err   error
}

func (m *markRecorder) Mark(p uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.marks = append(m.marks, p)
	return nil
}

func (m *markRecorder) top() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var t uint64
	for _, p := range m.marks {
		t = max(t, p)
	}
	return t
}

func openWithHighWater(t *testing.T, hw jetstream.HighWater, strict bool) *jetstream.Store {
	t.Helper()
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
	cfg := jetstream.Config{HighWater: hw}
	if strict {
		cfg.Syncer = srv.StreamSyncer(jetstream.StreamName)
	}
	st, err := jetstream.Open(context.Background(), nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Every acknowledged position is marked before the caller hears of it.
func TestAppendMarksTheHighWaterBeforeAnswering(t *testing.T) {
	for _, strict := range []bool{false, true} {
		t.Run(map[bool]string{false: "relaxed", true: "strict"}[strict], func(t *testing.T) {
			ctx := context.Background()
			rec := &markRecorder{}
			st := openWithHighWater(t, rec, strict)
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for i := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := st.Append(ctx, "client-"+string(rune('a'+i)), ledger.Any, flag("x"), flag("x"))
					if err != nil {
						errs <- err
						return
					}
					if top := rec.top(); top < res.Position {
						errs <- errors.New("answered before its position was marked")
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			head, _ := st.Head(ctx)
			if rec.top() != head {
				t.Errorf("mark %d, head %d", rec.top(), head)
			}
		})
	}
}

func TestAppendFailsWhenTheMarkCannotBeRecorded(t *testing.T) {
	rec := &markRecorder{err: errors.New("disk full")}
	st := openWithHighWater(t, rec, false)
	if _, err := st.Append(context.Background(), "client-a", ledger.NoStream, flag("a")); err == nil {
		t.Fatal("append acknowledged without its high-water mark")
	}
}
