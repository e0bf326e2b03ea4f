package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
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

// Files that `relais serve` writes in its data directory so that other
// commands given the same --data talk to its embedded server instead of
// starting a second one on the directory: the client URL (no secret), the
// nkey seed they authenticate with (0600, new at each start: only the
// user running serve can read it), and, when the listener requires TLS,
// its certificate (the commands pin it).
const (
	urlFile  = "relais-nats.url"
	credFile = "relais-nats.seed"
	certFile = "relais-nats.pem"
)

// Backend is an open ledger and what it runs on.
type Backend struct {
	Store    *jetstream.Store
	Conn     *nats.Conn
	Server   *natsembed.Server // nil when external or borrowed from serve
	Embedded bool
	urlPath  string
	hw       *natsembed.HighWater
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
	// NATSSystem gives the system account of --nats's servers, for the
	// strict check (--nats-system): a URL with its credentials, or a
	// .creds file used with NATSURL's servers; empty when none.
	NATSSystem string
	// NATSCreds is a .creds file (user JWT and seed) the connection to
	// NATSURL's servers authenticates with (--nats-creds); empty: the URL's
	// own user, password or token, if any.
	NATSCreds string
	// Replicas of the ledger stream and checkpoints (--replicas).
	Replicas int
	// Listen is the embedded server's client address (serve only); "" picks
	// a random loopback port.
	Listen string
	// Publish writes the URL and credential files (serve only).
	Publish bool
	// TLS makes the embedded server's client listener require TLS (serve
	// only: --nats-tls-cert, --nats-tls-key).
	TLS *tls.Config
	// SealKeys seals every append (--seal-key); nil writes unsealed events,
	// and a sealed ledger then refuses appends.
	SealKeys *ledger.Keyring
	// Existing opens only a ledger that is already there (verify): a
	// missing ledger stream is ledger.ErrNoLedger, nothing is created.
	Existing bool
	// DuplicateWindow is JetStream's duplicate window for a ledger stream
	// this process creates (--duplicate-window); 0 is the default, 2m.
	DuplicateWindow time.Duration
	// ReadOnly never changes --data's files (verify): when no serve owns
	// the directory, the embedded server runs on a temporary copy of the
	// store (natsembed.Config.ReadOnly).
	ReadOnly bool
}

// OpenBackend connects to --nats, to a running `relais serve` on --data, or
// starts the embedded server on --data.
func OpenBackend(ctx context.Context, o BackendConfig, log *zap.Logger) (*Backend, error) {
	b := &Backend{}
	url := o.NATSURL
	if url == "" && !o.Publish {
		nc, err := connectOwner(ctx, o.Data)
		if err != nil {
			return nil, err
		}
		if nc != nil {
			b.Conn = nc
			log.Debug("using the running relais serve", zap.String("data", o.Data))
		}
	}
	if url != "" {
		opts := []nats.Option{nats.Name("relais"), nats.Timeout(5 * time.Second), nats.MaxReconnects(-1)}
		if o.NATSCreds != "" {
			if _, err := os.Stat(o.NATSCreds); err != nil {
				return nil, fmt.Errorf("--nats-creds: %w", err)
			}
			opts = append(opts, nats.UserCredentials(o.NATSCreds))
		}
		nc, err := nats.Connect(url, opts...)
		if errors.Is(err, nats.ErrAuthorization) {
			return nil, fmt.Errorf("NATS at %s (--nats) refused this connection's credential (--nats-creds, or the URL's user): %w", redactURLs(url), err)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: cannot reach NATS at %s (--nats): %w", ledger.ErrUnavailable, redactURLs(url), err)
		}
		b.Conn = nc
		if o.Durability == "strict" && !o.Existing {
			how, err := checkStrict(ctx, nc, o)
			if err != nil {
				b.Close()
				return nil, err
			}
			log.Info("external NATS: strict durability: " + how)
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
		ec := natsembed.Config{DataDir: o.Data, Host: host, Port: port, Logger: log, NoListen: !o.Publish,
			Command: commandName(o), LockWait: LockWait, ReadOnly: o.ReadOnly}
		if o.Publish {
			ec.CredentialFile, ec.TLS = filepath.Join(o.Data, credFile), o.TLS
		}
		srv, err := natsembed.Start(ec)
		var locked *natsembed.LockedError
		if !o.Publish && errors.As(err, &locked) && locked.Owner.Serves {
			// A serve took the directory while this command waited.
			nc, cerr := connectOwner(ctx, o.Data)
			if cerr != nil {
				return nil, cerr
			}
			if nc != nil {
				b.Conn = nc
				err = nil
			}
		}
		if err != nil {
			return nil, fmt.Errorf("--data %s: %w", o.Data, err)
		}
		if b.Conn == nil {
			b.Server, b.Embedded = srv, true
			if !o.Publish {
				// This process owns the directory: what a serve killed
				// without cleaning up left is stale.
				removeStale(o.Data)
			}
			nc, err := nats.Connect(srv.ClientURL(), nats.Name("relais"), nats.InProcessServer(srv))
			if err != nil {
				srv.Shutdown()
				return nil, fmt.Errorf("connect embedded nats: %w", err)
			}
			b.Conn = nc
		}
		if o.Publish && b.Server != nil {
			if err := b.publish(o); err != nil {
				b.Close()
				return nil, err
			}
		}
	}
	cfg := jetstream.Config{Replicas: o.Replicas, Logger: log, Keys: o.SealKeys, Existing: o.Existing, DuplicateWindow: o.DuplicateWindow}
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
	if o.NATSURL == "" && !o.Existing {
		// Every process appending on --data records what it acknowledged
		// (verify, read-only, only reads the mark).
		hw, err := natsembed.OpenHighWater(o.Data, o.Durability == "strict")
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("--data %s: %w", o.Data, err)
		}
		b.hw, cfg.HighWater = hw, hw
	}
	st, err := jetstream.Open(ctx, b.Conn, cfg)
	if err != nil {
		b.Close()
		return nil, err
	}
	b.Store = st
	if err := checkHighWater(ctx, st, o); err != nil {
		b.Close()
		return nil, err
	}
	if o.Publish && o.SealKeys == nil && st.Sealed() {
		b.Close()
		return nil, fmt.Errorf("--seal-key: %w", ledger.ErrSealKeyRequired)
	}
	return b, nil
}

