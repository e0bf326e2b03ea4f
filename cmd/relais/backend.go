package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream"
	"github.com/relais-health/relais/infra/natsembed"
)

// urlFile, inside the data directory, holds the client URL of the embedded
// server that `relais serve` runs there, so other commands given the same
// --data talk to it instead of starting a second server on the directory.
const urlFile = "relais-nats.url"

// backend is an open ledger and what it runs on.
type backend struct {
	Store    *jetstream.Store
	Conn     *nats.Conn
	Server   *natsembed.Server // nil when external or borrowed from serve
	Embedded bool
	urlPath  string
}

// openOptions adjusts openBackend.
type openOptions struct {
	// listen is the embedded server's client address (serve only); "" picks
	// a random loopback port.
	listen string
	// publish writes the URL file (serve only).
	publish bool
}

// openBackend connects to --nats, to a running `relais serve` on --data, or
// starts the embedded server on --data.
func openBackend(ctx context.Context, g *globals, log *zap.Logger, o openOptions) (*backend, error) {
	b := &backend{}
	url := g.natsURL
	if url == "" && !o.publish {
		if u, err := os.ReadFile(filepath.Join(g.data, urlFile)); err == nil {
			if nc, err := nats.Connect(strings.TrimSpace(string(u)), nats.Timeout(2*time.Second)); err == nil {
				b.Conn = nc
				log.Debug("using the running relais serve", zap.String("data", g.data))
			}
		}
	}
	if url != "" {
		nc, err := nats.Connect(url, nats.Name("relais"), nats.Timeout(5*time.Second), nats.MaxReconnects(-1))
		if err != nil {
			return nil, fmt.Errorf("%w: cannot reach NATS at %s (--nats): %w", ledger.ErrUnavailable, url, err)
		}
		b.Conn = nc
		if g.durability == "strict" {
			log.Info("external NATS: strict durability depends on the server's sync_interval: always")
		}
	}
	if b.Conn == nil {
		host, port, err := splitListen(o.listen)
		if err != nil {
			return nil, err
		}
		// Strict durability with the embedded server is Relais's own group
		// commit (one fsync of the ledger stream per group, below), so the
		// server itself runs with its default flush.
		srv, err := natsembed.Start(natsembed.Config{DataDir: g.data, Host: host, Port: port, Logger: log, NoListen: !o.publish})
		if err != nil {
			return nil, fmt.Errorf("--data %s: %w", g.data, err)
		}
		b.Server, b.Embedded = srv, true
		nc, err := nats.Connect(srv.ClientURL(), nats.Name("relais"), nats.InProcessServer(srv))
		if err != nil {
			srv.Shutdown()
			return nil, fmt.Errorf("connect embedded nats: %w", err)
		}
		b.Conn = nc
		if o.publish {
			b.urlPath = filepath.Join(g.data, urlFile)
			if err := os.WriteFile(b.urlPath, []byte(srv.ClientURL()+"\n"), 0o600); err != nil {
				b.Close()
				return nil, fmt.Errorf("write %s: %w", b.urlPath, err)
			}
		}
	}
	cfg := jetstream.Config{Replicas: g.replicas, Logger: log}
	if g.durability == "strict" {
		if g.natsURL != "" {
			// External server: its sync_interval must be always; appends
			// are then group-committed into atomic batches (one fsync each).
			cfg.SyncAlways = true
		} else {
			y, err := natsembed.NewStreamSyncer(g.data, jetstream.StreamName)
			if err != nil {
				b.Close()
				return nil, err
			}
			cfg.Syncer = y
		}
	}
	st, err := jetstream.Open(ctx, b.Conn, cfg)
	if err != nil {
		b.Close()
		return nil, err
	}
	b.Store = st
	return b, nil
}

// Close closes the ledger, the connection and the embedded server.
func (b *backend) Close() {
	if b.Store != nil {
		b.Store.Close()
	}
	if b.Conn != nil {
		b.Conn.Close()
	}
	if b.urlPath != "" {
		os.Remove(b.urlPath)
	}
	if b.Server != nil {
		b.Server.Shutdown()
	}
}

// splitListen parses host:port for the embedded server; port 0 or an empty
// address picks a free port.
func splitListen(addr string) (string, int, error) {
	if addr == "" {
		return "127.0.0.1", -1, nil
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("--nats-listen %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("--nats-listen %q: bad port", addr)
	}
	if port == 0 {
		port = -1
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

var errNoCommand = errors.New("no command")
