package jetstream

import "fmt"

// HighWater records, outside JetStream's own files, the last position of
// the ledger stream acknowledged to a caller (see natsembed.HighWater): a
// ledger that later ends below it lost acknowledged events, and its
// positions must not be reused silently.
type HighWater interface {
	// Mark records position as acknowledged; it is called before the
	// callers of the appends up to it are answered.
	Mark(position uint64) error
}

// markWritten records the highest position of the successful writes; if
// that fails they are reported as failed (written, mark not recorded).
func (s *Store) markWritten(ws []written) {
	if s.cfg.HighWater == nil {
		return
	}
	var top uint64
	for _, w := range ws {
		if w.err == nil && w.last > top {
			top = w.last
		}
	}
	if top == 0 {
		return
	}
	if err := s.cfg.HighWater.Mark(top); err != nil {
		err = fmt.Errorf("written but its high-water mark not recorded: %w", err)
		for i := range ws {
			if ws[i].err == nil {
				ws[i].err = err
			}
		}
	}
}
