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
	// ErrOutcomeUnknown: an append was sent but its answer never came (a
	// publish timeout, a caller's deadline, a write not made durable): it
	// may or may not have landed. Retrying with the same event ids is safe
	// (idempotence by event id). It also matches ErrUnavailable.
	ErrOutcomeUnknown = errors.New("outcome unknown, retry with the same id")
	// ErrClosed: the ledger was closed.
	ErrClosed = errors.New("ledger closed")
	// ErrNoLedger: where a ledger was expected there is none (no data
	// directory, no ledger stream: never created, or deleted).
	ErrNoLedger = errors.New("no ledger")
	// ErrEmptyLedger: the ledger holds no event where events were expected.
	ErrEmptyLedger = errors.New("empty ledger")
	// ErrBadSealKey: a seal key (file) cannot be used.
	ErrBadSealKey = errors.New("bad seal key")
	// ErrNotSealed: an event's seal is missing or does not match the key
	// ring: it did not come through Relais's append path (or the key is
	// the wrong one).
	ErrNotSealed = errors.New("not sealed by Relais")
	// ErrSealKeyRequired: the ledger's events are sealed, and appending
	// without the seal key would write events verify rejects.
	ErrSealKeyRequired = errors.New("the ledger is sealed: appending needs its seal key (--seal-key)")
	// ErrForeignSealKey: the ledger is sealed with a key that is not in the
	// configured key ring.
	ErrForeignSealKey = errors.New("the ledger is sealed with another key")
	// ErrStreamDamaged: a stream holds a stored record that cannot be read
	// (it fails its storage checksum) and whose loss no operator has
	// recorded (`relais repair`): the stream takes no new event. The error
	// is a *DamagedError naming the stream and position.
	ErrStreamDamaged = errors.New("stream damaged")
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

// OutcomeUnknown wraps cause as ErrOutcomeUnknown (and ErrUnavailable, so
// callers that retry transient failures retry it too).
func OutcomeUnknown(cause error) error {
	return fmt.Errorf("%w (%w): %w", ErrOutcomeUnknown, ErrUnavailable, cause)
}
