package app

import (
	"context"
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

// Backend is an open ledger and what it runs on.
type Backend struct {
	Store    *jetstream.Store
	Conn     *nats.Conn
	Server   *natsembed.Server // nil when external or borrowed from serve
	Embedded bool
	urlPath  string
}

// BackendConfig says where the ledger is; its fields are the binary's
// global flags (errors name them).
type BackendConfig struct {
	// Data is the embedded server's data directory (--data).
	Data string
	// NATSURL is an external server or cluster (--nats); empty embeds one.
	NATSURL string
	// Durability is strict or relaxed (--durability).
	Durability string
	// Replicas of the ledger stream and checkpoints (--replicas).
	Replicas int
	// Listen is the embedded server's client address (serve only); "" picks
	// a random loopback port.
	Listen string
	// Publish writes the URL file (serve only).
	Publish bool
	// SealKeys seals every append (--seal-key); nil writes unsealed events,
	// and a sealed ledger then refuses appends.
	SealKeys *ledger.Keyring
	// Existing opens only a ledger that is already there (verify): a
	// missing ledger stream is ledger.ErrNoLedger, nothing is created.
	Existing bool
}

// OpenBackend connects to --nats, to a running `relais serve` on --data, or
// starts the embedded server on --data.
func OpenBackend(ctx context.Context, o BackendConfig, log *zap.Logger) (*Backend, error) {
	b := &Backend{}
	url := o.NATSURL
	if url == "" && !o.Publish {
		if u, err := os.ReadFile(filepath.Join(o.Data, urlFile)); err == nil {
			if nc, err := nats.Connect(strings.TrimSpace(string(u)), nats.Timeout(2*time.Second)); err == nil {
				b.Conn = nc
				log.Debug("using the running relais serve", zap.String("data", o.Data))
			}
		}
	}
	if url != "" {
		nc, err := nats.Connect(url, nats.Name("relais"), nats.Timeout(5*time.Second), nats.MaxReconnects(-1))
		if err != nil {
			return nil, fmt.Errorf("%w: cannot reach NATS at %s (--nats): %w", ledger.ErrUnavailable, url, err)
		}
		b.Conn = nc
		if o.Durability == "strict" {
			log.Info("external NATS: strict durability depends on the server's sync_interval: always")
		}
	}
	if b.Conn == nil {
		host, port, err := splitListen(o.Listen)
		if err != nil {
			return nil, err
		}
		// Strict durability with the embedded server is Relais's own group
		// commit (one fsync of the ledger stream per group, below), so the
		// server itself runs with its default flush.
		srv, err := natsembed.Start(natsembed.Config{DataDir: o.Data, Host: host, Port: port, Logger: log, NoListen: !o.Publish})
		if err != nil {
			return nil, fmt.Errorf("--data %s: %w", o.Data, err)
		}
		b.Server, b.Embedded = srv, true
		nc, err := nats.Connect(srv.ClientURL(), nats.Name("relais"), nats.InProcessServer(srv))
		if err != nil {
			srv.Shutdown()
			return nil, fmt.Errorf("connect embedded nats: %w", err)
		}
		b.Conn = nc
		if o.Publish {
			b.urlPath = filepath.Join(o.Data, urlFile)
			if err := os.WriteFile(b.urlPath, []byte(srv.ClientURL()+"\n"), 0o600); err != nil {
				b.Close()
				return nil, fmt.Errorf("write %s: %w", b.urlPath, err)
			}
		}
	}
	cfg := jetstream.Config{Replicas: o.Replicas, Logger: log, Keys: o.SealKeys, Existing: o.Existing}
	if o.Durability == "strict" {
		if o.NATSURL != "" {
			// External server: its sync_interval must be always; appends
			// are then group-committed into atomic batches (one fsync each).
			cfg.SyncAlways = true
		} else {
			y, err := natsembed.NewStreamSyncer(o.Data, jetstream.StreamName)
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
	if o.Publish && o.SealKeys == nil && st.Sealed() {
		b.Close()
		return nil, fmt.Errorf("--seal-key: %w", ledger.ErrSealKeyRequired)
	}
	return b, nil
}

// Close closes the ledger, the connection and the embedded server.
func (b *Backend) Close() {
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
