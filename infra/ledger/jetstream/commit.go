package jetstream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
	"go.uber.org/zap"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

// commitLoop is the group committer: it takes every append waiting in the
// queue (up to MaxBatch events), checks each against the cached stream
// heads, seals the hash chains and writes them all as one JetStream atomic
// batch, so under SyncAlways one fsync covers every caller in the batch.
// While a batch is in flight the next one accumulates.
func (s *Store) commitLoop() {
	defer close(s.stopped)
	var carry []*appendReq
	for {
		batch := carry
		carry = nil
		if len(batch) == 0 {
			select {
			case r := <-s.queue:
				batch = append(batch, r)
			case <-s.stop:
				s.drain()
				return
			}
		}
		n := 0
		for _, r := range batch {
			n += len(r.evs)
		}
	fill:
		for n < MaxBatch {
			select {
			case r := <-s.queue:
				batch = append(batch, r)
				n += len(r.evs)
			default:
				break fill
			}
		}
		carry = s.commit(batch)
	}
}

// drain fails every queued append once the store is closing.
func (s *Store) drain() {
	for {
		select {
		case r := <-s.queue:
			r.done <- appendResp{outcome: failed, err: ledger.ErrClosed}
		default:
			return
		}
	}
}

// staged is one append placed in the current batch.
type staged struct {
	req  *appendReq
	evs  []events.Event
	msgs []*nats.Msg
}

// commit writes what fits of batch and returns the requests left for the
// next round (a second append to a stream already in this batch waits, so
// its expected revision is checked against the first one's result).
func (s *Store) commit(batch []*appendReq) (carry []*appendReq) {
	now := s.cfg.Now().UTC()
	inBatch := make(map[string]bool, len(batch))
	var parts []staged
	var msgs []*nats.Msg
	for _, r := range batch {
		if inBatch[r.stream] || len(msgs)+len(r.evs) > MaxBatch {
			carry = append(carry, r)
			continue
		}
		p, ok := s.stage(r, now)
		if !ok {
			continue
		}
		inBatch[r.stream] = true
		parts = append(parts, p)
		msgs = append(msgs, p.msgs...)
	}
	if len(msgs) == 0 {
		return carry
	}
	if !s.cfg.SyncAlways || len(parts) == 1 {
		s.commitEach(parts)
		return carry
	}
	last, err := s.publish(msgs)
	switch {
	case err == nil:
		s.complete(parts, last)
	case isWrongLastSeq(err) || isDuplicate(err):
		// Another writer moved a stream, or an id was already recorded: the
		// batch as a whole was refused. Commit each append on its own so
		// only the one at fault sees it.
		s.commitEach(parts)
	default:
		for _, p := range parts {
			s.fail(p, err)
		}
	}
	return carry
}

// stage checks r against its stream's cached head and seals its events.
// It answers r itself and returns false when r cannot go in the batch.
func (s *Store) stage(r *appendReq, now time.Time) (staged, bool) {
	h, ok := s.heads.get(r.stream)
	switch {
	case !ok, r.expected > int64(h.Revision):
		r.done <- appendResp{outcome: staleHead}
		return staged{}, false
	case r.expected != ledger.Any && r.expected < int64(h.Revision):
		r.done <- appendResp{outcome: conflict}
		return staged{}, false
	}
	evs := append([]events.Event(nil), r.evs...)
	bodies, err := ledger.Seal(r.stream, h.Head, now, evs)
	if err != nil {
		r.done <- appendResp{outcome: failed, err: err}
		return staged{}, false
	}
	subj := subject(r.stream)
	msgs := make([]*nats.Msg, len(evs))
	for i := range evs {
		m := nats.NewMsg(subj)
		m.Data = bodies[i]
		m.Header.Set(jetstream.MsgIDHeader, evs[i].ID)
		m.Header.Set(HashHeader, evs[i].Hash)
		if i == 0 {
			m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, formatSeq(h.seq))
		}
		msgs[i] = m
	}
	return staged{req: r, evs: evs, msgs: msgs}, true
}

