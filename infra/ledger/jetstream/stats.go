package jetstream

import "sync/atomic"

// Stats counts what the store has done since it opened.
type Stats struct {
	Appends   uint64 // appends committed
	Events    uint64 // events committed
	Batches   uint64 // JetStream writes (atomic batches or single publishes)
	Conflicts uint64 // appends refused for a wrong expected revision
	Failures  uint64 // appends that failed (unavailable, timeout)
	Syncs     uint64 // group fsyncs (with a Syncer)
}

type counters struct {
	appends, events, batches, conflicts, failures, syncs atomic.Uint64
}

// Stats returns the counters.
func (s *Store) Stats() Stats {
	return Stats{
		Appends:   s.count.appends.Load(),
		Events:    s.count.events.Load(),
		Batches:   s.count.batches.Load(),
		Conflicts: s.count.conflicts.Load(),
		Failures:  s.count.failures.Load(),
		Syncs:     s.count.syncs.Load(),
	}
}
