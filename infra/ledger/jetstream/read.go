package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

// readBatch is how many messages one direct-get batch request returns.
const readBatch = 500

// Read implements ledger.Ledger with direct-get batches filtered on the
// stream's subject: no consumer is created.
func (s *Store) Read(ctx context.Context, stream string, from uint64) ([]events.Event, error) {
	if !events.ValidStreamName(stream) {
		return nil, fmt.Errorf("%w: read: stream name %q", ledger.ErrInvalidEvent, stream)
	}
	// On a cluster, direct gets may be answered by a follower that has not
	// applied the latest writes: read up to the leader's head, re-reading
	// (with backoff) while the answer stops short of it.
	want, err := s.leaderLast(ctx, stream)
	if err != nil {
		return nil, err
	}
	reread := false
	for attempt := 0; ; attempt++ {
		all, stored, last, err := s.readDirect(ctx, stream)
		if err != nil {
			return nil, err
		}
		if last >= want {
			if len(all) == 0 && stored == 0 {
				return nil, fmt.Errorf("read %s: %w", stream, ledger.ErrStreamNotFound)
			}
			if !reread && len(ledger.MissingRevisions(all, stored)) > 0 {
				// The count may be of a record appended since the read
				// (a new stream counted but not yet read): read once more.
				reread = true
				attempt--
				continue
			}
			// A record the server counts but cannot read (failed checksum)
			// is skipped by direct gets: the stream is damaged.
			if err := s.checkDamage(ctx, stream, all, stored); err != nil {
				return nil, fmt.Errorf("read %s: %w", stream, err)
			}
			i := 0
			for i < len(all) && all[i].Revision < from {
				i++
			}
			return all[i:], nil
		}
		if attempt == followerRetries {
			return nil, fmt.Errorf("read %s: %w: the replica answering is at position %d, the leader at %d", stream, ledger.ErrUnavailable, last, want)
		}
		select {
		case <-time.After(time.Millisecond << min(attempt, 6)):
		case <-ctx.Done():
			return nil, fmt.Errorf("read %s: %w", stream, ctx.Err())
		}
	}
}

// readDirect reads every event of stream with direct-get batches; last is
// the position of the last event read, stored the number of records the
// server counted for the stream when the first batch was asked for
// (readable or not: see checkDamage).
func (s *Store) readDirect(ctx context.Context, stream string) (out []events.Event, stored, last uint64, err error) {
	seq := uint64(1)
	for {
		msgs, err := jetstreamext.GetBatch(ctx, s.js, StreamName, readBatch,
			jetstreamext.GetBatchSubject(subject(stream)), jetstreamext.GetBatchSeq(seq))
		if err != nil {
			return nil, 0, 0, fmt.Errorf("read %s: %w", stream, mapErr(err))
		}
		n, pending := 0, uint64(0)
		for m, err := range msgs {
			if errors.Is(err, jetstreamext.ErrNoMessages) {
				break
			}
			if err != nil {
				return nil, 0, 0, fmt.Errorf("read %s: %w", stream, mapErr(err))
			}
			pending = pendingOf(m)
			if n == 0 && seq == 1 {
				stored = pending + 1
			}
			n++
			seq = m.Sequence + 1
			last = m.Sequence
			e, err := decode(m.Data, m.Sequence, m.Header.Get(HashHeader))
			if err != nil {
				return nil, 0, 0, fmt.Errorf("read %s: %w", stream, err)
			}
			out = append(out, e)
		}
		// A short batch is the end, unless the server still counts records
		// after it (a batch cut by size, or records it cannot read: the
		// next batch tells).
		if n == 0 || n < readBatch && pending == 0 {
			break
		}
	}
	if len(out) == 0 {
		// Nothing readable: the server may still count records.
		if stored, err = s.storedCount(ctx, stream); err != nil {
			return nil, 0, 0, fmt.Errorf("read %s: %w", stream, err)
		}
	}
	return out, stored, last, nil
}

func decode(data []byte, seq uint64, hash string) (events.Event, error) {
	e, err := events.Decode(data)
	if err != nil {
		return events.Event{}, fmt.Errorf("position %d: %w", seq, err)
	}
	e.Position = seq
	e.Hash = hash
	e.Raw = data
	return e, nil
}

// Subscribe implements ledger.Ledger with an ordered consumer over every
// ledger subject, starting at from.
func (s *Store) Subscribe(ctx context.Context, from uint64, fn func(context.Context, events.Event) error, opts ...ledger.SubscribeOption) error {
	return s.subscribe(ctx, from, fn, nil, opts)
}

var _ ledger.SealedSubscriber = (*Store)(nil)

// SubscribeSealed implements ledger.SealedSubscriber: Subscribe with each
// event's Relais-Seal header.
func (s *Store) SubscribeSealed(ctx context.Context, from uint64, fn func(context.Context, events.Event, string) error, opts ...ledger.SubscribeOption) error {
	return s.subscribe(ctx, from, nil, fn, opts)
}

