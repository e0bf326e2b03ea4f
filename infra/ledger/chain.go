package ledger

import (
	"fmt"
	"time"

	"github.com/relais-health/relais/events"
)

// Head is what a backend must know of a stream to append to it: its revision
// and the hash of its last event ("" for an empty stream).
type Head struct {
	Revision uint64
	Hash     string
}

// Validate checks every event before anything is written, wrapping the
// failure in ErrInvalidEvent with the event's index and the field at fault,
// and puts each payload in canonical JSON (so evs is modified).
func Validate(stream string, evs []events.Event) error {
	if !events.ValidStreamName(stream) {
		return fmt.Errorf("%w: stream name %q: 1-200 letters, digits, '-' or '_'", ErrInvalidEvent, stream)
	}
	if len(evs) == 0 {
		return fmt.Errorf("%w: append to %s: no events", ErrInvalidEvent, stream)
	}
	seen := make(map[string]bool, len(evs))
	for i := range evs {
		if err := evs[i].Validate(); err != nil {
			return fmt.Errorf("%w: event %d (%s): %w", ErrInvalidEvent, i, evs[i].Type, err)
		}
		if err := evs[i].Canonicalize(); err != nil {
			return fmt.Errorf("%w: event %d (%s): %w", ErrInvalidEvent, i, evs[i].Type, err)
		}
		if seen[evs[i].ID] {
			return fmt.Errorf("%w: event %d: id %s appears twice in one append", ErrInvalidEvent, i, evs[i].ID)
		}
		seen[evs[i].ID] = true
	}
	return nil
}

// Seal fills the ledger-owned fields of evs (stream, revision, recorded-at,
// previous hash, hash) so they follow head, and returns the bytes to store
// for each. The events must already be validated.
func Seal(stream string, head Head, now time.Time, evs []events.Event) ([][]byte, error) {
	bodies := make([][]byte, len(evs))
	prev := head.Hash
	for i := range evs {
		e := &evs[i]
		e.Stream = stream
		e.Revision = head.Revision + uint64(i) + 1
		e.RecordedAt = now
		e.PrevHash = prev
		b, err := e.Encode()
		if err != nil {
			return nil, fmt.Errorf("%w: event %d: %w", ErrInvalidEvent, i, err)
		}
		e.Hash = events.HashOf(b)
		e.Raw = b
		bodies[i] = b
		prev = e.Hash
	}
	return bodies, nil
}

// SameIDs reports whether stored (the events found in the stream after the
// expected revision) begin with exactly the ids of evs: a retried append
// that already landed.
func SameIDs(stored, evs []events.Event) bool {
	if len(stored) < len(evs) {
		return false
	}
	for i := range evs {
		if stored[i].ID != evs[i].ID {
			return false
		}
	}
	return true
}

// ResultOf builds the Result of an append from the stored events.
func ResultOf(stream string, evs []events.Event) Result {
	last := evs[len(evs)-1]
	return Result{Stream: stream, Revision: last.Revision, Position: last.Position, Events: evs}
}
