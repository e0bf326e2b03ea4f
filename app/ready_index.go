package app

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// waitIndex waits, after the projections, until the ledger's event-id
// index has read the ledger (every start reads its ids once: an append
// before that would wait for it), logging its progress every `every` and
// failing with ErrStartStuck when it makes no progress for stall.
func (a *App) waitIndex(ctx context.Context, stall, every time.Duration) error {
	if a.b == nil || a.b.Store == nil {
		return nil
	}
	st := a.b.Store
	head, err := st.Head(ctx)
	if err != nil {
		return fmt.Errorf("event-id index: ledger head at start: %w", err)
	}
	done := make(chan error, 1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { done <- st.WaitIndexed(wctx) }()
	last, moved, logged := st.IndexProgress(), time.Now(), time.Now()
	tick := time.NewTicker(min(every, stall, 100*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
		}
		pos := st.IndexProgress()
		if pos != last {
			last, moved = pos, time.Now()
		}
		a.start.set(fmt.Sprintf("reading the ledger's event ids: %d/%d", pos, head))
		if time.Since(logged) >= every {
			logged = time.Now()
			a.log.Info("waiting for the event-id index", zap.Uint64("position", pos), zap.Uint64("head", head))
		}
		if time.Since(moved) > stall {
			err := fmt.Errorf("%w: the event-id index made no progress for %v at position %d of %d (is the event after it unreadable?)", ErrStartStuck, stall, pos, head)
			a.start.set(err.Error())
			return err
		}
	}
}
