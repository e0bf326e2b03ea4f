package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
	"go.uber.org/zap"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

// The event-id index makes appends idempotent by event id for ever, not
// only inside JetStream's duplicate window.
//
// RELAIS_EVENT_IDS holds one message per ledger event, on the subject
// relais.id.<event id>, whose body is the event's ledger position; the
// first position recorded for an id wins (each entry is written with
// Nats-Expected-Last-Subject-Sequence 0). relais.idmark holds a position
// below which every ledger event is indexed. The stream is replicated like
// the ledger.
//
// Every Store runs an indexer: an ordered, headers-only consumer of the
// ledger from the mark on, which writes the entries in ledger order after
// the events are stored (pipelined: an append never waits for its own
// entry) and moves the mark once they are acknowledged. It indexes every
// writer's events, so with several Relais instances one crashing loses no
// entry: any instance's indexer writes it, and a restarted one re-indexes
// from the mark (rewriting an entry that is there changes nothing).
//
// Each append looks its event ids up in the index before it is queued;
// concurrent appends' lookups are coalesced into one request (a direct get
// for one id, multi_last batches for several: lookupLoop), whose send time
// is each one's lookup time. An id found
// there gets the original result. An id not found is either new, or was
// stored so recently that its entry is not written yet: that event is then
// still inside JetStream's duplicate window, and every ledger message
// carries Nats-Msg-Id = its event id, so JetStream refuses the second copy.
// The rule that makes this hold:
//
//	an append is published only if, when its ids were looked up, every
//	ledger event stored more than window/2 earlier was indexed, and it is
//	published less than window/2 after that lookup.
//
// The indexer records when it last covered the ledger (coveredAt); an
// append looked up when the index is more than window/2 behind is refused
// with ledger.ErrUnavailable (the indexer is stuck: idempotence could not
// be guaranteed), and one staged more than window/2 after its lookup is
// looked up again. After a crash, nothing is lost: the mark is written
// after the entries below it are acknowledged, and Open re-indexes the
// ledger from the mark to its head before it accepts an append. On a
// cluster, a follower answering a lookup is assumed less than window/2
// behind its leader (JetStream's default window is 2 minutes).
const (
	// IndexStreamName is the JetStream stream of the event-id index.
	IndexStreamName = "RELAIS_EVENT_IDS"
	// IndexSubjectPrefix prefixes each event id's subject in the index.
	IndexSubjectPrefix = "relais.id."
	// indexMarkSubject holds the position below which every event is indexed.
	indexMarkSubject = "relais.idmark"
	// DefaultDuplicateWindow is JetStream's duplicate window Open creates
	// the ledger stream with (Config.DuplicateWindow changes it).
	DefaultDuplicateWindow = 2 * time.Minute
	// indexRound is the most entries the indexer writes before it waits
	// for their acknowledgements.
	indexRound = 512
)

// IndexConfig is the configuration Open creates the event-id index with.
func IndexConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              IndexStreamName,
		Description:       "Relais event-id index: ledger position of every event id (idempotence beyond the duplicate window)",
		Subjects:          []string{IndexSubjectPrefix + ">", indexMarkSubject},
		Storage:           jetstream.FileStorage,
		Replicas:          replicas,
		Retention:         jetstream.LimitsPolicy,
		MaxMsgsPerSubject: 1,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		AllowDirect:       true,
	}
}

// idIndex is the Store's view of the event-id index.
type idIndex struct {
	st     jetstream.Stream
	js     jetstream.JetStream // the indexer's own publisher
	window time.Duration
	log    *zap.Logger
	// coveredAt (unix nanoseconds): every ledger event stored before it
	// is indexed.
	coveredAt atomic.Int64
	// indexed: every ledger position up to it is indexed.
	indexed atomic.Uint64
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	// written counts entries written (for tests and stats).
	written atomic.Uint64
	// lookups feeds the lookup coalescer (lookupLoop); lookDone is closed
	// when it has stopped.
	lookups  chan *lookReq
	lookDone chan struct{}
	timeout  time.Duration
}