// checkStrict applies jetstream.CheckStrict to the external server before
// anything is created on it, and says how to fix a refusal.
func checkStrict(ctx context.Context, nc *nats.Conn, o BackendConfig) (string, error) {
	c := jetstream.StrictCheck{Replicas: o.Replicas}
	if o.NATSSystem != "" {
		var sys *nats.Conn
		var err error
		if strings.Contains(o.NATSSystem, "://") {
			sys, err = nats.Connect(o.NATSSystem, nats.Name("relais-strict-check"), nats.Timeout(5*time.Second))
		} else if _, err = os.Stat(o.NATSSystem); err == nil {
			sys, err = nats.Connect(o.NATSURL, nats.Name("relais-strict-check"), nats.Timeout(5*time.Second), nats.UserCredentials(o.NATSSystem))
		}
		if err != nil {
			return "", fmt.Errorf("--nats-system: cannot connect to the system account: %w", err)
		}
		defer sys.Close()
		c.System = sys
	}
	how, err := jetstream.CheckStrict(ctx, nc, c)
	var nd *jetstream.NotDurableError
	if !errors.As(err, &nd) {
		return how, err
	}
	first := "add `jetstream { sync_interval: always }` to every NATS server's configuration and restart it"
	if nd.Unreadable {
		first = "make sure every NATS server's configuration has `jetstream { sync_interval: always }` and let Relais read it: " +
			"--nats-system with the system account (a URL with the system user's credentials, nats://user:password@host:4222, or a .creds file; env RELAIS_NATS_SYSTEM)"
	}
	return "", fmt.Errorf("--durability strict with --nats %s: %w. Fix one of: (1) %s; (2) run a 3-node cluster with --replicas 3 "+
		"(an append is then acknowledged once 2 of the 3 replicas stored it; `relais admin replicas 3` rescales an existing ledger); "+
		"(3) choose --durability relaxed explicitly (a power loss can then lose the last acknowledged appends)",
		nc.ConnectedUrlRedacted(), err, first)
}

// checkHighWater refuses a ledger on --data that ends below the position
// last acknowledged there (natsembed.HighWaterFile): its tail was lost,
// and appending would reuse the lost positions.
func checkHighWater(ctx context.Context, st *jetstream.Store, o BackendConfig) error {
	if o.NATSURL != "" {
		return nil
	}
	// The mark first, then the head: a running serve marks a position only
	// once it is written, so a mark read first is never above a head read
	// after it, however fast serve appends meanwhile (read the other way
	// round, a live verify saw "positions lost").
	mark, err := natsembed.ReadHighWater(o.Data)
	if err != nil {
		return fmt.Errorf("--data %s: %w", o.Data, err)
	}
	head, err := st.Head(ctx)
	if err != nil {
		return err
	}
	if head < mark {
		return fmt.Errorf("--data %s: %w", o.Data, &natsembed.LostError{Dir: o.Data, From: head + 1, To: mark, HighWater: mark})
	}
	return nil
}

// LockWait is how long a command waits for another one-shot command that
// owns --data (holds its lock) to finish before failing with
// natsembed.ErrLocked naming it; also how long it waits for a starting
// serve to publish its address.
var LockWait = 5 * time.Second

