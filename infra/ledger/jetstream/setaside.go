package jetstream

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// SetAsideBucket is the key-value bucket of the events projections set
// aside (poison events), one key per projection and position.
const SetAsideBucket = "RELAIS_SET_ASIDE"

// SetAside keeps set-aside events on disk beside the ledger, so they outlive
// a restart until the programme manager retries them.
type SetAside struct{ kv jetstream.KeyValue }

// SetAside opens (or creates, never updates) the set-aside bucket.
func (s *Store) SetAside(ctx context.Context) (*SetAside, error) {
	kv, err := ensureKeyValue(ctx, s.js, jetstream.KeyValueConfig{
		Bucket: SetAsideBucket, Storage: jetstream.FileStorage, Replicas: s.cfg.Replicas,
		Description: "events a Relais projection set aside after failing deterministically",
	})
	if err != nil {
		return nil, fmt.Errorf("set-aside bucket: %w", err)
	}
	s.reportReplicas(ctx, "bucket "+SetAsideBucket, "KV_"+SetAsideBucket)
	return &SetAside{kv: kv}, nil
}

// Put records (or replaces) one set-aside event.
func (a *SetAside) Put(ctx context.Context, key string, value []byte) error {
	if _, err := a.kv.Put(ctx, key, value); err != nil {
		return fmt.Errorf("set aside %s: %w", key, mapErr(err))
	}
	return nil
}

// Delete forgets one set-aside event (retried successfully).
func (a *SetAside) Delete(ctx context.Context, key string) error {
	if err := a.kv.Delete(ctx, key); err != nil {
		return fmt.Errorf("set-aside %s: delete: %w", key, mapErr(err))
	}
	return nil
}

// List returns every set-aside event's value.
func (a *SetAside) List(ctx context.Context) ([][]byte, error) {
	keys, err := a.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("set-aside events: %w", mapErr(err))
	}
	defer keys.Stop() //nolint:errcheck
	var out [][]byte
	for k := range keys.Keys() {
		e, err := a.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // retried meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("set-aside %s: %w", k, mapErr(err))
		}
		out = append(out, e.Value())
	}
	return out, nil
}
