package jetstream

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/relais-health/relais/infra/ledger"
)

// Mismatch is a stream or bucket whose replicas differ from the ones this
// store was configured with. Open reports it (a warning in the log and
// Store.Mismatches) and never changes it: only `relais admin replicas`
// (SetReplicas) rescales.
type Mismatch struct {
	What       string // "stream RELAIS_EVENTS", "bucket RELAIS_CHECKPOINTS", ...
	Configured int
	Actual     int
}

func (m Mismatch) String() string {
	return fmt.Sprintf("%s has %d replicas, this command was configured with %d (left as it is; `relais admin replicas %d` changes it)",
		m.What, m.Actual, m.Configured, m.Configured)
}

type mismatches struct {
	mu   sync.Mutex
	list []Mismatch
}

// Mismatches lists the streams and buckets whose replicas differ from
// Config.Replicas, as seen when they were opened.
func (s *Store) Mismatches() []Mismatch {
	s.mism.mu.Lock()
	defer s.mism.mu.Unlock()
	return append([]Mismatch(nil), s.mism.list...)
}

// reportReplicas compares the replicas of the JetStream stream behind what
// with the configured ones, and records and logs a difference.
func (s *Store) reportReplicas(ctx context.Context, what, stream string) {
	st, err := s.js.Stream(ctx, stream)
	if err != nil {
		s.log.Warn("cannot read the configuration of "+what, zap.Error(err))
		return
	}
	actual := st.CachedInfo().Config.Replicas
	if actual == 0 {
		actual = 1
	}
	if actual == s.cfg.Replicas {
		return
	}
	m := Mismatch{What: what, Configured: s.cfg.Replicas, Actual: actual}
	s.mism.mu.Lock()
	s.mism.list = append(s.mism.list, m)
	s.mism.mu.Unlock()
	s.log.Warn("replicas mismatch: " + m.String())
}

// Change is one stream or bucket SetReplicas rescaled.
type Change struct {
	What     string
	From, To int
}

// SetReplicas changes the replicas of every JetStream stream and bucket
// Relais's ledger keeps (the ledger stream, the checkpoint bucket, the
// snapshot store, the set-aside bucket) plus extra JetStream streams by name (KV buckets as
// KV_<bucket>), and returns what it changed. It is the one place stream
// configuration is updated (`relais admin replicas N`).
func SetReplicas(ctx context.Context, js jetstream.JetStream, n int, extra ...string) ([]Change, error) {
	if n != 1 && n != 3 && n != 5 {
		return nil, fmt.Errorf("set replicas: %d: must be 1, 3 or 5", n)
	}
	names := append([]string{StreamName, "KV_" + CheckpointBucket, "OBJ_" + SnapshotBucket, "KV_" + SetAsideBucket}, extra...)
	var changed []Change
	for _, name := range names {
		st, err := js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return changed, fmt.Errorf("%w: stream %s: %w", ledger.ErrUnavailable, name, err)
		}
		cfg := st.CachedInfo().Config
		from := cfg.Replicas
		if from == 0 {
			from = 1
		}
		if from == n {
			continue
		}
		cfg.Replicas = n
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			return changed, fmt.Errorf("%w: set replicas of %s to %d: %w", ledger.ErrUnavailable, name, n, err)
		}
		changed = append(changed, Change{What: name, From: from, To: n})
	}
	return changed, nil
}

// EnsureStream creates the stream want describes when it is absent and
// otherwise binds to it as it is, never updating it (an update would
// rescale a cluster's stream to whatever replicas this process was given).
// A replicas difference is returned as a Mismatch (nil when none) for the
// caller to report; only SetReplicas changes it. Other packages keeping
// their own streams beside the ledger (the webhook queue) open them with it.
func EnsureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) (jetstream.Stream, *Mismatch, error) {
	st, err := ensureStream(ctx, js, want)
	if err != nil {
		return nil, nil, err
	}
	return st, compareReplicas("stream "+want.Name, want.Replicas, st.CachedInfo().Config.Replicas), nil
}

// EnsureKeyValue is EnsureStream for a KV bucket.
func EnsureKeyValue(ctx context.Context, js jetstream.JetStream, want jetstream.KeyValueConfig) (jetstream.KeyValue, *Mismatch, error) {
	kv, err := ensureKeyValue(ctx, js, want)
	if err != nil {
		return nil, nil, err
	}
	st, err := js.Stream(ctx, "KV_"+want.Bucket)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: bucket %s: %w", ledger.ErrUnavailable, want.Bucket, err)
	}
	return kv, compareReplicas("bucket "+want.Bucket, want.Replicas, st.CachedInfo().Config.Replicas), nil
}

// compareReplicas is the Mismatch of what, nil when the replicas agree (0
// is 1 on either side).
func compareReplicas(what string, configured, actual int) *Mismatch {
	configured, actual = max(configured, 1), max(actual, 1)
	if configured == actual {
		return nil
	}
	return &Mismatch{What: what, Configured: configured, Actual: actual}
}
