package jetstream_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
)

// A replay up to the head that the server stops answering for longer than
// a replay's idle wait (a stalled machine, an election) delivers every
// event once the server answers again; it never ends short of its bound
// with no error, which a caller (a rebuild, verify, the fault tests' own
// check) would take for the whole ledger.
func TestAReplayToTheHeadWaitsOutAStalledServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := jstest.StartServer(t, jstest.ServerOptions{})
	nc, err := nats.Connect(srv.ClientURL, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	st, err := jetstream.Open(ctx, nc, jetstream.Config{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	// More events than one pull fetches ahead, so that some are still on
	// the server when it stalls.
	const n = 6000
	for i := 0; i < n; i += 100 {
		evs := make([]events.Event, 100)
		for j := range evs {
			evs[j] = flag("stall")
		}
		if _, err := st.Append(ctx, "client-stall", ledger.Any, evs...); err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	got := 0
	err = st.Subscribe(ctx, 1, func(context.Context, events.Event) error {
		if got == 0 {
			srv.Node.Pause()
			time.AfterFunc(8*time.Second, srv.Node.Resume)
		}
		got++
		return nil
	}, ledger.StopAtHead())
	if err != nil || got != n {
		t.Fatalf("replay to the head across an 8 s stall: %d of %d events, %v", got, n, err)
	}
}
