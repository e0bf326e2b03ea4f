package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
	"go.uber.org/zap"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

// commitLoop is the group committer. It takes every append waiting in the
// queue, checks each against the cached stream heads, seals the hash chains
// and writes the group without waiting for the previous group's answers:
// appends are pipelined. A second append to a stream whose previous append
// is still in flight waits for it (its expected revision and chain depend on
// it). The completer answers groups in order; with a Syncer it fsyncs once
// for every group that has come back, which is the group commit.
func (s *Store) commitLoop() {
	defer close(s.stopped)
	flights := make(chan *flight, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.completeLoop(flights)
	}()
	defer func() {
		close(flights)
		<-done
	}()
	var carry []*appendReq
	for {
		if len(carry) == 0 {
			select {
			case r := <-s.queue:
				carry = append(carry, r)
			case <-s.stop:
				s.drain()
				return
			}
		} else {
			select {
			case r := <-s.queue:
				carry = append(carry, r)
			case <-s.released:
			case <-s.stop:
				for _, r := range carry {
					r.done <- appendResp{outcome: failed, err: ledger.ErrClosed}
				}
				s.drain()
				return
			}
		}
	fill:
		for len(carry) < 4*MaxBatch {
			select {
			case r := <-s.queue:
				carry = append(carry, r)
			default:
				break fill
			}
		}
		var f *flight
		f, carry = s.commit(carry)
		if f != nil {
			flights <- f
		}
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

// staged is one append placed in a group.
type staged struct {
	req  *appendReq
	evs  []events.Event
	msgs []*nats.Msg
}

// flight is a written group waiting for its answers.
type flight struct {
	parts []staged
	wait  func() []written
}

// commit stages what it can of batch and writes it; it returns the flight
// and the requests that must wait (their stream is in flight, or the group
// is full).
func (s *Store) commit(batch []*appendReq) (*flight, []*appendReq) {
	now := s.cfg.Now().UTC()
	var carry []*appendReq
	var parts []staged
	n := 0
	s.flightMu.Lock()
	for _, r := range batch {
		if s.inflight[r.stream] || n+len(r.evs) > MaxBatch {
			carry = append(carry, r)
			continue
		}
		p, ok := s.stage(r, now)
		if !ok {
			continue
		}
		s.inflight[r.stream] = true
		parts = append(parts, p)
		n += len(p.msgs)
	}
	s.flightMu.Unlock()
	if len(parts) == 0 {
		return nil, carry
	}
	if s.cfg.Syncer == nil && s.cfg.SyncAlways && len(parts) > 1 {
		return s.writeAtomic(parts), carry
	}
	return s.writeEach(parts), carry
}

// completeLoop answers flights in order. With a Syncer, it first collects
// every flight already waiting, then fsyncs once for all of them.
func (s *Store) completeLoop(flights <-chan *flight) {
	for f := range flights {
		ws := f.wait()
		if s.cfg.Syncer != nil {
		more:
			for {
				select {
				case g, ok := <-flights:
					if !ok {
						break more
					}
					ws = append(ws, g.wait()...)
				default:
					break more
				}
			}
			s.syncWritten(ws)
		}
		s.markWritten(ws)
		// Settle the heads, release the streams, and only then answer: a
		// caller that appends again at once finds its stream free rather
		// than waiting for the committer's next round.
		answers := s.finish(ws)
		s.flightMu.Lock()
		for _, w := range ws {
			delete(s.inflight, w.p.req.stream)
		}
		s.flightMu.Unlock()
		for _, a := range answers {
			a.req.done <- a.resp
		}
		select {
		case s.released <- struct{}{}:
		default:
		}
	}
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
	if s.idx != nil && s.lookupStale(r.lookedUp, time.Now()) {
		r.done <- appendResp{outcome: relookup}
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
		// Every event carries its id: JetStream refuses a second copy
		// inside its window, whatever the expected revision, and the
		// event-id index (idindex.go) takes over beyond it.
		m.Header.Set(jetstream.MsgIDHeader, evs[i].ID)
		m.Header.Set(HashHeader, evs[i].Hash)
		if s.cfg.Keys != nil {
			m.Header.Set(SealHeader, s.cfg.Keys.Seal(evs[i].Hash))
		}
		if i == 0 {
			m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, formatSeq(h.seq))
		}
		msgs[i] = m
	}
	return staged{req: r, evs: evs, msgs: msgs}, true
}

// writeAtomic writes every staged append as one JetStream atomic batch:
// with SyncAlways the server then fsyncs once for the whole batch.
func (s *Store) writeAtomic(parts []staged) *flight {
	var msgs []*nats.Msg
	for _, p := range parts {
		msgs = append(msgs, p.msgs...)
	}
	type result struct {
		last uint64
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		last, err := s.publish(msgs)
		ch <- result{last, err}
	}()
	return &flight{parts: parts, wait: func() []written {
		r := <-ch
		switch {
		case r.err == nil:
			ws := make([]written, len(parts))
			pos := r.last - uint64(len(msgs))
			for i, p := range parts {
				pos += uint64(len(p.msgs))
				ws[i] = written{p: p, last: pos}
			}
			return ws
		case isWrongLastSeq(r.err) || isDuplicate(r.err):
			// Another writer moved a stream, or an id was already recorded:
			// the batch as a whole was refused. Write each append on its
			// own so only the one at fault sees it.
			return s.writeEach(parts).wait()
		default:
			ws := make([]written, len(parts))
			for i, p := range parts {
				ws[i] = written{p: p, err: r.err}
			}
			return ws
		}
	}}
}

// written is one staged append after its write.
type written struct {
	p    staged
	last uint64
	err  error
}

// writeEach writes every staged append on its own, all in flight at once:
// a single event as an asynchronous publish, several as their own atomic
// batch. Each append succeeds or fails alone.
func (s *Store) writeEach(parts []staged) *flight {
	out := make([]written, len(parts))
	futs := make([]jetstream.PubAckFuture, len(parts))
	batches := make([]chan written, len(parts))
	for i, p := range parts {
		out[i].p = p
		if len(p.msgs) == 1 {
			s.count.batches.Add(1)
			// After a refused atomic batch its messages still carry the
			// batch's id and sequence: sent alone, the server would take
			// them for a new batch (answering the first with an empty
			// flow-control ack, "invalid jetstream publish response").
			p.msgs[0].Header.Del(jetstreamext.BatchIDHeader)
			p.msgs[0].Header.Del(jetstreamext.BatchSeqHeader)
			p.msgs[0].Header.Del(jetstreamext.BatchCommitHeader)
			futs[i], out[i].err = s.js.PublishMsgAsync(p.msgs[0])
			continue
		}
		batches[i] = make(chan written, 1)
		go func() {
			last, err := s.publish(p.msgs)
			batches[i] <- written{p: p, last: last, err: err}
		}()
	}
	return &flight{parts: parts, wait: func() []written {
		timeout := time.NewTimer(s.cfg.Timeout)
		defer timeout.Stop()
		expired := false
		for i := range out {
			switch {
			case batches[i] != nil:
				out[i] = <-batches[i]
			case futs[i] == nil || out[i].err != nil:
			case expired:
				select {
				case ack := <-futs[i].Ok():
					out[i].last, out[i].err = ackSeq(ack)
				case err := <-futs[i].Err():
					out[i].err = err
				default:
					out[i].err = fmt.Errorf("publish: %w", context.DeadlineExceeded)
				}
			default:
				select {
				case ack := <-futs[i].Ok():
					out[i].last, out[i].err = ackSeq(ack)
				case err := <-futs[i].Err():
					out[i].err = err
				case <-timeout.C:
					expired = true
					out[i].err = fmt.Errorf("publish: %w", context.DeadlineExceeded)
				}
			}
		}
		return out
	}}
}

func ackSeq(ack *jetstream.PubAck) (uint64, error) {
	if ack.Duplicate {
		return 0, errDuplicate
	}
	return ack.Sequence, nil
}

// syncWritten makes the successful writes durable with one fsync; if it
// fails they are reported as failed (written, durability unknown).
func (s *Store) syncWritten(ws []written) {
	ok := false
	for _, w := range ws {
		ok = ok || w.err == nil
	}
	if !ok {
		return
	}
	s.count.syncs.Add(1)
	if err := s.cfg.Syncer.Sync(); err != nil {
		err = fmt.Errorf("%w: %w", errNotDurable, err)
		for i := range ws {
			if ws[i].err == nil {
				ws[i].err = err
			}
		}
	}
}

// answer is what one append's caller is told.
type answer struct {
	req  *appendReq
	resp appendResp
}

// finish settles each written append: its stream's cached head is advanced
// (or forgotten, when the write failed), and its answer is returned.
func (s *Store) finish(ws []written) []answer {
	answers := make([]answer, len(ws))
	for i, w := range ws {
		answers[i].req = w.p.req
		if w.err != nil {
			answers[i].resp = s.fail(w.p, w.err)
			continue
		}
		answers[i].resp = s.complete(w.p, w.last)
	}
	return answers
}

// publish writes msgs atomically and returns the sequence of the last one.
func (s *Store) publish(msgs []*nats.Msg) (uint64, error) {
	s.count.batches.Add(1)
	if len(msgs) > 1 {
		// The server keeps few atomic batches in flight per stream.
		s.batchSlots <- struct{}{}
		defer func() { <-s.batchSlots }()
	}
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

// complete settles one staged append whose last message got sequence
// last (its messages' sequences are contiguous).
func (s *Store) complete(p staged, last uint64) appendResp {
	pos := last - uint64(len(p.evs))
	for i := range p.evs {
		pos++
		p.evs[i].Position = pos
	}
	e := p.evs[len(p.evs)-1]
	s.heads.advance(p.req.stream, head{Head: ledger.Head{Revision: e.Revision, Hash: e.Hash}, seq: pos})
	s.count.appends.Add(1)
	s.count.events.Add(uint64(len(p.evs)))
	return appendResp{outcome: committed, res: ledger.ResultOf(p.req.stream, p.evs)}
}

// fail settles one staged append whose write was refused or whose outcome
// is unknown.
func (s *Store) fail(p staged, err error) appendResp {
	s.heads.forget(p.req.stream)
	switch {
	case isWrongLastSeq(err):
		return appendResp{outcome: staleHead}
	case isDuplicate(err) || err == errDuplicate:
		return appendResp{outcome: duplicate}
	default:
		s.count.failures.Add(1)
		s.log.Warn("ledger append failed", zap.String("stream", p.req.stream), zap.Error(err))
		return appendResp{outcome: failed, err: mapErr(err)}
	}
}

// errDuplicate: a single publish was recognised as a duplicate message id.
var errDuplicate = errors.New("duplicate message id")
