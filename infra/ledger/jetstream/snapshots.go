package jetstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
)

// SnapshotBucket is the object store bucket of projection snapshots.
const SnapshotBucket = "RELAIS_SNAPSHOTS"

// Snapshots stores each projection's state together with the global
// position it reflects, in one object, so state and checkpoint can never
// disagree after a crash.
type Snapshots struct{ obs jetstream.ObjectStore }

// SnapshotConfig is the configuration the snapshot bucket is created with.
func SnapshotConfig(replicas int) jetstream.ObjectStoreConfig {
	return jetstream.ObjectStoreConfig{
		Bucket:      SnapshotBucket,
		Description: "Relais projection snapshots (state + position)",
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	}
}

// Snapshots opens (or creates) the snapshot bucket.
func (s *Store) Snapshots(ctx context.Context) (*Snapshots, error) {
	obs, err := s.js.ObjectStore(ctx, SnapshotBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		// Created when absent, never updated (see ensureStream).
		obs, err = s.js.CreateObjectStore(ctx, SnapshotConfig(s.cfg.Replicas))
		if errors.Is(err, jetstream.ErrBucketExists) {
			obs, err = s.js.ObjectStore(ctx, SnapshotBucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot bucket: %w", mapErr(err))
	}
	s.reportReplicas(ctx, "object store "+SnapshotBucket, "OBJ_"+SnapshotBucket)
	return &Snapshots{obs: obs}, nil
}

// Load returns the snapshot of name and its position; no snapshot is
// (nil, 0, nil).
func (s *Snapshots) Load(ctx context.Context, name string) ([]byte, uint64, error) {
	res, err := s.obs.Get(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("load snapshot %s: %w", name, mapErr(err))
	}
	defer res.Close()
	info, err := res.Info()
	if err != nil {
		return nil, 0, fmt.Errorf("load snapshot %s: %w", name, mapErr(err))
	}
	pos, err := strconv.ParseUint(info.Metadata["position"], 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("load snapshot %s: bad position %q", name, info.Metadata["position"])
	}
	data, err := io.ReadAll(res)
	if err != nil {
		return nil, 0, fmt.Errorf("load snapshot %s: %w", name, mapErr(err))
	}
	return data, pos, nil
}

// Save replaces the snapshot of name.
func (s *Snapshots) Save(ctx context.Context, name string, data []byte, pos uint64) error {
	meta := jetstream.ObjectMeta{Name: name, Metadata: map[string]string{"position": strconv.FormatUint(pos, 10)}}
	if _, err := s.obs.Put(ctx, meta, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("save snapshot %s: %w", name, mapErr(err))
	}
	return nil
}
