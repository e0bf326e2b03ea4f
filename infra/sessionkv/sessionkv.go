// Package sessionkv keeps the web console's sign-in sessions in a
// JetStream key-value bucket, so every `relais serve` on the same NATS
// knows a session whichever instance signed it in, and a sign-out on one
// is a sign-out on all. The bucket's TTL is the console's idle timeout:
// an entry not written for that long is forgotten by the server itself.
// Keys and values are the console's (a hash of the cookie, a sealed
// record): nothing here can tell a cookie or a credential.
package sessionkv

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the KV bucket of the console's sessions.
const Bucket = "RELAIS_CONSOLE_SESSIONS"

// ErrNotFound: no session under that key (never was, expired or deleted).
var ErrNotFound = errors.New("sessionkv: no such session")

// Store is the sessions bucket.
type Store struct{ kv jetstream.KeyValue }

// Open binds to the bucket, creating it with TTL idle and the given
// replicas; an existing bucket with another TTL is updated to idle (the
// instances of one installation share one idle timeout: the last started
// sets it).
func Open(ctx context.Context, nc *nats.Conn, idle time.Duration, replicas int) (*Store, error) {
	if idle <= 0 {
		return nil, fmt.Errorf("sessionkv: idle timeout %s must be positive", idle)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("sessionkv: %w", err)
	}
	cfg := jetstream.KeyValueConfig{Bucket: Bucket, Description: "Relais console sessions (keys: hashes of the cookies; values: sealed)",
		Storage: jetstream.FileStorage, Replicas: max(replicas, 1), History: 1, TTL: idle}
	kv, err := js.KeyValue(ctx, Bucket)
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound):
		kv, err = js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, Bucket) // created meanwhile by another instance
		}
	case err == nil:
		st, serr := kv.Status(ctx)
		if serr == nil && st.TTL() != idle {
			if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok {
				cfg.Replicas = bs.StreamInfo().Config.Replicas // never rescale here
			}
			kv, err = js.UpdateKeyValue(ctx, cfg)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("sessionkv: create or bind bucket %s: %w", Bucket, err)
	}
	return &Store{kv: kv}, nil
}

// Get returns the value under key, or ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sessionkv: get: %w", err)
	}
	return e.Value(), nil
}

// Put writes value under key (and so restarts its TTL).
func (s *Store) Put(ctx context.Context, key string, value []byte) error {
	if _, err := s.kv.Put(ctx, key, value); err != nil {
		return fmt.Errorf("sessionkv: put: %w", err)
	}
	return nil
}

// Delete forgets key, for every instance (a purge: nothing of it stays).
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.kv.Purge(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("sessionkv: delete: %w", err)
	}
	return nil
}