// subscribe delivers to fn, or with seals to sealed.
func (s *Store) subscribe(ctx context.Context, from uint64, fn func(context.Context, events.Event) error, sealed func(context.Context, events.Event, string) error, opts []ledger.SubscribeOption) error {
	o := ledger.ApplySubscribeOptions(opts)
	if from == 0 {
		from = 1
	}
	stopAt := o.Until
	if o.StopAtHead {
		h, err := s.Head(ctx)
		if err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		if stopAt == 0 || h < stopAt {
			stopAt = h
		}
		if h < from {
			return nil
		}
	}
	if stopAt > 0 && stopAt < from {
		return nil
	}
	cc := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{SubjectPrefix + ">"},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
	if from > 1 {
		cc.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cc.OptStartSeq = from
	}
	cons, err := s.js.OrderedConsumer(ctx, StreamName, cc)
	if err != nil {
		return fmt.Errorf("subscribe from %d: %w", from, mapErr(err))
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(4096))
	if err != nil {
		return fmt.Errorf("subscribe from %d: %w", from, mapErr(err))
	}
	defer it.Stop()
	stopWatch := context.AfterFunc(ctx, it.Stop)
	defer stopWatch()

	// A reader goroutine pulls messages and decodes them, in batches, while
	// this goroutine applies the previous batch: decoding (the heavy part)
	// runs beside the handler, in order.
	batches := make(chan decodedBatch, 4)
	// Applied batches go back to the reader to be filled again: a replay
	// allocates a few batches, not one per 256 events.
	free := make(chan []events.Event, cap(batches)+2)
	done := make(chan struct{})
	defer func() {
		close(done)
		it.Stop()
		for range batches { // let the reader finish
		}
	}()
	go s.readBatches(ctx, it, batches, free, done, from, stopAt, sealed != nil)
	for b := range batches {
		if b.err != nil {
			if ctx.Err() != nil || errors.Is(b.err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return b.err
		}
		for i, e := range b.evs {
			var err error
			if sealed != nil {
				err = sealed(ctx, e, b.seals[i])
			} else {
				err = fn(ctx, e)
			}
			if err != nil {
				return err
			}
			if stopAt > 0 && e.Position >= stopAt {
				return nil
			}
		}
		clear(b.evs) // fn has its copies; hold no message bytes here
		select {
		case free <- b.evs[:0]:
		default:
		}
	}
	return nil
}

// decodedBatch is a run of consecutive events, or the error that ended
// the subscription.
type decodedBatch struct {
	evs []events.Event
	// seals are the events' Relais-Seal headers, when asked for.
	seals []string
	err   error
}

// readBatches pulls messages in batches — during catch-up as many as the
// stream says are pending (up to 256), live one at a time so nothing waits
// — and decodes each batch on two goroutines, keeping the order.
//
// A bounded replay (stopAt > 0, up to a position) that waits a few idle
// seconds asks the server for the next position itself: a stored record
// that failed its checksum is never delivered, and the caller (verify) must
// see the end rather than wait forever; but a record the server can read is
// only late (a consumer reset, a leader election, a loaded machine), and the
// replay waits on for it rather than end short of its bound with no error.
func (s *Store) readBatches(ctx context.Context, it jetstream.MessagesContext, out chan<- decodedBatch, free <-chan []events.Event, done <-chan struct{}, from, stopAt uint64, withSeals bool) {
	defer close(out)
	bounded := stopAt > 0
	next := from // the position expected next
	msgs := make([]jetstream.Msg, 0, 256)
	send := func(b decodedBatch) bool {
		select {
		case out <- b:
			return true
		case <-done:
			return false
		}
	}
	for {
		clear(msgs)
		msgs = msgs[:0]
		var opts []jetstream.NextOpt
		if bounded {
			opts = append(opts, jetstream.NextMaxWait(5*time.Second))
		}
		m, err := it.Next(opts...)
		if bounded && errors.Is(err, nats.ErrTimeout) {
			if next <= stopAt && s.onlyLate(ctx, next) {
				continue
			}
			return
		}
		if err != nil {
			send(decodedBatch{err: mapNextErr(ctx, err)})
			return
		}
		msgs = append(msgs, m)
		more := 0
		if meta, err := m.Metadata(); err == nil {
			more = int(min(meta.NumPending, uint64(cap(msgs)-1)))
		}
		// Pending is a hint (a record that failed its checksum is counted
		// but never delivered): never wait long for it. One deadline for
		// the rest of the batch, not a timer for every message.
		bctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		within := jetstream.NextContext(bctx)
		for range more {
			m, err := it.Next(within)
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				break
			}
			if err != nil {
				cancel()
				send(decodedBatch{err: mapNextErr(ctx, err)})
				return
			}
			msgs = append(msgs, m)
		}
		cancel()
		var evs []events.Event
		select {
		case evs = <-free:
		default:
		}
		if cap(evs) < len(msgs) {
			evs = make([]events.Event, len(msgs), cap(msgs))
		}
		evs = evs[:len(msgs)]
		var seals []string
		if withSeals {
			seals = make([]string, len(msgs))
			for i, m := range msgs {
				seals[i] = m.Headers().Get(SealHeader)
			}
		}
		errs := make([]error, 2)
		half := len(msgs) / 2
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[1] = decodeMsgs(msgs[half:], evs[half:])
		}()
		errs[0] = decodeMsgs(msgs[:half], evs[:half])
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				send(decodedBatch{err: err})
				return
			}
		}
		if len(evs) > 0 {
			next = evs[len(evs)-1].Position + 1
		}
		if !send(decodedBatch{evs: evs, seals: seals}) {
			return
		}
	}
}

