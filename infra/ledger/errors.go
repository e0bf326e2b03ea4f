package ledger

import (
	"errors"
	"fmt"
)

var (
	// ErrWrongRevision: the stream is not at the expected revision.
	ErrWrongRevision = errors.New("wrong expected revision")
	// ErrStreamNotFound: the stream has no events.
	ErrStreamNotFound = errors.New("stream not found")
	// ErrInvalidEvent: an event failed validation (or is too large); nothing
	// was written.
	ErrInvalidEvent = errors.New("invalid event")
	// ErrUnavailable: the backend cannot be reached or cannot write (down,
	// disk full, timeout). Whether a timed-out append landed is unknown;
	// retrying it with the same event ids and expected revision is safe.
	ErrUnavailable = errors.New("ledger unavailable")
	// ErrClosed: the ledger was closed.
	ErrClosed = errors.New("ledger closed")
)

// WrongRevisionError carries the expected and actual revisions; it matches
// ErrWrongRevision with errors.Is.
type WrongRevisionError struct {
	Stream   string
	Expected int64
	Actual   uint64
}

func (e *WrongRevisionError) Error() string {
	return fmt.Sprintf("stream %s: %v: expected %d, stream is at %d", e.Stream, ErrWrongRevision, e.Expected, e.Actual)
}

// Is matches ErrWrongRevision.
func (e *WrongRevisionError) Is(target error) bool { return target == ErrWrongRevision }
