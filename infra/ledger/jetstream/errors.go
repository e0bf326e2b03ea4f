package jetstream

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-health/relais/infra/ledger"
)

// JetStream error codes the ledger tells apart.
const (
	codeWrongLastSeq         = 10071 // wrong last sequence: {seq}
	codeWrongLastSeqReplica  = 10164 // wrong last sequence (replicated streams)
	codeBatchDuplicate       = 10201 // atomic publish batch contains duplicate message id
	codeDuplicateMsgConflict = 10158 // duplicate message id is in process
	codeInsufficientStorage  = 10047 // insufficient storage resources available
	codeInsufficientRes      = 10023 // insufficient resources (a full disk, measured)
	codeStorageFailed        = 10077 // message store failure
)

func apiCode(err error) jetstream.ErrorCode {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode
	}
	return 0
}

func isWrongLastSeq(err error) bool {
	c := apiCode(err)
	return c == codeWrongLastSeq || c == codeWrongLastSeqReplica
}

func isDuplicate(err error) bool {
	c := apiCode(err)
	return c == codeBatchDuplicate || c == codeDuplicateMsgConflict
}

// mapErr turns transport and server failures into ledger.ErrUnavailable,
// keeping the cause; a caller's own cancellation is returned as it is.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled):
		return err
	}
	if outcomeUnknown(err) {
		return ledger.OutcomeUnknown(err)
	}
	switch apiCode(err) {
	case codeInsufficientStorage, codeInsufficientRes, codeStorageFailed:
		return fmt.Errorf("%w: out of storage (disk full, or the JetStream storage limit reached): %w", ledger.ErrUnavailable, err)
	}
	return fmt.Errorf("%w: %w", ledger.ErrUnavailable, err)
}

// outcomeUnknown: the write was sent and no answer came (timeout), or it
// was written but not made durable: it may have landed.
func outcomeUnknown(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, errNotDurable) || errors.Is(err, ledger.ErrOutcomeUnknown)
}

// errNotDurable: written, but the fsync that makes it durable failed.
var errNotDurable = errors.New("written but not made durable")

// ErrServerNotDurable: strict durability was asked for on an external
// NATS server that does not make an append durable before acknowledging
// it, or whose setting could not be read (see CheckStrict).
var ErrServerNotDurable = errors.New("strict durability refused")

// NotDurableError is ErrServerNotDurable with its reason. Unreadable says
// the servers' sync setting could not be read (no system account access),
// as opposed to read and found not to fsync.
type NotDurableError struct {
	Reason     string
	Unreadable bool
}

func (e *NotDurableError) Error() string { return ErrServerNotDurable.Error() + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrServerNotDurable) hold.
func (e *NotDurableError) Unwrap() error { return ErrServerNotDurable }
