package jetstream_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
)

// When another instance moved a stream, the group the store on a follower
// writes as one atomic batch is refused as a whole and each append is
// written again on its own. Those single writes succeed (or, for the moved
// stream, are retried on its new head): none fails with "invalid jetstream
// publish response", which is what the batch's id and sequence headers,
// left on the messages, made the server answer (it took each for the start
// of a new batch).
func TestRefusedBatchIsWrittenAgainOneByOne(t *testing.T) {
	ctx := context.Background()
	c := jstest.StartCluster(t)
	leader, open := storesOnNodes(t, c)
	follower, other := open((leader+1)%3), open(leader)
	const rounds, writers = 10, 64
	for round := range rounds {
		// The follower's store caches the head of "moved"; the other
		// instance then moves it, so the follower's next batch is refused.
		if _, err := follower.Append(ctx, "moved", ledger.Any, flag("f")); err != nil {
			t.Fatalf("round %d: append on the follower: %v", round, err)
		}
		if _, err := other.Append(ctx, "moved", ledger.Any, flag("o")); err != nil {
			t.Fatalf("round %d: append on the other instance: %v", round, err)
		}
		start := make(chan struct{})
		errs := make(chan error, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				stream := fmt.Sprintf("c-%d", w)
				if w == 0 {
					stream = "moved"
				}
				<-start
				if _, err := follower.Append(ctx, stream, ledger.Any, flag("x")); err != nil {
					errs <- fmt.Errorf("round %d: append to %s: %w", round, stream, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			return
		}
	}
	if f := follower.Stats().Failures; f != 0 {
		t.Fatalf("%d appends failed on the follower's store", f)
	}
}
