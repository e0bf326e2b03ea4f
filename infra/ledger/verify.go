package ledger

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/relais-health/relais/events"
)

// BrokenLinkError names the first event that fails verification: a broken
// hash chain, a gap, an event id stored twice, or an event not sealed by
// Relais.
type BrokenLinkError struct {
	Position uint64
	Stream   string
	Revision uint64
	EventID  string
	Reason   string
	// Cause is a sentinel the failure matches (ErrNotSealed), or nil.
	Cause error
}

func (e *BrokenLinkError) Error() string {
	if e.EventID == "" && e.Stream != "" {
		return fmt.Sprintf("broken chain at position %d (stream %s revision %d): %s", e.Position, e.Stream, e.Revision, e.Reason)
	}
	if e.EventID == "" {
		return fmt.Sprintf("broken chain at position %d: %s", e.Position, e.Reason)
	}
	return fmt.Sprintf("broken chain at position %d (stream %s revision %d, event %s): %s",
		e.Position, e.Stream, e.Revision, e.EventID, e.Reason)
}

// Unwrap returns the sentinel the failure matches, if any.
func (e *BrokenLinkError) Unwrap() error { return e.Cause }

// VerifyReport summarises a verification run.
type VerifyReport struct {
	Events  uint64
	Streams int
	Head    uint64
	// Sealed counts events whose seal was checked against the key ring.
	Sealed uint64
	// Unsealed counts events accepted without a checked seal: before
	// UnsealedUntil with a key ring; every event without one.
	Unsealed uint64
	// FirstSealed is the position of the first event carrying a seal (0:
	// none seen).
	FirstSealed uint64
	// UpTo is the head verify saw when it started: the ledger was verified
	// up to it; events appended since were not checked.
	UpTo uint64
	// KeyID is the sealing key's id when seals were checked.
	KeyID string
	// Demo tells the seals were checked against the public demo key.
	Demo bool
	// Repaired lists the unreadable records whose loss an operator
	// recorded (relais repair): known and audited, not a break.
	Repaired []RepairedRecord
}

// Verifier checks events in global order: every stored body hashes to its
// recorded hash, every event points at its stream's previous hash, revisions
// count up by one, global positions have no gap, no event id is stored
// twice, and (with a key ring) every event carries a seal made with it.
type Verifier struct {
	// Contiguous requires global positions to follow each other with no gap
	// (true for JetStream; KurrentDB's $all positions have gaps).
	Contiguous bool
	// Keys, when set, requires a valid seal on every event after
	// UnsealedUntil. Without it, seals cannot be checked; an event without
	// a seal after the first sealed one is still refused (Relais never
	// writes one).
	Keys *Keyring
	// UnsealedUntil: events at positions up to this one predate sealing
	// (written before the ledger had a seal key) and need no seal.
	UnsealedUntil uint64
	heads         map[string]Head
	lastIn        map[string]uint64 // each stream's last position
	ids           map[[16]byte]uint64
	lastPos       uint64
	report        VerifyReport
	dmg           damageBook
}

// NewVerifier starts a verification from global position 1.
func NewVerifier() *Verifier {
	return &Verifier{Contiguous: true, heads: map[string]Head{}, lastIn: map[string]uint64{}, ids: map[[16]byte]uint64{}}
}

// Check verifies the next event when no seal is known for it (a backend
// that stores none); the first failure is a *BrokenLinkError.
func (v *Verifier) Check(e events.Event) error { return v.CheckSealed(e, "") }

