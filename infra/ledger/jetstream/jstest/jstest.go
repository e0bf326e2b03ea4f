// Package jstest starts a real embedded nats-server with JetStream on a
// temporary directory and a random loopback port, and opens the JetStream
// ledger on it, for tests in any package.
package jstest

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream"
	"github.com/relais-health/relais/infra/natsembed"
)

// Env is a running server with a connection and a ledger on it.
type Env struct {
	Server *natsembed.Server
	Conn   *nats.Conn
	Store  *jetstream.Store
	Dir    string
}

// Options adjust Start.
type Options struct {
	// Dir reuses a data directory (to restart on the same store); default a
	// new temporary one.
	Dir string
	// Strict makes every append durable before it is acknowledged, the way
	// `relais serve` does with its embedded server: group commit with one
	// fsync per group (natsembed.StreamSyncer).
	Strict bool
	// ServerSync runs the server with SyncAlways and the ledger in atomic
	// batch group commit, the way Relais runs on an external strict server.
	ServerSync bool
	// Keys seals every append, as `relais serve --seal-key` does.
	Keys *ledger.Keyring
}

// Start runs a server and opens the ledger; everything stops at cleanup.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	srv, err := natsembed.Start(natsembed.Config{DataDir: o.Dir, Port: -1, SyncAlways: o.ServerSync})
	if err != nil {
		t.Fatalf("start embedded nats: %v", err)
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		srv.Shutdown()
		t.Fatalf("connect: %v", err)
	}
	cfg := jetstream.Config{SyncAlways: o.ServerSync, Keys: o.Keys}
	if o.Strict {
		cfg.Syncer = srv.StreamSyncer(jetstream.StreamName)
	}
	st, err := jetstream.Open(context.Background(), nc, cfg)
	if err != nil {
		nc.Close()
		srv.Shutdown()
		t.Fatalf("open ledger: %v", err)
	}
	env := &Env{Server: srv, Conn: nc, Store: st, Dir: o.Dir}
	t.Cleanup(env.Stop)
	return env
}

// Stop closes the ledger, the connection and the server; it is safe to call
// twice (tests that restart call it early).
func (e *Env) Stop() {
	if e.Store != nil {
		e.Store.Close()
		e.Store = nil
	}
	if e.Conn != nil {
		e.Conn.Close()
		e.Conn = nil
	}
	if e.Server != nil {
		e.Server.Shutdown()
		e.Server = nil
	}
}

// Ledger is Start with defaults, returning only the store.
func Ledger(t testing.TB) *jetstream.Store {
	t.Helper()
	return Start(t, Options{}).Store
}