// openIndex creates or binds the index and starts the indexer, which
// first re-indexes the ledger from the mark to its head (appends wait for
// it: indexReady).
func (s *Store) openIndex(ctx context.Context) error {
	window := s.st.CachedInfo().Config.Duplicates
	if window <= 0 {
		window = DefaultDuplicateWindow
	}
	st, err := ensureStream(ctx, s.js, IndexConfig(s.cfg.Replicas))
	if err != nil {
		return err
	}
	s.reportReplicas(ctx, "stream "+IndexStreamName, IndexStreamName)
	js, err := jetstream.New(s.nc, jetstream.WithDefaultTimeout(s.cfg.Timeout))
	if err != nil {
		return fmt.Errorf("%w: jetstream: %w", ledger.ErrUnavailable, err)
	}
	x := &idIndex{st: st, js: js, window: window, log: s.log, stop: make(chan struct{}), done: make(chan struct{}),
		lookups: make(chan *lookReq, 1024), lookDone: make(chan struct{}), timeout: s.cfg.Timeout}
	mark, err := x.readMark(ctx)
	if err != nil {
		return err
	}
	at := time.Now()
	info, err := s.st.Info(ctx)
	if err != nil {
		return fmt.Errorf("%w: stream info: %w", ledger.ErrUnavailable, err)
	}
	x.indexed.Store(mark)
	if mark >= info.State.LastSeq {
		x.advance(at)
	}
	s.idx = x
	go s.runIndexer(mark)
	go x.lookupLoop()
	return nil
}

func (x *idIndex) close() {
	x.once.Do(func() { close(x.stop) })
	<-x.done
	<-x.lookDone
}

// readMark returns the position below which every event is indexed.
func (x *idIndex) readMark(ctx context.Context) (uint64, error) {
	m, err := x.st.GetLastMsgForSubject(ctx, indexMarkSubject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("%w: read the event-id index mark: %w", ledger.ErrUnavailable, err)
	}
	n, err := strconv.ParseUint(string(m.Data), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("event-id index mark %q: %w", m.Data, err)
	}
	return n, nil
}