// CheckSealed verifies the next event and the seal stored beside it ("" for
// none); the first failure is a *BrokenLinkError.
func (v *Verifier) CheckSealed(e events.Event, seal string) error {
	fail := func(format string, args ...any) error {
		return &BrokenLinkError{Position: e.Position, Stream: e.Stream, Revision: e.Revision, EventID: e.ID, Reason: fmt.Sprintf(format, args...)}
	}
	if v.Contiguous && e.Position > v.lastPos+1 {
		// Records no read returns (a failed storage checksum): which
		// stream each belonged to, and whether its loss was recorded, is
		// settled by the chains that follow and by Finish.
		if !v.dmg.unreadable(v.lastPos+1, e.Position-1) {
			return &BrokenLinkError{Position: v.lastPos + 1, Reason: fmt.Sprintf(
				"events %d to %d are missing from the global sequence (the next stored event is %d, stream %s revision %d): records were removed or failed their storage checksum",
				v.lastPos+1, e.Position-1, e.Position, e.Stream, e.Revision)}
		}
	}
	if e.Position <= v.lastPos {
		return fail("global position does not increase: previous was %d", v.lastPos)
	}
	if got := events.HashOf(e.Raw); got != e.Hash {
		return fail("stored bytes hash to %s, recorded hash is %s", got, e.Hash)
	}
	if err := v.checkSeal(e, seal); err != nil {
		b := fail("%v", err)
		b.(*BrokenLinkError).Cause = ErrNotSealed
		return b
	}
	h := v.heads[e.Stream]
	switch {
	case e.Revision > h.Revision+1 && v.dmg.skip(e.Stream, h.Revision, v.lastIn[e.Stream], e.Revision, e.Position):
		// The revisions between are unreadable records of this stream: the
		// link to the last of them cannot be checked (its hash is gone).
	case e.Revision != h.Revision+1:
		return fail("revision %d follows %d", e.Revision, h.Revision)
	case e.PrevHash != h.Hash:
		return fail("prev_hash %s, previous event's hash is %s", e.PrevHash, h.Hash)
	}
	if e.Type == events.TypeRecordDamaged {
		if err := v.dmg.repaired(e); err != nil {
			return fail("%v", err)
		}
	}
	k := idKey(e.ID)
	if first, ok := v.ids[k]; ok {
		return fail("event id %s is stored twice: first at position %d, again here (an event is recorded once)", e.ID, first)
	}
	v.ids[k] = e.Position
	v.heads[e.Stream] = Head{Revision: e.Revision, Hash: e.Hash}
	v.lastIn[e.Stream] = e.Position
	v.lastPos = e.Position
	v.report.Events++
	return nil
}

// checkSeal applies the seal rules to one event (its hash already checked
// against its bytes).
func (v *Verifier) checkSeal(e events.Event, seal string) error {
	if seal != "" && v.report.FirstSealed == 0 {
		v.report.FirstSealed = e.Position
	}
	switch {
	case v.Keys == nil && seal == "" && v.report.FirstSealed != 0:
		return fmt.Errorf("%w: the event carries no seal, but the ledger is sealed from position %d on: it did not come through Relais's append path",
			ErrNotSealed, v.report.FirstSealed)
	case v.Keys == nil:
		v.report.Unsealed++
	case seal == "" && e.Position <= v.UnsealedUntil:
		v.report.Unsealed++
	case seal == "":
		return fmt.Errorf("%w: the event carries no seal: it did not come through Relais's append path (a ledger written before it had a seal key: give --unsealed-until, the last position written without one)", ErrNotSealed)
	default:
		if err := v.Keys.Check(e.Hash, seal); err != nil {
			return err
		}
		v.report.Sealed++
	}
	return nil
}

// idKey is the 16 bytes an event id is remembered by: the UUID itself, or a
// SHA-256 prefix for an id that is not one (only a forged event has such
// an id). Ids are not kept as strings: they share the stored bytes, and the
// verifier would then hold the whole ledger.
func idKey(id string) [16]byte {
	if u, err := uuid.Parse(id); err == nil {
		return u
	}
	sum := sha256.Sum256([]byte(id))
	var k [16]byte
	copy(k[:], sum[:])
	return k
}

// Report returns what has been verified so far.
func (v *Verifier) Report() VerifyReport {
	r := v.report
	r.Streams = len(v.heads)
	r.Head = v.lastPos
	if v.Keys != nil {
		r.KeyID = v.Keys.ID()
		r.Demo = v.Keys.Demo()
	}
	return r
}

