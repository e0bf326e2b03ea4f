// Package jetstream is the NATS JetStream backend of the Relais ledger.
//
// All ledger streams live in one JetStream stream (RELAIS_EVENTS), one
// subject per ledger stream (relais.ev.<stream>), so the JetStream sequence
// is the global position. Appends carry Nats-Expected-Last-Subject-Sequence
// for optimistic concurrency and Nats-Msg-Id (the event id) for
// de-duplication; concurrent appends are group-committed into JetStream
// atomic batches, so under strict durability one fsync covers many callers.
// Subscriptions are ordered consumers. Projections keep their position in
// their snapshot (RELAIS_SNAPSHOTS), state and position in one object.
package jetstream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/relais-health/relais/infra/ledger"
)

const (
	// StreamName is the JetStream stream that holds the ledger.
	StreamName = "RELAIS_EVENTS"
	// SubjectPrefix prefixes every ledger stream's subject.
	SubjectPrefix = "relais.ev."
	// CheckpointBucket is the KV bucket of ledger metadata: today only the
	// seal marker. It keeps its first name (it once held consumer
	// checkpoints, which nothing wrote: projections keep their position in
	// their snapshot) so existing ledgers keep their marker.
	CheckpointBucket = "RELAIS_CHECKPOINTS"
	// sealedKey, in the checkpoint bucket, holds the id of the key a
	// ledger is sealed with, from the first keyed Open on: a store without
	// a key then refuses to append, even if the last event is unsealed.
	sealedKey = "relais-ledger-sealed"
	// HashHeader carries the event's chain hash.
	HashHeader = "Relais-Hash"
	// SealHeader carries the event's seal (see ledger.Keyring): proof that
	// it came through Relais's append path.
	SealHeader = "Relais-Seal"
	// MaxBatch is the most messages JetStream takes in one atomic batch.
	MaxBatch = 1000
)

var _ ledger.Ledger = (*Store)(nil)

// Config tunes the backend.
type Config struct {
	// Syncer, when set, makes every write durable before callers are
	// answered: appends are pipelined, then one Sync (an fsync of the
	// stream's files, see natsembed.StreamSyncer) covers the whole group.
	// This is strict durability with the embedded server.
	Syncer interface{ Sync() error }
	// SyncAlways says the server fsyncs every write (strict durability):
	// concurrent appends are then coalesced into one atomic batch so one
	// fsync covers them all. Without it appends are pipelined one by one.
	SyncAlways bool
	// Replicas of the stream and the checkpoint bucket: 1, or 3 on a cluster.
	Replicas int
	// Timeout bounds each JetStream request (default 10s).
	Timeout time.Duration
	Logger  *zap.Logger
	// Now is the clock for recorded-at; default time.Now.
	Now func() time.Time
	// Keys seals every appended event (the Relais-Seal header). Without
	// it events are written unsealed, and appends are refused once the
	// ledger holds sealed events (ledger.ErrSealKeyRequired); Open refuses
	// a ledger sealed with a key the ring does not hold.
	Keys *ledger.Keyring
	// Existing opens only a ledger that is already there: no stream or
	// bucket is created, and a missing stream is ledger.ErrNoLedger (for
	// read-only commands such as verify).
	Existing bool
	// HighWater, when set, records each acknowledged position outside
	// JetStream's files (hwm.go).
	HighWater HighWater
	// DuplicateWindow is JetStream's duplicate window for a ledger stream
	// Open creates (default DefaultDuplicateWindow, at least 100ms); an
	// existing stream keeps its own. Idempotence by event id holds beyond
	// it (idindex.go).
	DuplicateWindow time.Duration
}

// Store is a ledger on JetStream.
type Store struct {
	nc *nats.Conn
	js jetstream.JetStream
	st jetstream.Stream
	// lead reads through the stream leader (no direct get) on a
	// replicated stream, where followers answer direct gets from what
	// they have applied so far; nil on one replica.
	lead  jetstream.Stream
	kv    jetstream.KeyValue
	cfg   Config
	log   *zap.Logger
	heads *headCache
	count counters

	queue    chan *appendReq
	released chan struct{}
	// batchSlots bounds atomic batches in flight.
	batchSlots chan struct{}
	flightMu   sync.Mutex
	inflight   map[string]bool
	stop       chan struct{}
	stopped    chan struct{}
	once       sync.Once
	// sealed: the ledger holds sealed events (the marker in the checkpoint
	// bucket, a sealed last event, or a sealed stream head seen since);
	// without keys, appends are then refused.
	sealed atomic.Bool
	mism   mismatches
	// dmg remembers where damaged records were located (damaged.go).
	dmg damageCache
	// idx is the event-id index (idindex.go); nil when opened Existing.
	idx *idIndex
}

