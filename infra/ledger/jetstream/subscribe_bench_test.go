package jetstream_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
)

// BenchmarkSubscribeReplay reads a whole ledger of 20,000 events (200
// streams) with Subscribe and StopAtHead, the read path of every replay,
// and reports time and allocations per event.
func BenchmarkSubscribeReplay(b *testing.B) {
	ctx := context.Background()
	env := jstest.Start(b, jstest.Options{})
	const streams, perStream = 200, 100
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("client-%d", s)
			for i := range perStream {
				if _, err := env.Store.Append(ctx, id, int64(i), flag(id)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	const total = streams * perStream
	b.ResetTimer()
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		err := env.Store.Subscribe(ctx, 1, func(_ context.Context, e events.Event) error {
			n++
			return nil
		}, ledger.StopAtHead())
		if err != nil || n != total {
			b.Fatalf("read %d of %d: %v", n, total, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*total), "ns/event")
}