// SealedSubscriber is a Ledger that stores seals: SubscribeSealed is
// Subscribe with each event's stored seal ("" when it has none).
type SealedSubscriber interface {
	SubscribeSealed(ctx context.Context, from uint64, fn func(ctx context.Context, e events.Event, seal string) error, opts ...SubscribeOption) error
}

// VerifyOption adjusts Verify.
type VerifyOption func(*verifyOptions)

type verifyOptions struct {
	keys          *Keyring
	unsealedUntil uint64
	allowEmpty    bool
	upTo          uint64
}

// WithKeys checks every event's seal against keys.
func WithKeys(keys *Keyring) VerifyOption { return func(o *verifyOptions) { o.keys = keys } }

// UnsealedUntil accepts events without a seal at positions up to pos: the
// part of a ledger written before it had a seal key.
func UnsealedUntil(pos uint64) VerifyOption {
	return func(o *verifyOptions) { o.unsealedUntil = pos }
}

// AllowEmpty makes an empty ledger a success instead of ErrEmptyLedger.
func AllowEmpty() VerifyOption { return func(o *verifyOptions) { o.allowEmpty = true } }

// UpTo verifies the ledger up to global position head (the head the caller
// saw when it started): events appended while verify runs are not checked,
// and are not "missing at the end" either. Without it, Verify reads the
// head itself when it starts.
func UpTo(head uint64) VerifyOption { return func(o *verifyOptions) { o.upTo = head } }

// Verify walks the whole ledger through Subscribe and checks every link.
// progress, when non-nil, is called with each verified position. A ledger
// with no event is ErrEmptyLedger (unless AllowEmpty): where a ledger is
// expected, nothing to verify is not "intact".
func Verify(ctx context.Context, l Ledger, progress func(pos uint64), opts ...VerifyOption) (VerifyReport, error) {
	var o verifyOptions
	for _, f := range opts {
		f(&o)
	}
	v := NewVerifier()
	v.Keys, v.UnsealedUntil = o.keys, o.unsealedUntil
	if c, ok := l.(interface{ ContiguousPositions() bool }); ok {
		v.Contiguous = c.ContiguousPositions()
	}
	check := func(_ context.Context, e events.Event, seal string) error {
		if err := v.CheckSealed(e, seal); err != nil {
			return err
		}
		if progress != nil {
			progress(e.Position)
		}
		return nil
	}
	// The head is read once, at the start: on a live ledger, writes go on
	// while verify runs, and what lies past this head is not checked (nor
	// missing).
	head, herr := o.upTo, error(nil)
	if head == 0 {
		head, herr = l.Head(ctx)
	}
	v.report.UpTo = head
	bound := []SubscribeOption{StopAtHead()}
	if herr == nil {
		bound = append(bound, Until(head))
	}
	var err error
	if herr == nil && head == 0 {
		// Nothing to read: an empty ledger (see below).
	} else if ss, ok := l.(SealedSubscriber); ok {
		err = ss.SubscribeSealed(ctx, 1, check, bound...)
	} else if o.keys != nil {
		return v.Report(), fmt.Errorf("verify: %w: this backend stores no seals", ErrNotSealed)
	} else {
		err = l.Subscribe(ctx, 1, func(ctx context.Context, e events.Event) error { return check(ctx, e, "") }, bound...)
	}
	var broken *BrokenLinkError
	if errors.As(err, &broken) {
		// An unreadable record before the break is the first bad event.
		if d := v.dmg.firstBefore(broken.Position); d != nil {
			err = d
		}
	}
	if err != nil {
		return v.Report(), err
	}
	// Records missing at the end (the last records lost or unreadable)
	// are a break too, and unreadable ones are named with their stream.
	if herr != nil {
		head = v.lastPos
	}
	if err := v.Finish(ctx, l, head); err != nil {
		return v.Report(), err
	}
	if v.report.Events == 0 && !o.allowEmpty {
		if herr != nil {
			return v.Report(), fmt.Errorf("verify: %w", herr)
		}
		return v.Report(), fmt.Errorf("verify: %w: it holds no event (head %d); a ledger Relais has served always does", ErrEmptyLedger, head)
	}
	return v.Report(), nil
}