// Open creates the ledger stream and checkpoint bucket when absent (never
// updates them: a replicas mismatch is reported by Mismatches) on the
// server behind nc and starts the group committer. Close stops it; the
// caller still owns nc.
func Open(ctx context.Context, nc *nats.Conn, cfg Config) (*Store, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Replicas != 1 && cfg.Replicas != 3 {
		return nil, fmt.Errorf("open ledger: replicas must be 1 or 3, not %d", cfg.Replicas)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(cfg.Timeout))
	if err != nil {
		return nil, fmt.Errorf("%w: jetstream: %w", ledger.ErrUnavailable, err)
	}
	st, kv, err := openStream(ctx, js, cfg)
	if err != nil {
		return nil, err
	}
	s := &Store{
		nc: nc, js: js, st: st, kv: kv, cfg: cfg, log: cfg.Logger,
		heads:      newHeadCache(200_000),
		queue:      make(chan *appendReq, 4096),
		released:   make(chan struct{}, 1),
		batchSlots: make(chan struct{}, 8),
		inflight:   map[string]bool{},
		stop:       make(chan struct{}),
		stopped:    make(chan struct{}),
	}
	s.reportReplicas(ctx, "stream "+StreamName, StreamName)
	if err := s.openLeaderReads(ctx); err != nil {
		return nil, err
	}
	if kv != nil {
		s.reportReplicas(ctx, "bucket "+CheckpointBucket, "KV_"+CheckpointBucket)
	}
	if err := s.checkSeals(ctx); err != nil {
		return nil, err
	}
	if !cfg.Existing {
		if err := s.openIndex(ctx); err != nil {
			return nil, err
		}
	}
	go s.commitLoop()
	return s, nil
}

// openStream creates (or checks) the ledger stream and checkpoint bucket;
// with cfg.Existing it only binds to them.
func openStream(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.Stream, jetstream.KeyValue, error) {
	if cfg.Existing {
		st, err := js.Stream(ctx, StreamName)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, nil, fmt.Errorf("%w: the JetStream stream %s does not exist (never created, or deleted)", ledger.ErrNoLedger, StreamName)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: stream %s: %w", ledger.ErrUnavailable, StreamName, err)
		}
		kv, err := js.KeyValue(ctx, CheckpointBucket)
		if err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
			return nil, nil, fmt.Errorf("%w: bucket %s: %w", ledger.ErrUnavailable, CheckpointBucket, err)
		}
		return st, kv, nil
	}
	sc := StreamConfig(cfg.Replicas)
	if cfg.DuplicateWindow > 0 {
		sc.Duplicates = cfg.DuplicateWindow
	}
	st, err := ensureStream(ctx, js, sc)
	if err != nil {
		return nil, nil, err
	}
	kv, err := ensureKeyValue(ctx, js, CheckpointConfig(cfg.Replicas))
	if err != nil {
		return nil, nil, err
	}
	return st, kv, nil
}

// StreamConfig is the configuration Open creates the ledger stream with.
func StreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:               StreamName,
		Description:        "Relais coordination ledger (immutable)",
		Subjects:           []string{SubjectPrefix + ">"},
		Storage:            jetstream.FileStorage,
		Replicas:           replicas,
		Retention:          jetstream.LimitsPolicy,
		Discard:            jetstream.DiscardNew,
		MaxMsgs:            -1,
		MaxBytes:           -1,
		MaxAge:             0,
		MaxMsgSize:         2 << 20,
		Duplicates:         DefaultDuplicateWindow,
		AllowDirect:        true,
		AllowAtomicPublish: true,
		DenyDelete:         true,
		DenyPurge:          true,
	}
}

