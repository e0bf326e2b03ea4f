// Package eventstore is the KurrentDB / EventStoreDB backend of the Relais
// ledger, on github.com/kurrent-io/KurrentDB-Client-Go (the maintained
// successor of the archived EventStore-Client-Go). It implements the same
// port and passes the same conformance suite (ledgertest) wherever a server
// is reachable: set RELAIS_EVENTSTORE_URL. No such server can run on our
// development and CI machines, so there it is compiled and unit-tested only.
//
// Mapping: a Relais stream is a KurrentDB stream (optionally prefixed); a
// Relais revision n is KurrentDB's event number n-1; the global position is
// the $all commit position (increasing, not contiguous); the chain hash is
// in each event's metadata; checkpoints are the last event of a stream per
// consumer.
package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/uuid"
	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

var _ ledger.Ledger = (*Store)(nil)

// Store is a ledger on KurrentDB.
type Store struct {
	c      *kurrentdb.Client
	prefix string
}

// Option adjusts Open.
type Option func(*Store)

// WithPrefix namespaces every Relais stream (tests use a random prefix per
// run, since a KurrentDB server cannot be emptied).
func WithPrefix(p string) Option { return func(s *Store) { s.prefix = p } }

// Open connects to url (kurrentdb:// or esdb://).
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	cfg, err := kurrentdb.ParseConnectionString(url)
	if err != nil {
		return nil, fmt.Errorf("eventstore url: %w", err)
	}
	c, err := kurrentdb.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: eventstore: %w", ledger.ErrUnavailable, err)
	}
	s := &Store{c: c}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Close closes the client.
func (s *Store) Close() error { return s.c.Close() }

// ContiguousPositions: $all positions have gaps.
func (s *Store) ContiguousPositions() bool { return false }

func (s *Store) name(stream string) string { return s.prefix + stream }

// meta is the event metadata Relais writes.
type meta struct {
	Hash string `json:"relais_hash"`
}

// StreamState maps a Relais expected revision to KurrentDB's.
func StreamState(expected int64) kurrentdb.StreamState {
	switch {
	case expected == ledger.Any:
		return kurrentdb.Any{}
	case expected == 0:
		return kurrentdb.NoStream{}
	default:
		return kurrentdb.Revision(uint64(expected - 1))
	}
}

// MapError turns client errors into the ledger's kinds, keeping the cause.
func MapError(err error) error {
	if err == nil {
		return nil
	}
	if e, ok := kurrentdb.FromError(err); ok {
		switch e.Code() {
		case kurrentdb.ErrorCodeWrongExpectedVersion, kurrentdb.ErrorCodeStreamRevisionConflict:
			return fmt.Errorf("%w: %w", ledger.ErrWrongRevision, err)
		case kurrentdb.ErrorCodeResourceNotFound, kurrentdb.ErrorCodeStreamDeleted:
			return fmt.Errorf("%w: %w", ledger.ErrStreamNotFound, err)
		case kurrentdb.ErrorCodeAppendRecordSizeExceeded, kurrentdb.ErrorCodeAppendTransactionSizeExceeded:
			return fmt.Errorf("%w: %w", ledger.ErrInvalidEvent, err)
		}
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%w: %w", ledger.ErrUnavailable, err)
}

// head reads the stream's last event.
func (s *Store) head(ctx context.Context, stream string) (ledger.Head, error) {
	rs, err := s.c.ReadStream(ctx, s.name(stream), kurrentdb.ReadStreamOptions{Direction: kurrentdb.Backwards, From: kurrentdb.End{}}, 1)
	if err != nil {
		if errors.Is(MapError(err), ledger.ErrStreamNotFound) {
			return ledger.Head{}, nil
		}
		return ledger.Head{}, MapError(err)
	}
	defer rs.Close()
	ev, err := rs.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(MapError(err), ledger.ErrStreamNotFound) {
			return ledger.Head{}, nil
		}
		return ledger.Head{}, MapError(err)
	}
	e, err := s.decode(ev)
	if err != nil {
		return ledger.Head{}, err
	}
	return ledger.Head{Revision: e.Revision, Hash: e.Hash}, nil
}

// Append implements ledger.Ledger.
func (s *Store) Append(ctx context.Context, stream string, expected int64, evs ...events.Event) (ledger.Result, error) {
	evs = append([]events.Event(nil), evs...)
	if err := ledger.Validate(stream, evs); err != nil {
		return ledger.Result{}, err
	}
	for range 8 {
		h, err := s.head(ctx, stream)
		if err != nil {
			return ledger.Result{}, fmt.Errorf("append %s: %w", stream, err)
		}
		if expected != ledger.Any && uint64(expected) != h.Revision {
			return s.resolve(ctx, stream, expected, evs, h.Revision)
		}
		sealed := append([]events.Event(nil), evs...)
		bodies, err := ledger.Seal(stream, h, timeNow(), sealed)
		if err != nil {
			return ledger.Result{}, err
		}
		data := make([]kurrentdb.EventData, len(sealed))
		for i, e := range sealed {
			m, _ := json.Marshal(meta{Hash: e.Hash})
			data[i] = kurrentdb.EventData{EventID: uuid.MustParse(e.ID), EventType: e.Type, ContentType: kurrentdb.ContentTypeJson, Data: bodies[i], Metadata: m}
		}
		// The concurrency check is always against the head the chain was
		// sealed on, even for Any: otherwise the chain could fork.
		res, err := s.c.AppendToStream(ctx, s.name(stream), kurrentdb.AppendToStreamOptions{StreamState: StreamState(int64(h.Revision))}, data...)
		if err != nil {
			err = MapError(err)
			if errors.Is(err, ledger.ErrWrongRevision) {
				if expected == ledger.Any {
					continue
				}
				return s.resolve(ctx, stream, expected, evs, h.Revision)
			}
			return ledger.Result{}, fmt.Errorf("append %s: %w", stream, err)
		}
		for i := range sealed {
			sealed[i].Position = res.CommitPosition
		}
		return ledger.ResultOf(stream, sealed), nil
	}
	return ledger.Result{}, fmt.Errorf("append %s: %w: stream kept moving", stream, ledger.ErrUnavailable)
}