// runIndexer indexes the ledger from position from+1 on until the index
// is closed, restarting its consumer after a failure.
func (s *Store) runIndexer(from uint64) {
	x := s.idx
	defer close(x.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-x.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	x.indexed.Store(from)
	for backoff := 50 * time.Millisecond; ctx.Err() == nil; backoff = min(2*backoff, 5*time.Second) {
		err := s.indexFrom(ctx, x.indexed.Load())
		if ctx.Err() != nil {
			return
		}
		x.log.Warn("event-id index: indexer failed, restarting", zap.Uint64("indexed", x.indexed.Load()), zap.Error(err))
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
	}
}

// indexFrom follows the ledger's headers from position from+1 and writes
// their entries, one round at a time; it returns on the first failure.
func (s *Store) indexFrom(ctx context.Context, from uint64) error {
	x := s.idx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cons, err := s.js.OrderedConsumer(ctx, StreamName, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{SubjectPrefix + ">"},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    from + 1,
		HeadersOnly:    true,
	})
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(2 * indexRound))
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	defer it.Stop()
	// idle: with nothing new, the index still covers the ledger; say so
	// often enough that appends never find it stale.
	tick := time.NewTicker(x.window / 8)
	defer tick.Stop()
	msgs := make(chan jetstream.Msg)
	errs := make(chan error, 1)
	go func() {
		for {
			m, err := it.Next()
			if err != nil {
				errs <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	var round []entry
	lastMark := x.indexed.Load()
	markAt := time.Now()
	// idle flushes a round the consumer stopped feeding (its last
	// message said more were pending: a record no read returns, or more
	// coming slowly).
	var idle <-chan time.Time
	flush := func() error {
		idle = nil
		if len(round) == 0 {
			return nil
		}
		if err := x.write(ctx, round); err != nil {
			return err
		}
		last := round[len(round)-1]
		x.indexed.Store(last.pos)
		// Everything stored before the last of them is indexed now.
		x.advance(last.at)
		round = round[:0]
		if last.pos-lastMark >= 10*indexRound || time.Since(markAt) > x.window/8 {
			if err := x.writeMark(ctx, last.pos); err != nil {
				return err
			}
			lastMark, markAt = last.pos, time.Now()
		}
		return nil
	}
	for {
		var m jetstream.Msg
		select {
		case m = <-msgs:
		case err := <-errs:
			return err
		case <-idle:
			if err := flush(); err != nil {
				return err
			}
			continue
		case <-tick.C:
			if err := s.refreshCoverage(ctx); err != nil {
				x.log.Warn("event-id index: coverage check failed", zap.Error(err))
			}
			continue
		case <-ctx.Done():
			return ctx.Err()
		}
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
		id := m.Headers().Get(jetstream.MsgIDHeader)
		if id == "" {
			// Events appended before every message carried its id.
			if id, err = s.idAt(ctx, md.Sequence.Stream); err != nil {
				return err
			}
		}
		round = append(round, entry{id: id, pos: md.Sequence.Stream, at: md.Timestamp})
		if md.NumPending > 0 && len(round) < indexRound {
			if idle == nil {
				idle = time.After(20 * time.Millisecond)
			}
			continue
		}
		if err := flush(); err != nil {
			return err
		}
	}
}

// entry is one event id to index at a ledger position stored at time at.
type entry struct {
	id  string
	pos uint64
	at  time.Time
}

// advance moves coveredAt forward to t.
func (x *idIndex) advance(t time.Time) {
	n := t.UnixNano()
	for {
		old := x.coveredAt.Load()
		if n <= old || x.coveredAt.CompareAndSwap(old, n) {
			return
		}
	}
}

// refreshCoverage, when everything in the ledger is indexed, moves
// coveredAt to the time of the check.
func (s *Store) refreshCoverage(ctx context.Context) error {
	at := time.Now()
	info, err := s.st.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream info: %w", err)
	}
	if info.State.LastSeq <= s.idx.indexed.Load() {
		s.idx.advance(at)
	}
	return nil
}

// idAt reads the event id of the ledger event at pos from its body.
func (s *Store) idAt(ctx context.Context, pos uint64) (string, error) {
	m, err := s.headReader().GetMsg(ctx, pos)
	if err != nil {
		return "", fmt.Errorf("read position %d: %w", pos, err)
	}
	e, err := events.Decode(m.Data)
	if err != nil {
		return "", fmt.Errorf("position %d: %w", pos, err)
	}
	return e.ID, nil
}

// write records round's entries and waits for their acknowledgements. An
// entry already there keeps its first position.
func (x *idIndex) write(ctx context.Context, round []entry) error {
	futs := make([]jetstream.PubAckFuture, len(round))
	for i, e := range round {
		m := nats.NewMsg(IndexSubjectPrefix + e.id)
		m.Data = strconv.AppendUint(nil, e.pos, 10)
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
		f, err := x.js.PublishMsgAsync(m)
		if err != nil {
			return fmt.Errorf("index %s: %w", e.id, err)
		}
		futs[i] = f
	}
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for i, f := range futs {
		select {
		case <-f.Ok():
			x.written.Add(1)
		case err := <-f.Err():
			if !isWrongLastSeq(err) { // already indexed
				return fmt.Errorf("index %s (position %d): %w", round[i].id, round[i].pos, err)
			}
		case <-timeout.C:
			return fmt.Errorf("index %s (position %d): %w", round[i].id, round[i].pos, context.DeadlineExceeded)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// writeMark records that every event up to pos is indexed.
func (x *idIndex) writeMark(ctx context.Context, pos uint64) error {
	if _, err := x.js.Publish(ctx, indexMarkSubject, strconv.AppendUint(nil, pos, 10)); err != nil {
		return fmt.Errorf("write the index mark %d: %w", pos, err)
	}
	return nil
}

// indexReady waits (up to the store's timeout) until the index covers
// every ledger event stored more than window/2 ago: at start while the
// indexer catches up, and whenever it seems behind it checks the ledger's
// head.
func (s *Store) indexReady(ctx context.Context) error {
	x := s.idx
	if x == nil {
		return fmt.Errorf("%w: this store was opened on an existing ledger only to read it", ledger.ErrUnavailable)
	}
	if x.fresh(time.Now()) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		err := s.refreshCoverage(ctx)
		if x.fresh(time.Now()) {
			return nil
		}
		select {
		case <-time.After(wait):
			continue
		case <-ctx.Done():
		}
		behind := "never caught up since start"
		if c := x.coveredAt.Load(); c != 0 {
			behind = time.Since(time.Unix(0, c)).Round(time.Millisecond).String() + " behind"
		}
		if err != nil {
			behind += " (" + err.Error() + ")"
		}
		return fmt.Errorf("%w: the event-id index is %s the ledger (indexed up to position %d): an append now could not be told from an earlier one with the same id",
			ledger.ErrUnavailable, behind, x.indexed.Load())
	}
}

// fresh: at time now, the index covers every event stored before
// now - window/2.
func (x *idIndex) fresh(now time.Time) bool {
	return now.UnixNano()-x.coveredAt.Load() < int64(x.window/2)
}

// lookup adds to found the ledger positions the index holds for ids (at
// most maxLookup of them).
func (x *idIndex) lookup(ctx context.Context, ids []string, found map[string]uint64) error {
	if len(ids) == 1 {
		m, err := x.st.GetLastMsgForSubject(ctx, IndexSubjectPrefix+ids[0])
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("event-id index: %w", mapErr(err))
		}
		return x.parse(found, m.Subject, m.Data)
	}
	seen := make(map[string]bool, len(ids))
	subjects := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] { // the same id in concurrent appends
			seen[id] = true
			subjects = append(subjects, IndexSubjectPrefix+id)
		}
	}
	msgs, err := jetstreamext.GetLastMsgsFor(ctx, x.js, IndexStreamName, subjects)
	if err != nil {
		return fmt.Errorf("event-id index: %w", mapErr(err))
	}
	for m, err := range msgs {
		if errors.Is(err, jetstreamext.ErrNoMessages) {
			break
		}
		if err != nil {
			return fmt.Errorf("event-id index: %w", mapErr(err))
		}
		if err := x.parse(found, m.Subject, m.Data); err != nil {
			return err
		}
	}
	return nil
}

