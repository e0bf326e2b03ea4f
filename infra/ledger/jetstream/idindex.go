package jetstream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

// The event-id index makes appends idempotent by event id for ever, not
// only inside JetStream's duplicate window.
//
// Every ledger message carries Nats-Msg-Id = its event id, so the ledger is
// its own index: every Store follows the ledger's headers (an ordered,
// headers-only consumer) and keeps, in memory, a 64-bit hash of each event
// id with the ledger position where it was first recorded; the index is
// saved in the snapshot bucket (idsnapshot.go), so a start reads only the
// ids after the last save. It indexes every writer's events, so with several Relais
// instances each one knows every instance's ids, and a crash loses nothing:
// the index is rebuilt from the ledger at each start. Nothing is written
// for it (an earlier version kept a second JetStream stream,
// RELAIS_EVENT_IDS, which cost one more stored message per event and a
// lookup round trip per append; it is no longer used and can be deleted).
//
// Each append looks its ids up before it is queued. A hash found is checked
// against the event stored at that position (hashes may collide); an id
// found there gets the original result. An id not found is either new, or
// was stored so recently that the indexer has not seen it yet: that event
// is then still inside JetStream's duplicate window, and JetStream refuses
// the second copy. The rule that makes this hold:
//
//	an append is published only if, when its ids were looked up, every
//	ledger event stored more than window/2 earlier was indexed, and it is
//	published less than window/2 after that lookup.
//
// The indexer records when it last covered the ledger (coveredAt); an
// append looked up when the index is more than window/2 behind waits for
// it (up to the store's timeout, then ledger.ErrUnavailable: idempotence
// could not be guaranteed), and one staged more than window/2 after its
// lookup is looked up again. On a cluster, the server feeding the indexer
// is assumed less than window/2 behind the stream's leader (JetStream's
// default window is 2 minutes).
//
// Memory: about 40 bytes per event id (BenchmarkIDIndexAdd); a start
// restores the saved index and reads the headers after it (docs/BENCHMARKS.md).

// DefaultDuplicateWindow is JetStream's duplicate window Open creates the
// ledger stream with (Config.DuplicateWindow changes it).
const DefaultDuplicateWindow = 2 * time.Minute

// indexProgressEvery is how often the indexer logs its progress while it
// reads the ledger at start.
const indexProgressEvery = 5 * time.Second

// idIndex is the Store's in-memory event-id index.
type idIndex struct {
	window time.Duration
	log    *zap.Logger

	mu sync.RWMutex
	// first maps the hash of an event id to the lowest ledger position
	// holding an id with that hash; more holds the further positions of a
	// hash seen again (another id with the same hash, or the same id
	// recorded twice by a ledger older than the index).
	first map[uint64]uint64
	more  map[uint64][]uint64
	// gen counts the resets (checkIndexedTail), under mu.
	gen uint64

	// coveredAt (unix nanoseconds): every ledger event stored before it
	// is indexed.
	coveredAt atomic.Int64
	// indexed: every ledger position up to it is indexed.
	indexed atomic.Uint64
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	// saved is the position of the last snapshot saved or restored.
	saved atomic.Uint64
	// reread tells the indexer to read the ledger again from position 1
	// (checkIndexedTail emptied the index).
	reread chan struct{}
	// saveRetry: after a save failed, the position before which no save
	// is tried again (one more every indexSnapshotEvery ids, not one per id).
	saveRetry atomic.Uint64
}

// openIndex starts the indexer, which first reads the ledger's headers
// from position 1 to its head (appends wait for it: indexReady).
func (s *Store) openIndex(ctx context.Context) error {
	window := s.st.CachedInfo().Config.Duplicates
	if window <= 0 {
		window = DefaultDuplicateWindow
	}
	x := &idIndex{window: window, log: s.log,
		first: map[uint64]uint64{}, more: map[uint64][]uint64{},
		stop: make(chan struct{}), done: make(chan struct{}), reread: make(chan struct{}, 1)}
	at := time.Now()
	info, err := s.st.Info(ctx)
	if err != nil {
		return fmt.Errorf("%w: stream info: %w", ledger.ErrUnavailable, err)
	}
	if info.State.LastSeq == 0 {
		x.advance(at)
	}
	s.idx = x
	s.restoreIndex(ctx, info.State.LastSeq)
	go s.runIndexer(info.State.LastSeq)
	return nil
}

