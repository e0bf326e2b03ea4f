package jetstream

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// The event-id index is saved, like a projection, in the snapshot bucket
// (object idIndexSnapshot, with the position it covers), so that a start
// reads only the ledger's ids after it instead of all of them. It is saved
// every indexSnapshotEvery events the indexer reads and when the store
// closes. A snapshot that cannot be read is ignored (the index is rebuilt
// from position 1): it is a cache of what the ledger holds.
const (
	idIndexSnapshot    = "relais-event-id-index"
	indexSnapshotEvery = 100_000
	// idSnapshotMagic starts the encoding: version 1 is the magic, then
	// when the ledger stream was created (unix nanoseconds: a snapshot of
	// another ledger by the same name is not used), the entry count, then
	// (hash, position) pairs; all uint64, little endian.
	idSnapshotMagic = "relais-idx-v1\n"
)

// encode returns the index's entries and the position they cover; created
// identifies the ledger stream.
func (x *idIndex) encode(created int64) ([]byte, uint64) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	pos := x.indexed.Load() // add and indexed move together under the indexer
	n := len(x.first)
	for _, ps := range x.more {
		n += len(ps)
	}
	b := make([]byte, 0, len(idSnapshotMagic)+16+16*n)
	b = append(b, idSnapshotMagic...)
	b = binary.LittleEndian.AppendUint64(b, uint64(created))
	b = binary.LittleEndian.AppendUint64(b, uint64(n))
	for h, p := range x.first {
		b = binary.LittleEndian.AppendUint64(b, h)
		b = binary.LittleEndian.AppendUint64(b, p)
	}
	for h, ps := range x.more {
		for _, p := range ps {
			b = binary.LittleEndian.AppendUint64(b, h)
			b = binary.LittleEndian.AppendUint64(b, p)
		}
	}
	return b, pos
}

// errBadIDSnapshot: the saved index is not one this version wrote.
var errBadIDSnapshot = errors.New("not an event-id index snapshot")

// decode replaces the index's entries with b's, covering pos, when b was
// saved from the ledger stream created at created.
func (x *idIndex) decode(b []byte, pos uint64, created int64) error {
	if !bytes.HasPrefix(b, []byte(idSnapshotMagic)) || len(b) < len(idSnapshotMagic)+16 {
		return errBadIDSnapshot
	}
	b = b[len(idSnapshotMagic):]
	if c := int64(binary.LittleEndian.Uint64(b)); c != created {
		return fmt.Errorf("%w of this ledger: saved from a ledger stream created at %s, this one was created at %s",
			errBadIDSnapshot, time.Unix(0, c).UTC().Format(time.RFC3339Nano), time.Unix(0, created).UTC().Format(time.RFC3339Nano))
	}
	n := binary.LittleEndian.Uint64(b[8:])
	b = b[16:]
	if uint64(len(b)) != 16*n {
		return fmt.Errorf("%w: %d bytes for %d entries", errBadIDSnapshot, len(b), n)
	}
	first := make(map[uint64]uint64, n)
	more := map[uint64][]uint64{}
	for i := uint64(0); i < n; i++ {
		h, p := binary.LittleEndian.Uint64(b[16*i:]), binary.LittleEndian.Uint64(b[16*i+8:])
		if p == 0 || p > pos {
			return fmt.Errorf("%w: entry at position %d beyond the snapshot's %d", errBadIDSnapshot, p, pos)
		}
		if q, ok := first[h]; !ok {
			first[h] = p
		} else if p < q {
			first[h] = p
			more[h] = append(more[h], q)
		} else {
			more[h] = append(more[h], p)
		}
	}
	x.mu.Lock()
	x.first, x.more = first, more
	x.mu.Unlock()
	x.indexed.Store(pos)
	return nil
}

// restoreIndex loads the saved index when the snapshot bucket holds one
// no further than head; it returns the position it covers (0: none).
func (s *Store) restoreIndex(ctx context.Context, head uint64) uint64 {
	x := s.idx
	obs, err := s.js.ObjectStore(ctx, SnapshotBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return 0
	}
	if err != nil {
		x.log.Warn("event-id index: snapshot bucket unreadable, reading every id from the ledger", zap.Error(err))
		return 0
	}
	snaps := &Snapshots{obs: obs}
	start := time.Now()
	b, pos, err := snaps.Load(ctx, idIndexSnapshot)
	if err == nil && b != nil && pos > head {
		err = fmt.Errorf("it covers position %d, past the ledger's head %d", pos, head)
	}
	if err == nil && b != nil {
		err = x.decode(b, pos, s.ledgerCreated())
	}
	if err != nil {
		x.log.Warn("event-id index: snapshot not used, reading every id from the ledger", zap.Error(err))
		x.mu.Lock()
		x.first, x.more = map[uint64]uint64{}, map[uint64][]uint64{}
		x.mu.Unlock()
		x.indexed.Store(0)
		return 0
	}
	if b == nil {
		return 0
	}
	x.saved.Store(pos)
	x.log.Info("event-id index restored", zap.Uint64("position", pos), zap.Int("ids", x.size()), zap.Duration("took", time.Since(start).Round(time.Millisecond)))
	return pos
}

// saveIndex saves the index when it moved since the last save.
func (s *Store) saveIndex(ctx context.Context) {
	x := s.idx
	if x.indexed.Load() == x.saved.Load() {
		return
	}
	snaps, err := s.Snapshots(ctx)
	if err == nil {
		b, pos := x.encode(s.ledgerCreated())
		if err = snaps.Save(ctx, idIndexSnapshot, b, pos); err == nil {
			x.saved.Store(pos)
			return
		}
	}
	x.saveRetry.Store(x.indexed.Load() + indexSnapshotEvery)
	x.log.Warn("event-id index: snapshot not saved (the next start reads more of the ledger); tried again after another indexSnapshotEvery ids",
		zap.Int("every", indexSnapshotEvery), zap.Error(err))
}

// ledgerCreated identifies the ledger stream: when it was created.
func (s *Store) ledgerCreated() int64 { return s.st.CachedInfo().Created.UnixNano() }