// onlyLate tells whether the record at pos, which a replay waited for in
// vain, is one the server can read (it is only late): any answer of the
// server about it (not found, unreadable) says no; no answer (a timeout, an
// election) says it may still come.
func (s *Store) onlyLate(ctx context.Context, pos uint64) bool {
	if ctx.Err() != nil {
		return false
	}
	_, err := s.headReader().GetMsg(ctx, pos)
	var apiErr *jetstream.APIError
	return err == nil || !errors.As(err, &apiErr) && !errors.Is(err, jetstream.ErrMsgNotFound)
}

func decodeMsgs(msgs []jetstream.Msg, out []events.Event) error {
	caches := make([]events.PayloadCache, len(msgs))
	for i, m := range msgs {
		seq, ok := streamSeq(m.Reply())
		if !ok {
			meta, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("subscribe: metadata: %w", err)
			}
			seq = meta.Sequence.Stream
		}
		// nats.go gives every message its own copy of the data: the event
		// may share it.
		e, err := events.DecodeStored(m.Data(), &caches[i])
		if err != nil {
			return fmt.Errorf("subscribe: position %d: %w", seq, err)
		}
		e.Position = seq
		e.Hash = m.Headers().Get(HashHeader)
		e.Raw = m.Data()
		out[i] = e
	}
	return nil
}

// streamSeq reads the stream sequence of a message from its JetStream
// acknowledgement subject, as nats.go's Metadata does but without parsing
// the rest: $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.… (nine
// tokens), or with <domain>.<account hash> after ACK (eleven or more).
func streamSeq(reply string) (uint64, bool) {
	rest, ok := strings.CutPrefix(reply, "$JS.ACK.")
	if !ok {
		return 0, false
	}
	skip := 3
	switch n := strings.Count(reply, ".") + 1; {
	case n == 9:
	case n >= 11:
		skip = 5
	default:
		return 0, false
	}
	for range skip {
		if _, rest, ok = strings.Cut(rest, "."); !ok {
			return 0, false
		}
	}
	tok, _, _ := strings.Cut(rest, ".")
	seq, err := strconv.ParseUint(tok, 10, 64)
	return seq, err == nil && seq > 0
}

func mapNextErr(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
		return err
	}
	return fmt.Errorf("subscribe: %w", mapErr(err))
}

// openLeaderReads prepares consistent reads on a replicated stream: a
// second handle on the stream with direct gets turned off, so its message
// gets go to $JS.API.STREAM.MSG.GET, which only the stream leader answers.
// The handle's cached info is never refreshed (no Info call on it).
func (s *Store) openLeaderReads(ctx context.Context) error {
	if r := s.st.CachedInfo().Config.Replicas; r <= 1 {
		return nil
	}
	lead, err := s.js.Stream(ctx, StreamName)
	if err != nil {
		return fmt.Errorf("%w: stream %s: %w", ledger.ErrUnavailable, StreamName, err)
	}
	lead.CachedInfo().Config.AllowDirect = false
	s.lead = lead
	return nil
}

// headReader is where the command side reads a stream's last event: the
// leader on a replicated stream.
func (s *Store) headReader() jetstream.Stream {
	if s.lead != nil {
		return s.lead
	}
	return s.st
}

// leaderLast is the position of stream's last event as its leader sees it
// (0 when empty), or 0 on one replica, where direct gets are consistent.
func (s *Store) leaderLast(ctx context.Context, stream string) (uint64, error) {
	if s.lead == nil {
		return 0, nil
	}
	msg, err := s.lead.GetLastMsgForSubject(ctx, subject(stream))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s: leader head: %w", stream, mapErr(err))
	}
	return msg.Sequence, nil
}

// followerRetries bounds the re-reads of a stream whose direct gets (from
// a follower) lag the leader's head.
const followerRetries = 12
