package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

// outcome is the committer's verdict on one append request.
type outcome int

const (
	committed outcome = iota
	// staleHead: the cached head was missing or behind; reload and retry.
	staleHead
	// conflict: the stream is past the expected revision (maybe this very
	// append, retried); the caller decides between idempotent success and
	// ErrWrongRevision by reading the stream.
	conflict
	// duplicate: JetStream already holds an event id of this append.
	duplicate
	// relookup: the append's event ids were looked up in the index too long
	// before it was staged (see idindex.go); look them up again.
	relookup
	failed
)

type appendReq struct {
	stream   string
	expected int64
	evs      []events.Event
	// lookedUp is when evs' ids were last looked up in the event-id index.
	lookedUp time.Time
	done     chan appendResp
}

type appendResp struct {
	outcome outcome
	res     ledger.Result
	err     error
}

// maxAttempts bounds head reloads when other writers keep moving a stream.
const maxAttempts = 8

// Append implements ledger.Ledger. See the package comment for how appends
// are group-committed.
func (s *Store) Append(ctx context.Context, stream string, expected int64, evs ...events.Event) (ledger.Result, error) {
	if expected < ledger.Any {
		return ledger.Result{}, fmt.Errorf("%w: append %s: expected revision %d", ledger.ErrInvalidEvent, stream, expected)
	}
	evs = append([]events.Event(nil), evs...) // Validate canonicalizes in place
	if err := ledger.Validate(stream, evs); err != nil {
		return ledger.Result{}, err
	}
	if len(evs) > MaxBatch {
		return ledger.Result{}, fmt.Errorf("%w: append %s: %d events, at most %d in one append", ledger.ErrInvalidEvent, stream, len(evs), MaxBatch)
	}
	if s.cfg.Keys == nil && s.Sealed() {
		return ledger.Result{}, fmt.Errorf("append %s: %w", stream, ledger.ErrSealKeyRequired)
	}
	var lookedUp time.Time
	for attempt := range maxAttempts {
		if lookedUp.IsZero() {
			// Idempotence by event id beyond JetStream's window (idindex.go).
			found, at, err := s.lookupIDs(ctx, evs)
			if err != nil {
				return ledger.Result{}, fmt.Errorf("append %s: %w", stream, err)
			}
			if len(found) > 0 {
				return s.recorded(ctx, stream, expected, evs, found)
			}
			lookedUp = at
		}
		h, fresh, err := s.expectHead(ctx, stream, expected, attempt == 0)
		if err != nil {
			return ledger.Result{}, fmt.Errorf("append %s: %w", stream, err)
		}
		if expected > int64(h.Revision) {
			if fresh {
				return ledger.Result{}, &ledger.WrongRevisionError{Stream: stream, Expected: expected, Actual: h.Revision}
			}
			// The cache may lag behind another writer: read the real head.
			s.heads.forget(stream)
			continue
		}
		req := &appendReq{stream: stream, expected: expected, evs: evs, lookedUp: lookedUp, done: make(chan appendResp, 1)}
		select {
		case s.queue <- req:
		case <-ctx.Done():
			return ledger.Result{}, fmt.Errorf("append %s: %w", stream, ctx.Err())
		case <-s.stop:
			return ledger.Result{}, fmt.Errorf("append %s: %w", stream, ledger.ErrClosed)
		}
		var resp appendResp
		select {
		case resp = <-req.done:
		case <-ctx.Done():
			// The committer may still write it; a retry with the same ids is safe.
			return ledger.Result{}, fmt.Errorf("append %s: %w", stream, ledger.OutcomeUnknown(ctx.Err()))
		}
		switch resp.outcome {
		case committed:
			return resp.res, nil
		case staleHead:
			s.heads.forget(stream)
			continue
		case relookup:
			lookedUp = time.Time{}
			continue
		case conflict, duplicate:
			return s.resolve(ctx, stream, expected, evs)
		default:
			return ledger.Result{}, fmt.Errorf("append %s: %w", stream, resp.err)
		}
	}
	return ledger.Result{}, fmt.Errorf("append %s: %w: stream kept moving after %d attempts", stream, ledger.ErrUnavailable, maxAttempts)
}

