package tests

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream"
	"github.com/relais-health/relais/infra/natsembed"
	"github.com/relais-health/relais/internal/poll"
)

// Killing the server (kill -9) in the middle of a stream of appends loses
// nothing that was acknowledged, duplicates nothing, and leaves every hash
// chain intact.
func TestKill9DuringAppendsLosesNothingAcknowledged(t *testing.T) {
	data := t.TempDir()
	srv := startServe(t, data) // strict durability is the default

	acked, attempted := appendUntilKilled(t, srv)
	if len(acked) < 100 {
		t.Fatalf("only %d appends acknowledged before the kill; the test did not exercise much", len(acked))
	}
	t.Logf("%d appends acknowledged, %d attempted before kill -9", len(acked), attempted)

	srv2 := startServe(t, data)
	nc := srv2.natsConnect(t)
	defer nc.Close()
	ctx := context.Background()
	st, err := jetstream.Open(ctx, nc, jetstream.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	seen := map[string]int{}
	err = st.Subscribe(ctx, 1, func(_ context.Context, e events.Event) error {
		seen[e.ID]++
		return nil
	}, ledger.StopAtHead())
	if err != nil {
		t.Fatal(err)
	}
	for id := range acked {
		if seen[id] != 1 {
			t.Errorf("acknowledged event %s found %d times after restart", id, seen[id])
		}
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("event %s stored %d times", id, n)
		}
	}

	out, stderr, code := runRelais(t, "verify", "--data", data)
	if code != 0 || !strings.HasPrefix(out, "ok:") {
		t.Fatalf("relais verify after kill -9: exit %d\n%s%s", code, out, stderr)
	}
}

// appendUntilKilled runs 16 writers against the server's NATS, kills the
// server once enough appends are acknowledged, and returns the ids of every
// acknowledged event.
func appendUntilKilled(t *testing.T, srv *server) (map[string]bool, int) {
	t.Helper()
	nc := srv.natsConnect(t, nats.MaxReconnects(0))
	defer nc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	y, err := natsembed.NewStreamSyncer(srv.Data, jetstream.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	st, err := jetstream.Open(ctx, nc, jetstream.Config{Timeout: 2 * time.Second, Syncer: y})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	var mu sync.Mutex
	acked := map[string]bool{}
	attempted := 0
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("client-crash-%d", w)
			for rev := int64(0); ctx.Err() == nil; rev++ {
				e := events.MustNew(&events.ContactMade{ClientID: stream, StaffID: "cm-1", Channel: "phone", At: time.Now()},
					events.Actor{ID: "cm-1", Role: events.RoleCaseManager})
				mu.Lock()
				attempted++
				mu.Unlock()
				if _, err := st.Append(ctx, stream, rev, e); err != nil {
					if !errors.Is(err, ledger.ErrUnavailable) && ctx.Err() == nil && !errors.Is(err, ledger.ErrClosed) {
						t.Logf("writer %d: %v", w, err)
					}
					return
				}
				mu.Lock()
				acked[e.ID] = true
				mu.Unlock()
			}
		}()
	}
	poll.CheckFor(t, 30*time.Second, 5*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 500 {
			return fmt.Errorf("%d acknowledged", len(acked))
		}
		return nil
	})
	srv.kill(t)
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	out := make(map[string]bool, len(acked))
	for id := range acked {
		out[id] = true
	}
	return out, attempted
}
