// Package ledger defines the Relais ledger port: append to a stream with an
// expected revision, read a stream, subscribe to everything in global order.
// Backends live in sub-packages
// (jetstream, eventstore); ledgertest is the conformance suite they all pass.
package ledger

import (
	"context"

	"github.com/relais-health/relais/events"
)

// Expected revisions with a special meaning. Any other value n >= 0 means
// "the stream holds exactly n events"; NoStream is the same as 0.
const (
	// Any skips the concurrency check.
	Any int64 = -1
	// NoStream requires the stream to be empty (new).
	NoStream int64 = 0
)

// Result is what an append recorded: the events as stored (with stream,
// revision, global position and hashes filled in).
type Result struct {
	Stream string
	// Revision is the stream's revision after the append (its last event's).
	Revision uint64
	// Position is the global position of the last appended event.
	Position uint64
	Events   []events.Event
	// Duplicate: the events were already recorded (a retry of an append
	// that landed, whenever it came); nothing was written, and the rest is
	// the original append's result.
	Duplicate bool
}

// Ledger is the port every backend implements.
type Ledger interface {
	// Append writes evs to stream atomically if the stream is at revision
	// expected (or expected is Any). Appending events whose ids already stand
	// in the stream at that revision (or with Any) returns the original
	// Result, with Duplicate set, however long after the original it comes
	// (idempotence by event id). The same ids anywhere else are refused: an
	// event id is recorded once.
	Append(ctx context.Context, stream string, expected int64, evs ...events.Event) (Result, error)
	// Read returns the stream's events with revision >= from (revisions start
	// at 1). A stream with no events gives ErrStreamNotFound.
	Read(ctx context.Context, stream string, from uint64) ([]events.Event, error)
	// Subscribe calls fn for every event with global position >= from, in
	// global order: the history first, then live events, without gap or
	// duplicate. It returns when ctx ends (nil), when fn fails (its error) or,
	// with StopAtHead, once it has delivered what was there when it started.
	Subscribe(ctx context.Context, from uint64, fn func(context.Context, events.Event) error, opts ...SubscribeOption) error
	// Head returns the global position of the last event (0 when empty).
	Head(ctx context.Context) (uint64, error)
	Close() error
}

// SubscribeOption adjusts Subscribe.
type SubscribeOption func(*SubscribeOptions)

// SubscribeOptions is the resolved set of options; backends read it.
type SubscribeOptions struct {
	StopAtHead bool
	// Until, when non-zero, stops after the event at this global position.
	Until uint64
}

// StopAtHead makes Subscribe return nil once every event that existed when it
// started has been delivered (a replay rather than a live feed).
func StopAtHead() SubscribeOption { return func(o *SubscribeOptions) { o.StopAtHead = true } }

// Until makes Subscribe return nil after delivering global position pos.
func Until(pos uint64) SubscribeOption { return func(o *SubscribeOptions) { o.Until = pos } }

// ApplySubscribeOptions resolves opts; for backends.
func ApplySubscribeOptions(opts []SubscribeOption) SubscribeOptions {
	var o SubscribeOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}