func (x *idIndex) close() {
	x.once.Do(func() { close(x.stop) })
	<-x.done
}

// hash is the index's key for id: stable across processes (the index is
// saved, idsnapshot.go); a collision, even one crafted, costs one read of
// the event stored there (lookupIDs checks it), never a wrong answer.
func hashID(id string) uint64 { return xxhash.Sum64String(id) }

// add records that id is stored at pos (positions come in ledger order)
// and that every position up to pos is indexed.
func (x *idIndex) add(id string, pos uint64) { x.addIn(x.generation(), id, pos) }

// generation counts the resets of the index (checkIndexedTail).
func (x *idIndex) generation() uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.gen
}

// addIn is add for an indexer that started in generation gen: false, and
// nothing added, when the index was reset since.
func (x *idIndex) addIn(gen uint64, id string, pos uint64) bool {
	h := hashID(id)
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.gen != gen {
		return false
	}
	if _, ok := x.first[h]; ok {
		x.more[h] = append(x.more[h], pos)
	} else {
		x.first[h] = pos
	}
	x.indexed.Store(pos)
	return true
}

// candidates returns, for each of ids whose hash the index holds, the
// positions holding an id with that hash, lowest first.
func (x *idIndex) candidates(ids []string) map[string][]uint64 {
	var out map[string][]uint64
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, id := range ids {
		h := hashID(id)
		p, ok := x.first[h]
		if !ok {
			continue
		}
		if out == nil {
			out = map[string][]uint64{}
		}
		out[id] = append([]uint64{p}, x.more[h]...)
	}
	return out
}

// size is the number of ledger positions indexed.
func (x *idIndex) size() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := len(x.first)
	for _, ps := range x.more {
		n += len(ps)
	}
	return n
}

// runIndexer indexes the ledger from position 1 on until the index is
// closed, restarting its consumer after a failure. head is the ledger's
// head at start, for the progress log.
func (s *Store) runIndexer(head uint64) {
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
	defer func() {
		// Saved at a clean stop, so the next start reads only what follows.
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		s.saveIndex(sctx)
	}()
	from := x.indexed.Load()
	p := &indexProgress{start: time.Now(), from: from, head: head, last: time.Now()}
	if head > from {
		x.log.Info("event-id index: reading the ledger's event ids", zap.Uint64("from", from+1), zap.Uint64("head", head))
	}
	for backoff := 50 * time.Millisecond; ctx.Err() == nil; backoff = min(2*backoff, 5*time.Second) {
		err := s.indexFrom(ctx, x.indexed.Load(), p)
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

// indexProgress is the indexer's progress through the ledger it found at
// start.
type indexProgress struct {
	start, last time.Time
	from, head  uint64
	done        bool
}

// note logs the progress every few seconds until pos reaches the head
// found at start, then once how long it took.
func (p *indexProgress) note(x *idIndex, pos uint64) {
	if p.done {
		return
	}
	now := time.Now()
	if pos >= p.head {
		p.done = true
		if p.head > p.from {
			took := now.Sub(p.start)
			x.log.Info("event-id index: caught up", zap.Uint64("position", pos), zap.Int("ids", x.size()),
				zap.Duration("took", took.Round(time.Millisecond)), zap.Float64("events_per_s", float64(pos-p.from)/max(took.Seconds(), 1e-3)))
		}
		return
	}
	if now.Sub(p.last) >= indexProgressEvery {
		p.last = now
		x.log.Info("event-id index: reading the ledger's event ids", zap.Uint64("position", pos), zap.Uint64("head", p.head),
			zap.Float64("events_per_s", float64(pos-p.from)/max(now.Sub(p.start).Seconds(), 1e-3)))
	}
}

// indexFrom follows the ledger's headers from position from+1 and indexes
// their ids; it returns on the first failure.
func (s *Store) indexFrom(ctx context.Context, from uint64, p *indexProgress) error {
	x := s.idx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	select {
	case <-x.reread: // this start reads from the position after the reset
	default:
	}
	if err := s.checkIndexedTail(ctx); err != nil {
		return err
	}
	gen := x.generation()
	from = x.indexed.Load()
	cons, err := s.js.OrderedConsumer(ctx, StreamName, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{SubjectPrefix + ">"},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    from + 1,
		HeadersOnly:    true,
	})
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(4096))
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	defer it.Stop()
	// idle: with nothing new, the index still covers the ledger; say so
	// often enough that appends never find it stale.
	tick := time.NewTicker(x.window / 8)
	defer tick.Stop()
	msgs := make(chan jetstream.Msg, 256)
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
	for {
		var m jetstream.Msg
		select {
		case m = <-msgs:
		case err := <-errs:
			return err
		case <-tick.C:
			if err := s.refreshCoverage(ctx); errors.Is(err, errIndexReset) {
				return err
			} else if err != nil {
				x.log.Warn("event-id index: coverage check failed", zap.Error(err))
			}
			continue
		case <-x.reread:
			return errIndexReset
		case <-ctx.Done():
			return ctx.Err()
		}
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
		pos := md.Sequence.Stream
		id := m.Headers().Get(jetstream.MsgIDHeader)
		if id == "" {
			// Events appended before every message carried its id.
			if id, err = s.idAt(ctx, pos); err != nil {
				return err
			}
		}
		if !x.addIn(gen, id, pos) {
			return errIndexReset
		}
		// Everything stored before it is indexed now.
		x.advance(md.Timestamp)
		p.note(x, pos)
		if pos-x.saved.Load() >= indexSnapshotEvery && pos >= x.saveRetry.Load() {
			s.saveIndex(ctx)
		}
	}
}