// resolve decides a conflicting append: if its events already stand where
// the caller expected them (a retry of an append that landed), the original
// result is returned; otherwise it is a wrong expected revision.
func (s *Store) resolve(ctx context.Context, stream string, expected int64, evs []events.Event) (ledger.Result, error) {
	stored, err := s.Read(ctx, stream, 1)
	if err != nil && !errors.Is(err, ledger.ErrStreamNotFound) {
		return ledger.Result{}, fmt.Errorf("append %s: check retry: %w", stream, err)
	}
	if expected == ledger.Any {
		for i := range stored {
			if stored[i].ID == evs[0].ID && ledger.SameIDs(stored[i:], evs) {
				return duplicateOf(stream, stored[i:i+len(evs)]), nil
			}
		}
		return ledger.Result{}, fmt.Errorf("%w: append %s: event id %s is already recorded elsewhere in the ledger", ledger.ErrInvalidEvent, stream, evs[0].ID)
	}
	if uint64(expected) <= uint64(len(stored)) && ledger.SameIDs(stored[expected:], evs) {
		return duplicateOf(stream, stored[expected:expected+int64(len(evs))]), nil
	}
	if uint64(expected) >= uint64(len(stored)) {
		// Not a revision conflict: JetStream refused an id it holds
		// elsewhere (every message carries its event id).
		return ledger.Result{}, fmt.Errorf("%w: append %s: an event id of this append is already recorded elsewhere in the ledger", ledger.ErrInvalidEvent, stream)
	}
	s.count.conflicts.Add(1)
	return ledger.Result{}, &ledger.WrongRevisionError{Stream: stream, Expected: expected, Actual: uint64(len(stored))}
}

// duplicateOf is the result of a retry whose events are stored.
func duplicateOf(stream string, stored []events.Event) ledger.Result {
	r := ledger.ResultOf(stream, stored)
	r.Duplicate = true
	return r
}

// expectHead is loadHead, except that a caller expecting a new stream needs
// no read: if the stream is not empty after all, JetStream refuses the
// append (expected last subject sequence 0) and the conflict is resolved.
func (s *Store) expectHead(ctx context.Context, stream string, expected int64, first bool) (head, bool, error) {
	if expected == ledger.NoStream && first {
		if h, ok := s.heads.get(stream); ok {
			return h, false, nil
		}
		s.heads.advance(stream, head{})
		return head{}, false, nil
	}
	return s.loadHead(ctx, stream)
}

// loadHead returns the cached head of stream, reading its last event from
// JetStream when it is not cached.
// fresh tells whether the head was just read from JetStream.
func (s *Store) loadHead(ctx context.Context, stream string) (h head, fresh bool, err error) {
	if h, ok := s.heads.get(stream); ok {
		return h, false, nil
	}
	msg, err := s.headReader().GetLastMsgForSubject(ctx, subject(stream))
	for try := 0; errors.Is(err, jetstream.ErrMsgNotFound); try++ {
		// Empty, or its last record unreadable (damaged.go).
		derr := s.damagedHead(ctx, stream)
		if errors.Is(derr, errHeadMoved) && try < 3 {
			msg, err = s.headReader().GetLastMsgForSubject(ctx, subject(stream))
			continue
		}
		if derr != nil {
			return head{}, false, fmt.Errorf("load head: %w", derr)
		}
		s.heads.advance(stream, h)
		return h, true, nil
	}
	if err != nil {
		return head{}, false, fmt.Errorf("load head: %w", mapErr(err))
	}
	e, err := events.Decode(msg.Data)
	if err != nil {
		return head{}, false, fmt.Errorf("load head: %w", err)
	}
	if s.cfg.Keys == nil && msg.Header.Get(SealHeader) != "" {
		s.sealed.Store(true)
		return head{}, false, fmt.Errorf("load head: %w: stream %s is sealed at position %d", ledger.ErrSealKeyRequired, stream, msg.Sequence)
	}
	h = head{seq: msg.Sequence}
	h.Revision = e.Revision
	h.Hash = msg.Header.Get(HashHeader)
	s.heads.advance(stream, h)
	return h, true, nil
}

func formatSeq(n uint64) string { return strconv.FormatUint(n, 10) }
