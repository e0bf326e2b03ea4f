package ledger

import (
	"context"
	"fmt"

	"github.com/relais-health/relais/events"
)

// BrokenLinkError names the first event whose chain does not hold.
type BrokenLinkError struct {
	Position uint64
	Stream   string
	Revision uint64
	EventID  string
	Reason   string
}

func (e *BrokenLinkError) Error() string {
	if e.EventID == "" {
		return fmt.Sprintf("broken chain at position %d: %s", e.Position, e.Reason)
	}
	return fmt.Sprintf("broken chain at position %d (stream %s revision %d, event %s): %s",
		e.Position, e.Stream, e.Revision, e.EventID, e.Reason)
}

// VerifyReport summarises a verification run.
type VerifyReport struct {
	Events  uint64
	Streams int
	Head    uint64
}

// Verifier checks events in global order: every stored body hashes to its
// recorded hash, every event points at its stream's previous hash, revisions
// count up by one, and global positions have no gap.
type Verifier struct {
	// Contiguous requires global positions to follow each other with no gap
	// (true for JetStream; KurrentDB's $all positions have gaps).
	Contiguous bool
	heads      map[string]Head
	lastPos    uint64
	report     VerifyReport
}

// NewVerifier starts a verification from global position 1.
func NewVerifier() *Verifier { return &Verifier{Contiguous: true, heads: map[string]Head{}} }

// Check verifies the next event; the first failure is a *BrokenLinkError.
func (v *Verifier) Check(e events.Event) error {
	fail := func(format string, args ...any) error {
		return &BrokenLinkError{Position: e.Position, Stream: e.Stream, Revision: e.Revision, EventID: e.ID, Reason: fmt.Sprintf(format, args...)}
	}
	if v.Contiguous && e.Position != v.lastPos+1 {
		return &BrokenLinkError{Position: v.lastPos + 1, Reason: fmt.Sprintf(
			"event missing from the global sequence: after position %d the next stored event is %d (stream %s revision %d); a record was removed or failed its storage checksum",
			v.lastPos, e.Position, e.Stream, e.Revision)}
	}
	if e.Position <= v.lastPos {
		return fail("global position does not increase: previous was %d", v.lastPos)
	}
	if got := events.HashOf(e.Raw); got != e.Hash {
		return fail("stored bytes hash to %s, recorded hash is %s", got, e.Hash)
	}
	h := v.heads[e.Stream]
	if e.Revision != h.Revision+1 {
		return fail("revision %d follows %d", e.Revision, h.Revision)
	}
	if e.PrevHash != h.Hash {
		return fail("prev_hash %s, previous event's hash is %s", e.PrevHash, h.Hash)
	}
	v.heads[e.Stream] = Head{Revision: e.Revision, Hash: e.Hash}
	v.lastPos = e.Position
	v.report.Events++
	return nil
}

// Report returns what has been verified so far.
func (v *Verifier) Report() VerifyReport {
	r := v.report
	r.Streams = len(v.heads)
	r.Head = v.lastPos
	return r
}

// Verify walks the whole ledger through Subscribe and checks every link.
// progress, when non-nil, is called with each verified position.
func Verify(ctx context.Context, l Ledger, progress func(pos uint64)) (VerifyReport, error) {
	v := NewVerifier()
	if c, ok := l.(interface{ ContiguousPositions() bool }); ok {
		v.Contiguous = c.ContiguousPositions()
	}
	err := l.Subscribe(ctx, 1, func(_ context.Context, e events.Event) error {
		if err := v.Check(e); err != nil {
			return err
		}
		if progress != nil {
			progress(e.Position)
		}
		return nil
	}, StopAtHead())
	if err != nil {
		return v.Report(), err
	}
	// Events missing at the end (the last records lost) are a break too.
	if head, herr := l.Head(ctx); herr == nil && v.Contiguous && v.lastPos < head {
		return v.Report(), &BrokenLinkError{Position: v.lastPos + 1, Reason: fmt.Sprintf(
			"events %d to %d are missing at the end of the ledger (head is %d)", v.lastPos+1, head, head)}
	}
	return v.Report(), nil
}