// errIndexReset: the ledger no longer holds what the index read (checkIndexedTail);
// the indexer starts again from position 1.
var errIndexReset = errors.New("event-id index reset: the ledger no longer holds what it read")

// checkIndexedTail checks that the ledger still holds, at the last position
// the index read, an id the index holds there. A NATS server that came back
// with a shorter ledger (its unsynced tail lost, or its files restored from
// a backup) reuses those positions for new events, which an indexer reading
// on from where it was would never see, and a snapshot saved after them
// would keep the gap for good: the index is then emptied (appends wait for
// it, ledger.ErrUnavailable, rather than take a duplicate) and read again
// from position 1, and errIndexReset returned.
func (s *Store) checkIndexedTail(ctx context.Context) error {
	x := s.idx
	pos := x.indexed.Load()
	if pos == 0 {
		return nil
	}
	m, err := s.headReader().GetMsg(ctx, pos)
	var apiErr *jetstream.APIError
	if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) && !errors.As(err, &apiErr) {
		return fmt.Errorf("check position %d: %w", pos, mapErr(err))
	}
	if err != nil {
		// Unreadable: a record damaged since it was read (the damaged
		// stream's own checks name it), unless the ledger now ends before it.
		info, ierr := s.st.Info(ctx)
		if ierr != nil {
			return fmt.Errorf("check position %d: stream info: %w", pos, mapErr(ierr))
		}
		if info.State.LastSeq >= pos {
			return nil
		}
	}
	if err == nil {
		id := m.Header.Get(jetstream.MsgIDHeader)
		if id == "" {
			e, derr := events.Decode(m.Data)
			if derr != nil {
				return fmt.Errorf("check position %d: %w", pos, derr)
			}
			id = e.ID
		}
		if x.holds(hashID(id), pos) {
			return nil
		}
	}
	x.log.Error("event-id index: the ledger no longer holds what the index read there (a lost tail, or files restored from a backup): reading every id again; appends wait for it",
		zap.Uint64("position", pos), zap.NamedError("read", err))
	x.mu.Lock()
	x.gen++
	x.first, x.more = map[uint64]uint64{}, map[uint64][]uint64{}
	x.indexed.Store(0)
	x.saved.Store(0)
	x.saveRetry.Store(0)
	x.coveredAt.Store(0)
	x.mu.Unlock()
	select {
	case x.reread <- struct{}{}:
	default:
	}
	return errIndexReset
}