// resolve returns the original result of a retried append, or the conflict.
func (s *Store) resolve(ctx context.Context, stream string, expected int64, evs []events.Event, actual uint64) (ledger.Result, error) {
	stored, err := s.Read(ctx, stream, 1)
	if err != nil && !errors.Is(err, ledger.ErrStreamNotFound) {
		return ledger.Result{}, err
	}
	if expected >= 0 && uint64(expected) <= uint64(len(stored)) && ledger.SameIDs(stored[expected:], evs) {
		return ledger.ResultOf(stream, stored[expected:expected+int64(len(evs))]), nil
	}
	return ledger.Result{}, &ledger.WrongRevisionError{Stream: stream, Expected: expected, Actual: uint64(len(stored))}
}

// Read implements ledger.Ledger.
func (s *Store) Read(ctx context.Context, stream string, from uint64) ([]events.Event, error) {
	if !events.ValidStreamName(stream) {
		return nil, fmt.Errorf("%w: read: stream name %q", ledger.ErrInvalidEvent, stream)
	}
	var start kurrentdb.StreamPosition = kurrentdb.Start{}
	if from > 1 {
		start = kurrentdb.Revision(from - 1)
	}
	rs, err := s.c.ReadStream(ctx, s.name(stream), kurrentdb.ReadStreamOptions{Direction: kurrentdb.Forwards, From: start}, ^uint64(0)>>1)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, MapError(err))
	}
	defer rs.Close()
	var out []events.Event
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, MapError(err))
		}
		e, err := s.decode(ev)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("read %s: %w", stream, ledger.ErrStreamNotFound)
	}
	return out, nil
}

func (s *Store) decode(ev *kurrentdb.ResolvedEvent) (events.Event, error) {
	r := ev.OriginalEvent()
	e, err := events.Decode(r.Data)
	if err != nil {
		return events.Event{}, fmt.Errorf("event %s: %w", r.EventID, err)
	}
	var m meta
	json.Unmarshal(r.UserMetadata, &m) //nolint:errcheck // a missing hash fails verification
	e.Hash, e.Raw, e.Position = m.Hash, r.Data, r.Position.Commit
	return e, nil
}

// ours reports whether a $all event belongs to this ledger.
func (s *Store) ours(r *kurrentdb.RecordedEvent) bool {
	return strings.HasPrefix(r.StreamID, s.prefix) && !strings.HasPrefix(r.StreamID, s.prefix+"$$") && !strings.HasPrefix(r.EventType, "$")
}

// Head implements ledger.Ledger: the position of the last Relais event.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	rs, err := s.c.ReadAll(ctx, kurrentdb.ReadAllOptions{Direction: kurrentdb.Backwards, From: kurrentdb.End{}}, 4096)
	if err != nil {
		return 0, MapError(err)
	}
	defer rs.Close()
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return 0, nil
		}
		if err != nil {
			return 0, MapError(err)
		}
		if r := ev.OriginalEvent(); s.ours(r) {
			return r.Position.Commit, nil
		}
	}
}

// Subscribe implements ledger.Ledger over $all.
func (s *Store) Subscribe(ctx context.Context, from uint64, fn func(context.Context, events.Event) error, opts ...ledger.SubscribeOption) error {
	o := ledger.ApplySubscribeOptions(opts)
	stopAt := o.Until
	if o.StopAtHead {
		h, err := s.Head(ctx)
		if err != nil {
			return err
		}
		if h == 0 || h < from {
			return nil
		}
		if stopAt == 0 || h < stopAt {
			stopAt = h
		}
	}
	sub, err := s.c.SubscribeToAll(ctx, kurrentdb.SubscribeToAllOptions{From: kurrentdb.Start{}, Filter: kurrentdb.ExcludeSystemEventsFilter()})
	if err != nil {
		return fmt.Errorf("subscribe: %w", MapError(err))
	}
	defer sub.Close()
	for {
		se := sub.Recv()
		if se.SubscriptionDropped != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("subscribe: %w", MapError(se.SubscriptionDropped.Error))
		}
		if se.EventAppeared == nil {
			continue
		}
		r := se.EventAppeared.OriginalEvent()
		if !s.ours(r) || r.Position.Commit < from {
			continue
		}
		e, err := s.decode(se.EventAppeared)
		if err != nil {
			return err
		}
		if err := fn(ctx, e); err != nil {
			return err
		}
		if stopAt > 0 && e.Position >= stopAt {
			return nil
		}
	}
}