func (x *idIndex) parse(found map[string]uint64, subj string, data []byte) error {
	pos, err := strconv.ParseUint(string(data), 10, 64)
	if err != nil {
		return fmt.Errorf("event-id index: entry %s: %q is not a position", subj, data)
	}
	found[subj[len(IndexSubjectPrefix):]] = pos
	return nil
}

// maxLookup is the most ids one coalesced lookup gathers, and the most
// subjects one multi_last request asks for (the server answers at most
// 1024 messages per request).
const maxLookup = 256

// lookReq is one append's ids waiting for the lookup coalescer.
type lookReq struct {
	ids  []string
	done chan lookResp
}

type lookResp struct {
	found map[string]uint64
	at    time.Time
	// stale: the index was not current when the lookup was sent.
	stale bool
	err   error
}

// lookupLoop is the lookup coalescer: it gathers every append waiting to
// be looked up and looks all their ids up at once (one direct get, or
// multi_last requests of at most maxLookup subjects), then answers each.
// An append's lookup time is when the first request was sent; the index
// must have covered the ledger up to window/2 before the last request was
// sent (coveredAt is read before the first one).
func (x *idIndex) lookupLoop() {
	defer close(x.lookDone)
	var batch []*lookReq
	for {
		batch = batch[:0]
		select {
		case r := <-x.lookups:
			batch = append(batch, r)
		case <-x.stop:
			return
		}
		n := len(batch[0].ids)
	fill:
		for n < maxLookup {
			select {
			case r := <-x.lookups:
				batch = append(batch, r)
				n += len(r.ids)
			default:
				break fill
			}
		}
		ids := make([]string, 0, n)
		for _, r := range batch {
			ids = append(ids, r.ids...)
		}
		covered := x.coveredAt.Load()
		at := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), x.timeout)
		found := map[string]uint64{}
		var err error
		last := at
		for i := 0; i < len(ids) && err == nil; i += maxLookup {
			if i > 0 {
				last = time.Now()
			}
			err = x.lookup(ctx, ids[i:min(i+maxLookup, len(ids))], found)
		}
		cancel()
		stale := last.UnixNano()-covered >= int64(x.window/2)
		for _, r := range batch {
			resp := lookResp{at: at, stale: stale, err: err}
			if err == nil && !stale {
				resp.found = map[string]uint64{}
				for _, id := range r.ids {
					if pos, ok := found[id]; ok {
						resp.found[id] = pos
					}
				}
			}
			r.done <- resp
		}
	}
}