// skipUnreadable counts as indexed the positions right after the index's
// that the server holds but cannot read (a damaged record, which no
// consumer ever delivers and whose stream its own checks refuse): without
// it, a damaged last record kept the index behind the head for ever, and
// serve from becoming ready.
func (s *Store) skipUnreadable(ctx context.Context, last uint64) {
	x := s.idx
	for range 1024 {
		gen := x.generation()
		pos := x.indexed.Load() + 1
		if pos > last {
			return
		}
		_, err := s.headReader().GetMsg(ctx, pos)
		var apiErr *jetstream.APIError
		if err == nil || !errors.Is(err, jetstream.ErrMsgNotFound) && !errors.As(err, &apiErr) {
			return // readable (the indexer will read it), or no answer
		}
		x.mu.Lock()
		ok := x.gen == gen && x.indexed.Load() == pos-1
		if ok {
			x.indexed.Store(pos)
		}
		x.mu.Unlock()
		if !ok {
			return
		}
		x.log.Warn("event-id index: position unreadable, holds no id the index can read", zap.Uint64("position", pos), zap.Error(err))
	}
}

// holds tells whether the index has hash h at pos.
func (x *idIndex) holds(h, pos uint64) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if p, ok := x.first[h]; ok && p == pos {
		return true
	}
	for _, p := range x.more[h] {
		if p == pos {
			return true
		}
	}
	return false
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
	if err := s.checkIndexedTail(ctx); err != nil {
		return err
	}
	s.skipUnreadable(ctx, info.State.LastSeq)
	if info.State.LastSeq <= s.idx.indexed.Load() {
		s.idx.advance(at)
	}
	return nil
}

// idAt reads the event id of the ledger event at pos: its Nats-Msg-Id, or
// for events appended before every message carried it, its body's id.
func (s *Store) idAt(ctx context.Context, pos uint64) (string, error) {
	m, err := s.headReader().GetMsg(ctx, pos)
	if err != nil {
		return "", fmt.Errorf("read position %d: %w", pos, mapErr(err))
	}
	if id := m.Header.Get(jetstream.MsgIDHeader); id != "" {
		return id, nil
	}
	e, err := events.Decode(m.Data)
	if err != nil {
		return "", fmt.Errorf("position %d: %w", pos, err)
	}
	return e.ID, nil
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

// lookupIDs checks the index is current and looks evs' ids up in it; it
// returns the positions found and the time of the lookup.
func (s *Store) lookupIDs(ctx context.Context, evs []events.Event) (map[string]uint64, time.Time, error) {
	x := s.idx
	ids := make([]string, len(evs))
	for i := range evs {
		ids[i] = evs[i].ID
	}
	for try := 0; ; try++ {
		if err := s.indexReady(ctx); err != nil {
			return nil, time.Time{}, err
		}
		covered := x.coveredAt.Load()
		at := time.Now()
		cands := x.candidates(ids)
		if at.UnixNano()-covered >= int64(x.window/2) {
			if try < 3 {
				continue // indexReady waits for the index, or says why not
			}
			return nil, time.Time{}, fmt.Errorf("%w: the event-id index fell behind the ledger while this append was looked up", ledger.ErrUnavailable)
		}
		found := map[string]uint64{}
		for _, id := range ids {
			for _, pos := range cands[id] {
				got, err := s.idAt(ctx, pos)
				if err != nil {
					return nil, time.Time{}, fmt.Errorf("event-id index: %w", err)
				}
				if got == id {
					found[id] = pos
					break
				}
			}
		}
		return found, at, nil
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

// IndexProgress says how far the event-id index has read the ledger: every
// position up to indexed is indexed.
func (s *Store) IndexProgress() (indexed uint64) {
	if s.idx == nil {
		return 0
	}
	return s.idx.indexed.Load()
}

// WaitIndexed blocks until the event-id index has read the ledger up to
// the head it had when WaitIndexed was called (at start, while the indexer
// reads the ledger's ids, an append would wait for it); it returns at once
// on a store opened only to read.
func (s *Store) WaitIndexed(ctx context.Context) error {
	x := s.idx
	if x == nil {
		return nil
	}
	info, err := s.st.Info(ctx)
	if err != nil {
		return fmt.Errorf("%w: stream info: %w", ledger.ErrUnavailable, mapErr(err))
	}
	head := info.State.LastSeq
	for x.indexed.Load() < head {
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("event-id index at position %d of %d: %w", x.indexed.Load(), head, ctx.Err())
		}
	}
	return nil
}
