package jetstream

import (
	"context"
	"errors"
	"fmt"

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
	var out []events.Event
	total := 0
	seq := uint64(1)
	for {
		msgs, err := jetstreamext.GetBatch(ctx, s.js, StreamName, readBatch,
			jetstreamext.GetBatchSubject(subject(stream)), jetstreamext.GetBatchSeq(seq))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, mapErr(err))
		}
		n := 0
		for m, err := range msgs {
			if errors.Is(err, jetstreamext.ErrNoMessages) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", stream, mapErr(err))
			}
			n++
			seq = m.Sequence + 1
			e, err := decode(m.Data, m.Sequence, m.Header.Get(HashHeader))
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", stream, err)
			}
			if e.Revision >= from {
				out = append(out, e)
			}
		}
		total += n
		if n < readBatch {
			break
		}
	}
	if total == 0 {
		return nil, fmt.Errorf("read %s: %w", stream, ledger.ErrStreamNotFound)
	}
	return out, nil
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
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("subscribe: %w", mapErr(err))
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("subscribe: metadata: %w", err)
		}
		e, err := decode(msg.Data(), meta.Sequence.Stream, msg.Headers().Get(HashHeader))
		if err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		if err := fn(ctx, e); err != nil {
			return err
		}
		if stopAt > 0 && e.Position >= stopAt {
			return nil
		}
	}
}