// lookupIDs checks the index is current and looks evs' ids up in it
// (coalesced with other appends' lookups); it returns the positions found
// and the time of the lookup.
func (s *Store) lookupIDs(ctx context.Context, evs []events.Event) (map[string]uint64, time.Time, error) {
	ids := make([]string, len(evs))
	for i := range evs {
		ids[i] = evs[i].ID
	}
	for try := 0; ; try++ {
		if err := s.indexReady(ctx); err != nil {
			return nil, time.Time{}, err
		}
		r := &lookReq{ids: ids, done: make(chan lookResp, 1)}
		select {
		case s.idx.lookups <- r:
		case <-ctx.Done():
			return nil, time.Time{}, ctx.Err()
		case <-s.idx.stop:
			return nil, time.Time{}, ledger.ErrClosed
		}
		var resp lookResp
		select {
		case resp = <-r.done:
		case <-ctx.Done():
			return nil, time.Time{}, ctx.Err()
		case <-s.idx.stop:
			return nil, time.Time{}, ledger.ErrClosed
		}
		if resp.err != nil {
			return nil, time.Time{}, resp.err
		}
		if resp.stale && try < 3 {
			continue // indexReady waits for the index, or says why not
		}
		if resp.stale {
			return nil, time.Time{}, fmt.Errorf("%w: the event-id index fell behind the ledger while this append was looked up", ledger.ErrUnavailable)
		}
		return resp.found, resp.at, nil
	}
}

// lookupStale: an append looked up at was not staged soon enough for
// JetStream's window to cover what the index may have missed.
func (s *Store) lookupStale(at time.Time, now time.Time) bool {
	return now.Sub(at) >= s.idx.window/2
}

// recorded decides an append some of whose ids the index holds: the
// original result when they are this append's events (this stream, in
// order, at the expected revision or with Any), otherwise a conflict. It
// reads the stream rather than trusting found alone: the indexer may have
// written part of a recent append's entries only.
func (s *Store) recorded(ctx context.Context, stream string, expected int64, evs []events.Event, found map[string]uint64) (ledger.Result, error) {
	stored, err := s.Read(ctx, stream, 1)
	if err != nil && !errors.Is(err, ledger.ErrStreamNotFound) {
		return ledger.Result{}, fmt.Errorf("append %s: check retry: %w", stream, err)
	}
	for i := range stored {
		if stored[i].ID == evs[0].ID && ledger.SameIDs(stored[i:], evs) {
			if expected == ledger.Any || expected == int64(i) {
				return duplicateOf(stream, stored[i:i+len(evs)]), nil
			}
			break
		}
	}
	if expected != ledger.Any && expected < int64(len(stored)) {
		s.count.conflicts.Add(1)
		return ledger.Result{}, &ledger.WrongRevisionError{Stream: stream, Expected: expected, Actual: uint64(len(stored))}
	}
	for _, e := range evs {
		if pos, ok := found[e.ID]; ok {
			return ledger.Result{}, fmt.Errorf("%w: append %s: event id %s is already recorded at position %d (an event id is recorded once in the ledger)", ledger.ErrInvalidEvent, stream, e.ID, pos)
		}
	}
	return ledger.Result{}, fmt.Errorf("append %s: the event-id index answered for ids this append does not hold", stream)
}
