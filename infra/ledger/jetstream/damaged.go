package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

// A record whose bytes fail their storage checksum (a flipped bit on disk)
// stays counted by the server's index: its sequence is taken, its subject's
// count includes it, but no read returns it. Direct gets and consumers
// step over it. Left alone, the stream it belongs to answers reads with a
// revision missing and appends with a contradictory conflict ("expected
// 467, stream is at 467"). The store finds such records (checkDamage),
// names them (ledger.DamagedError) and lets an operator record the loss
// (Repair).

// damageCache remembers located damaged records: locating one costs a few
// dozen requests, and positions never change.
type damageCache struct {
	mu sync.Mutex
	m  map[string]map[uint64]ledger.DamagedRecord // stream → revision
}

func (c *damageCache) get(stream string, rev uint64) (ledger.DamagedRecord, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[stream][rev]
	return r, ok
}

func (c *damageCache) put(stream string, r ledger.DamagedRecord) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]map[uint64]ledger.DamagedRecord{}
	}
	if c.m[stream] == nil {
		c.m[stream] = map[uint64]ledger.DamagedRecord{}
	}
	c.m[stream][r.Revision] = r
}

// pendingOf reads the count of matching records after m that the server
// reports on a batched direct get (Nats-Num-Pending).
func pendingOf(m *jetstream.RawStreamMsg) uint64 {
	n, _ := strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
	return n
}

// storedCount is the number of records the server counts for stream,
// readable or not.
func (s *Store) storedCount(ctx context.Context, stream string) (uint64, error) {
	info, err := s.st.Info(ctx, jetstream.WithSubjectFilter(subject(stream)))
	if err != nil {
		return 0, fmt.Errorf("%w: stream info: %w", ledger.ErrUnavailable, err)
	}
	return info.State.Subjects[subject(stream)], nil
}

// checkDamage compares what a read of stream returned (all its readable
// events, in order) with the number of records the server counts for it:
// revisions missing and not recorded as lost (ledger.record_damaged) are a
// *ledger.DamagedError naming each one's position.
func (s *Store) checkDamage(ctx context.Context, stream string, all []events.Event, stored uint64) error {
	miss := ledger.MissingRevisions(all, stored)
	if len(miss) == 0 {
		return nil
	}
	recs, err := s.locate(ctx, stream, miss)
	if err != nil {
		return err
	}
	return &ledger.DamagedError{Stream: stream, Records: recs}
}

// locate finds the global position of each missing revision: the
// positions between the readable events around it that no read returns.
// (The server's per-position counts do not include an unreadable record,
// so they cannot tell; only its stream total does.) When more unreadable
// positions than missing revisions lie there (other streams' damage), the
// first ones are named and the others listed as Maybe.
func (s *Store) locate(ctx context.Context, stream string, miss []ledger.MissingRevision) ([]ledger.DamagedRecord, error) {
	out := make([]ledger.DamagedRecord, 0, len(miss))
	var lastSeq uint64
	for i := 0; i < len(miss); {
		if r, ok := s.dmg.get(stream, miss[i].Revision); ok {
			out = append(out, r)
			i++
			continue
		}
		// A run of revisions between the same two readable events.
		j := i + 1
		for j < len(miss) && miss[j].Before == miss[i].Before && miss[j].After == miss[i].After {
			j++
		}
		lo, hi := miss[i].Before+1, miss[i].After-1
		if miss[i].After == 0 {
			if lastSeq == 0 {
				h, err := s.Head(ctx)
				if err != nil {
					return nil, fmt.Errorf("locate damaged records of %s: %w", stream, err)
				}
				lastSeq = h
			}
			hi = lastSeq
		}
		holes, err := s.unreadable(ctx, lo, hi)
		if err != nil {
			return nil, fmt.Errorf("locate damaged records of %s: %w", stream, err)
		}
		for k := range j - i {
			r := ledger.DamagedRecord{Revision: miss[i+k].Revision}
			if k < len(holes) {
				r.Position = holes[k]
			}
			if len(holes) > j-i {
				r.Maybe = holes[j-i:]
			} else {
				s.dmg.put(stream, r) // exact: remembered
			}
			out = append(out, r)
		}
		i = j
	}
	return out, nil
}