// commitEach writes every staged append on its own, all in flight at once:
// a single event as a plain asynchronous publish, several as their own
// atomic batch. Without SyncAlways there is no fsync to share, so this
// pipelining is what makes appends fast; each append succeeds or fails
// alone.
func (s *Store) commitEach(parts []staged) {
	type pending struct {
		p    staged
		fut  jetstream.PubAckFuture
		last uint64
		err  error
	}
	pend := make([]pending, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		pend[i].p = p
		if len(p.msgs) == 1 {
			s.count.batches.Add(1)
			fut, err := s.js.PublishMsgAsync(p.msgs[0])
			pend[i].fut, pend[i].err = fut, err
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pend[i].last, pend[i].err = s.publish(p.msgs)
		}()
	}
	timeout := time.NewTimer(s.cfg.Timeout)
	defer timeout.Stop()
	for i := range pend {
		if pend[i].fut == nil || pend[i].err != nil {
			continue
		}
		select {
		case ack := <-pend[i].fut.Ok():
			if ack.Duplicate {
				pend[i].err = errDuplicate
			} else {
				pend[i].last = ack.Sequence
			}
		case err := <-pend[i].fut.Err():
			pend[i].err = err
		case <-timeout.C:
			pend[i].err = fmt.Errorf("publish: %w", context.DeadlineExceeded)
			timeout.Reset(0)
		}
	}
	wg.Wait()
	for _, pd := range pend {
		if pd.err != nil {
			s.fail(pd.p, pd.err)
			continue
		}
		s.complete([]staged{pd.p}, pd.last)
	}
}

// publish writes msgs atomically and returns the sequence of the last one.
func (s *Store) publish(msgs []*nats.Msg) (uint64, error) {
	s.count.batches.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	if len(msgs) == 1 {
		ack, err := s.js.PublishMsg(ctx, msgs[0])
		if err != nil {
			return 0, err
		}
		if ack.Duplicate {
			return 0, errDuplicate
		}
		return ack.Sequence, nil
	}
	ack, err := jetstreamext.PublishMsgBatch(ctx, s.js, msgs,
		jetstreamext.BatchFlowControl{AckFirst: false, AckTimeout: s.cfg.Timeout})
	if err != nil {
		return 0, err
	}
	if ack.BatchSize != uint64(len(msgs)) {
		return 0, fmt.Errorf("batch ack counts %d messages, sent %d", ack.BatchSize, len(msgs))
	}
	return ack.Sequence, nil
}

// complete answers every staged append of a batch whose last message got
// sequence last; the batch's sequences are contiguous.
func (s *Store) complete(parts []staged, last uint64) {
	total := 0
	for _, p := range parts {
		total += len(p.evs)
	}
	pos := last - uint64(total)
	for _, p := range parts {
		for i := range p.evs {
			pos++
			p.evs[i].Position = pos
		}
		e := p.evs[len(p.evs)-1]
		s.heads.advance(p.req.stream, head{Head: ledger.Head{Revision: e.Revision, Hash: e.Hash}, seq: pos})
		s.count.appends.Add(1)
		s.count.events.Add(uint64(len(p.evs)))
		p.req.done <- appendResp{outcome: committed, res: ledger.ResultOf(p.req.stream, p.evs)}
	}
}

// fail answers one staged append whose write was refused or whose outcome
// is unknown.
func (s *Store) fail(p staged, err error) {
	s.heads.forget(p.req.stream)
	switch {
	case isWrongLastSeq(err):
		p.req.done <- appendResp{outcome: staleHead}
	case isDuplicate(err) || err == errDuplicate:
		p.req.done <- appendResp{outcome: duplicate}
	default:
		s.count.failures.Add(1)
		s.log.Warn("ledger append failed", zap.String("stream", p.req.stream), zap.Error(err))
		p.req.done <- appendResp{outcome: failed, err: mapErr(err)}
	}
}

// errDuplicate: a single publish was recognised as a duplicate message id.
var errDuplicate = errors.New("duplicate message id")