// connectOwner connects, with its credential, to the `relais serve` that
// owns data (holds its lock and published its address in the lock record);
// nil and no error when no serve owns it: nobody (a URL file then is stale,
// left by a serve killed without cleaning up) or a one-shot command (the
// caller's natsembed.Start waits for its lock).
func connectOwner(ctx context.Context, data string) (*nats.Conn, error) {
	deadline := time.Now().Add(LockWait)
	for {
		owner, held, err := natsembed.ReadOwner(data)
		if err != nil {
			return nil, fmt.Errorf("--data %s: %w", data, err)
		}
		if !held || !owner.Serves {
			return nil, nil
		}
		if owner.URL != "" {
			return dialOwner(data, owner)
		}
		// serve holds the directory and has not listened yet.
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("--data %s: %w", data, &natsembed.LockedError{Dir: data, Owner: owner})
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("--data %s: waiting for relais serve %s to listen: %w", data, owner, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// dialOwner connects to the serve of owner, checking it is that server
// that answers at its address.
func dialOwner(data string, owner natsembed.Owner) (*nats.Conn, error) {
	url := owner.URL
	cred, err := natsembed.Credential(filepath.Join(data, credFile))
	if err != nil {
		return nil, fmt.Errorf("--data %s: relais serve %s listens at %s but its credential cannot be used (run this command as the user running serve): %w", data, owner, url, err)
	}
	opts := []nats.Option{nats.Name("relais-cli"), nats.Timeout(2 * time.Second), cred}
	if strings.HasPrefix(url, "tls://") {
		pinned, err := pinnedTLS(filepath.Join(data, certFile))
		if err != nil {
			return nil, fmt.Errorf("--data %s: %w", data, err)
		}
		opts = append(opts, nats.Secure(pinned))
	}
	nc, err := nats.Connect(url, opts...)
	if errors.Is(err, nats.ErrAuthorization) {
		return nil, fmt.Errorf("--data %s: relais serve %s at %s refused the credential in %s: %w", data, owner, url, credFile, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: --data %s: relais serve %s owns the directory but does not answer at %s: %w", ledger.ErrUnavailable, data, owner, url, err)
	}
	if id := nc.ConnectedServerId(); owner.ServerID != "" && id != owner.ServerID {
		nc.Close()
		return nil, fmt.Errorf("%w: --data %s: the server at %s is not relais serve %s (server id %s, want %s)", ledger.ErrUnavailable, data, url, owner, id, owner.ServerID)
	}
	return nc, nil
}

// removeStale removes the address, credential and certificate files a
// serve killed without cleaning up left in data; the caller owns data.
func removeStale(data string) {
	for _, f := range []string{urlFile, credFile, certFile} {
		os.Remove(filepath.Join(data, f))
	}
}

// commandName names this process in the lock record: "relais serve" for
// serve, else the program and its leading subcommand words.
func commandName(o BackendConfig) string {
	if o.Publish {
		return "relais serve"
	}
	words := []string{"relais"}
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-") || len(words) == 3 {
			break
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

// pinnedTLS trusts exactly the certificate serve published in path: the
// command dials the address serve listens on, which the certificate need
// not name.
func pinnedTLS(path string) (*tls.Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("nats tls certificate: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("nats tls certificate: %s holds no PEM certificate", path)
	}
	want := block.Bytes
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification is the pin below, not a chain to a root.
		InsecureSkipVerify: true, //nolint:gosec
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, want) {
				return fmt.Errorf("nats tls: the server's certificate is not the one in %s", path)
			}
			return nil
		},
	}, nil
}

// publish writes the URL file (and the listener's certificate when it
// requires TLS); the credential file is the embedded server's own.
func (b *Backend) publish(o BackendConfig) error {
	b.urlPath = filepath.Join(o.Data, urlFile)
	if o.TLS != nil && len(o.TLS.Certificates) > 0 && len(o.TLS.Certificates[0].Certificate) > 0 {
		p := filepath.Join(o.Data, certFile)
		cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: o.TLS.Certificates[0].Certificate[0]})
		if err := os.WriteFile(p, cert, 0o644); err != nil { //nolint:gosec // a public certificate
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	if err := os.WriteFile(b.urlPath, []byte(b.Server.LocalURL()+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", b.urlPath, err)
	}
	return nil
}

// Close closes the ledger, the connection and the embedded server.
func (b *Backend) Close() {
	if b.Store != nil {
		b.Store.Close()
	}
	if b.hw != nil {
		b.hw.Close()
	}
	if b.Conn != nil {
		b.Conn.Close()
	}
	if b.urlPath != "" {
		os.Remove(b.urlPath)
		os.Remove(filepath.Join(filepath.Dir(b.urlPath), certFile))
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

// redactURLs is a comma-separated list of NATS URLs with every user,
// password or token replaced, for errors and logs.
func redactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, part := range parts {
		u, err := url.Parse(strings.TrimSpace(part))
		switch {
		case err != nil:
			parts[i] = "(unparsable URL)"
		case u.User != nil:
			u.User = url.User("REDACTED")
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}