// CheckpointConfig is the configuration Open creates the checkpoint bucket
// with.
func CheckpointConfig(replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      CheckpointBucket,
		Description: "Relais ledger metadata (the seal marker)",
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		History:     1,
	}
}

// ensureStream creates the stream when it is absent and otherwise binds to
// it as it is: Open never updates a stream's configuration (an update would
// rescale a cluster's ledger to whatever replicas this command was given).
// A difference is reported by Mismatches, and changed only by `relais admin
// replicas`.
func ensureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) (jetstream.Stream, error) {
	st, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		st, err = js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			st, err = js.Stream(ctx, want.Name) // created meanwhile by another instance
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: create or bind stream %s: %w", ledger.ErrUnavailable, want.Name, err)
	}
	return st, nil
}

// ensureKeyValue is ensureStream for a KV bucket.
func ensureKeyValue(ctx context.Context, js jetstream.JetStream, want jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, want.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, want)
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, want.Bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: create or bind bucket %s: %w", ledger.ErrUnavailable, want.Bucket, err)
	}
	return kv, nil
}

// checkSeals looks at the ledger's seal marker and last event: sealed with
// a key the ring does not hold, the ledger is refused; sealed while this
// store has no key, appends will be refused. A keyed store sets the marker.
func (s *Store) checkSeals(ctx context.Context) error {
	if s.kv != nil {
		e, err := s.kv.Get(ctx, sealedKey)
		switch {
		case err == nil:
			s.sealed.Store(true)
			if id := string(e.Value()); s.cfg.Keys != nil && !s.cfg.Keys.Has(id) && !s.cfg.Existing {
				return fmt.Errorf("open ledger: %w: key id %s (the configured key is %s)", ledger.ErrForeignSealKey, id, s.cfg.Keys.ID())
			}
		case !errors.Is(err, jetstream.ErrKeyNotFound):
			return fmt.Errorf("%w: read the seal marker: %w", ledger.ErrUnavailable, err)
		}
		if s.cfg.Keys != nil && !s.cfg.Existing && (err != nil || string(e.Value()) != s.cfg.Keys.ID()) {
			if _, err := s.kv.Put(ctx, sealedKey, []byte(s.cfg.Keys.ID())); err != nil {
				return fmt.Errorf("%w: write the seal marker: %w", ledger.ErrUnavailable, err)
			}
		}
	}
	info, err := s.st.Info(ctx)
	if err != nil {
		return fmt.Errorf("%w: stream info: %w", ledger.ErrUnavailable, err)
	}
	if info.State.LastSeq == 0 {
		return nil
	}
	msg, err := s.st.GetMsg(ctx, info.State.LastSeq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil // lost or unreadable: verify says so
	}
	if err != nil {
		return fmt.Errorf("%w: read the last event: %w", ledger.ErrUnavailable, err)
	}
	seal := msg.Header.Get(SealHeader)
	if seal == "" {
		return nil
	}
	s.sealed.Store(true)
	if id := ledger.KeyIDOf(seal); s.cfg.Keys != nil && !s.cfg.Keys.Has(id) && !s.cfg.Existing {
		return fmt.Errorf("open ledger: %w: its last event (position %d) is sealed with key id %s, the configured key is %s",
			ledger.ErrForeignSealKey, msg.Sequence, id, s.cfg.Keys.ID())
	}
	return nil
}

// Sealed tells whether the ledger is known to be sealed: a keyed store
// opened it before, or its last event (or a stream head read since) is.
func (s *Store) Sealed() bool { return s.sealed.Load() }

// Close stops the group committer; appends in flight get ErrClosed.
func (s *Store) Close() error {
	s.once.Do(func() { close(s.stop) })
	<-s.stopped
	if s.idx != nil {
		s.idx.close()
	}
	return nil
}

// ContiguousPositions tells the verifier that JetStream sequences have no
// gaps (the stream denies deletes and purges).
func (s *Store) ContiguousPositions() bool { return true }

// Head returns the global position of the last event.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	info, err := s.st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("%w: stream info: %w", ledger.ErrUnavailable, err)
	}
	return info.State.LastSeq, nil
}

func subject(stream string) string { return SubjectPrefix + stream }