// unreadable lists the positions in [lo, hi] that no read returns.
func (s *Store) unreadable(ctx context.Context, lo, hi uint64) ([]uint64, error) {
	var holes []uint64
	next := lo
	for next <= hi {
		msgs, err := jetstreamext.GetBatch(ctx, s.js, StreamName, readBatch, jetstreamext.GetBatchSeq(next))
		if err != nil {
			return nil, mapErr(err)
		}
		n := 0
		for m, err := range msgs {
			if errors.Is(err, jetstreamext.ErrNoMessages) {
				break
			}
			if err != nil {
				return nil, mapErr(err)
			}
			n++
			for p := next; p < m.Sequence && p <= hi; p++ {
				holes = append(holes, p)
			}
			next = m.Sequence + 1
		}
		if n == 0 {
			for p := next; p <= hi; p++ {
				holes = append(holes, p)
			}
			break
		}
	}
	return holes, nil
}

// damagedHead is called when the last record of stream cannot be read (the
// server has no last message for its subject): an empty stream is nil, one
// whose records the server still counts is damaged.
func (s *Store) damagedHead(ctx context.Context, stream string) error {
	n, err := s.storedCount(ctx, stream)
	if err != nil || n == 0 {
		return err
	}
	_, err = s.Read(ctx, stream, 1)
	if err == nil {
		// Readable: an append landed between the two requests.
		return errHeadMoved
	}
	return err
}

// errHeadMoved: the stream was written while its head was being read.
var errHeadMoved = fmt.Errorf("%w: the stream moved while its head was read", ledger.ErrUnavailable)

// Repair records, on stream, the loss of its unreadable record at
// position: it appends a ledger.record_damaged event (by actor, with
// reason) after the stream's last record, so the stream takes new events
// again and verify reports the record as repaired. It refuses a position
// that is not an unrecorded damaged record of stream.
func (s *Store) Repair(ctx context.Context, stream string, position uint64, actor events.Actor, reason string) (ledger.Result, error) {
	all, stored, _, err := s.readDirect(ctx, stream)
	if err != nil {
		return ledger.Result{}, fmt.Errorf("repair %s: %w", stream, err)
	}
	miss := ledger.MissingRevisions(all, stored)
	if len(miss) == 0 {
		return ledger.Result{}, fmt.Errorf("%w: repair %s: the stream has no unreadable record left to record (%d stored, all readable or repaired)", ledger.ErrInvalidEvent, stream, stored)
	}
	recs, err := s.locate(ctx, stream, miss)
	if err != nil {
		return ledger.Result{}, fmt.Errorf("repair %s: %w", stream, err)
	}
	var rec *ledger.DamagedRecord
	for i := range recs {
		if recs[i].Position == position {
			rec = &recs[i]
		}
	}
	if rec == nil {
		return ledger.Result{}, fmt.Errorf("%w: repair %s: position %d is not one of its unreadable records: %w", ledger.ErrInvalidEvent, stream, position,
			&ledger.DamagedError{Stream: stream, Records: recs})
	}
	ev, err := events.New(&events.RecordDamaged{Position: position, Revision: rec.Revision, Reason: reason}, actor)
	if err != nil {
		return ledger.Result{}, fmt.Errorf("%w: repair %s: %w", ledger.ErrInvalidEvent, stream, err)
	}
	// Append after the stream's last record, readable or not. When that
	// record is unreadable, its hash is unknown: the repair event's
	// prev_hash is empty (verify expects it), and the server, which cannot
	// load it either, takes the subject's last sequence to be 0.
	h := head{seq: 0}
	if n := len(all); n > 0 {
		last := all[n-1]
		h = head{Head: ledger.Head{Revision: last.Revision, Hash: last.Hash}, seq: last.Position}
	}
	if top := recs[len(recs)-1]; top.Revision > h.Revision {
		h = head{Head: ledger.Head{Revision: top.Revision}, seq: 0}
	}
	s.heads.forget(stream)
	s.heads.advance(stream, h)
	res, err := s.Append(ctx, stream, int64(h.Revision), ev)
	if err != nil {
		return ledger.Result{}, fmt.Errorf("repair %s: %w", stream, err)
	}
	return res, nil
}

var _ ledger.StoredCounter = (*Store)(nil)

// StoredCounts implements ledger.StoredCounter: the records the server
// counts for each ledger stream, readable or not.
func (s *Store) StoredCounts(ctx context.Context) (map[string]uint64, error) {
	info, err := s.st.Info(ctx, jetstream.WithSubjectFilter(SubjectPrefix+">"))
	if err != nil {
		return nil, fmt.Errorf("%w: stream info: %w", ledger.ErrUnavailable, err)
	}
	out := make(map[string]uint64, len(info.State.Subjects))
	for subj, n := range info.State.Subjects {
		out[strings.TrimPrefix(subj, SubjectPrefix)] = n
	}
	return out, nil
}
