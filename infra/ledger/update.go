package ledger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/relais-health/relais/events"
)

// Decide looks at a stream's history and returns the events to append, or an
// error to refuse the command. It must be a pure function of history: Update
// may call it again after a concurrent write.
type Decide func(history []events.Event) ([]events.Event, error)

// Appender is the slice of Ledger that Update needs.
type Appender interface {
	Append(ctx context.Context, stream string, expected int64, evs ...events.Event) (Result, error)
	Read(ctx context.Context, stream string, from uint64) ([]events.Event, error)
}

// MaxUpdateAttempts bounds the optimistic-concurrency retries of Update.
const MaxUpdateAttempts = 25

// Update loads stream, lets decide choose the new events, and appends them
// with the expected revision, retrying on a concurrent write. A decide that
// returns no events appends nothing and returns a zero Result.
func Update(ctx context.Context, l Appender, stream string, decide Decide) (Result, error) {
	var lastErr error
	for attempt := range MaxUpdateAttempts {
		if attempt > 0 {
			// Back off a little, with jitter, so contending writers spread out.
			d := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 6)))
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return Result{}, fmt.Errorf("update %s: %w", stream, ctx.Err())
			}
		}
		history, err := l.Read(ctx, stream, 1)
		if err != nil && !errors.Is(err, ErrStreamNotFound) {
			return Result{}, fmt.Errorf("load %s: %w", stream, err)
		}
		evs, err := decide(history)
		if err != nil {
			return Result{}, err
		}
		// The revision of the last event read, not the number of events: a
		// stream with a record lost and repaired (ledger.record_damaged)
		// has fewer readable events than revisions.
		var rev uint64
		if n := len(history); n > 0 {
			rev = history[n-1].Revision
		}
		if len(evs) == 0 {
			return Result{Stream: stream, Revision: rev}, nil
		}
		res, err := l.Append(ctx, stream, int64(rev), evs...)
		if err == nil {
			return res, nil
		}
		if !errors.Is(err, ErrWrongRevision) {
			return Result{}, err
		}
		lastErr = err
	}
	return Result{}, fmt.Errorf("update %s after %d attempts: %w", stream, MaxUpdateAttempts, lastErr)
}
