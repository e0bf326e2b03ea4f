package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/relais-health/relais/adapters/mllp"
	"github.com/relais-health/relais/app"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

type serveFlags struct {
	http       string
	httpEdges  httpEdges // the --http-* limits (listen_http.go)
	natsListen string
	facilities string
	// facilitiesFile is --facilities (listen_mllp.go reads it).
	facilitiesFile string
	mllp           string
	tlsCert        string
	tlsKey         string
	clientCA       string
	sources        string
	mllpConns      int
	demo           bool
	demoEvery      time.Duration
	escalate       time.Duration
	silence        time.Duration
	// tokenLifetime of tokens issued through the API (0: no expiry).
	tokenLifetime time.Duration

	// startTimeout: how long a projection may make no progress catching
	// up at start before serve fails.
	startTimeout time.Duration

	// the NATS client listener's TLS (listen_nats.go)
	natsTLSCert  string
	natsTLSKey   string
	natsInsecure bool
}

func newServeCmd(g *globals) *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "run Relais: embedded NATS JetStream ledger, projections, HTTP API, HL7 intake",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), g, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.http, "http", envOr("RELAIS_HTTP", ":8080"), "HTTP listen address for the API, /healthz and /metrics (env RELAIS_HTTP)")
	addHTTPFlags(cmd, &f.httpEdges)
	fl.StringVar(&f.natsListen, "nats-listen", envOr("RELAIS_NATS_LISTEN", "127.0.0.1:4222"), "client address of the embedded NATS server (every client authenticates; beyond loopback needs TLS); port 0 picks a free one (env RELAIS_NATS_LISTEN)")
	fl.StringVar(&f.natsTLSCert, "nats-tls-cert", os.Getenv("RELAIS_NATS_TLS_CERT"), "PEM certificate: the NATS client listener requires TLS (with --nats-tls-key) (env RELAIS_NATS_TLS_CERT)")
	fl.StringVar(&f.natsTLSKey, "nats-tls-key", os.Getenv("RELAIS_NATS_TLS_KEY"), "PEM private key for --nats-tls-cert (env RELAIS_NATS_TLS_KEY)")
	fl.BoolVar(&f.natsInsecure, "nats-insecure", false, "allow a --nats-listen beyond loopback without TLS (logged as a warning)")
	fl.StringVar(&f.facilities, "hl7-facilities", envOr("RELAIS_HL7_FACILITIES", "HSTA,HLAU"), "sending facilities (MSH-4) whose ADT messages are accepted, comma-separated (env RELAIS_HL7_FACILITIES)")
	fl.StringVar(&f.facilitiesFile, "facilities", os.Getenv("RELAIS_FACILITIES"), "per-facility HL7 configuration file (sources, time zone, charset, hours, visit key; docs/HL7.md); replaces --hl7-facilities (env RELAIS_FACILITIES)")
	fl.StringVar(&f.mllp, "mllp", envOr("RELAIS_MLLP", "127.0.0.1:2575"), "HL7 v2 MLLP listen address for ADT feeds; off loopback, every facility needs --hl7-sources or --mllp-tls-client-ca (env RELAIS_MLLP)")
	fl.StringVar(&f.sources, "hl7-sources", os.Getenv("RELAIS_HL7_SOURCES"), "networks each facility may send from over MLLP, e.g. HSTA=10.0.0.0/24,HLAU=10.1.2.3/32; a facility without one is accepted from loopback only (env RELAIS_HL7_SOURCES)")
	fl.StringVar(&f.tlsCert, "mllp-tls-cert", os.Getenv("RELAIS_MLLP_TLS_CERT"), "PEM certificate: serve MLLP over TLS (with --mllp-tls-key)")
	fl.StringVar(&f.tlsKey, "mllp-tls-key", os.Getenv("RELAIS_MLLP_TLS_KEY"), "PEM private key for --mllp-tls-cert")
	fl.StringVar(&f.clientCA, "mllp-tls-client-ca", os.Getenv("RELAIS_MLLP_TLS_CLIENT_CA"), "PEM CA certificates: MLLP requires a client certificate they issued, naming the facility (CN or a DNS SAN) of every message (env RELAIS_MLLP_TLS_CLIENT_CA)")
	fl.IntVar(&f.mllpConns, "mllp-max-conns", envInt("RELAIS_MLLP_MAX_CONNS", mllp.DefaultMaxConns), "MLLP connections served at once; one more is closed at once (env RELAIS_MLLP_MAX_CONNS)")
	fl.DurationVar(&f.escalate, "escalate-after", envDuration("RELAIS_ESCALATE_AFTER", 15*time.Minute), "escalate a high-priority alert not acknowledged within this delay (env RELAIS_ESCALATE_AFTER)")
	fl.DurationVar(&f.silence, "feed-silence", envDuration("RELAIS_FEED_SILENCE", 2*time.Hour), "alert when a hospital feed is silent this long between 07:00 and 23:00 (env RELAIS_FEED_SILENCE)")
	fl.DurationVar(&f.tokenLifetime, "token-lifetime", envDuration("RELAIS_TOKEN_LIFETIME", 0), "staff and partner API tokens issued (registered or rotated) from now on expire after this long, e.g. 2160h; 0: never (env RELAIS_TOKEN_LIFETIME)")
	fl.DurationVar(&f.startTimeout, "start-timeout", envDuration("RELAIS_START_TIMEOUT", app.DefaultStartTimeout), "at start, a projection catching up that makes no progress this long fails serve, naming it and its position (env RELAIS_START_TIMEOUT)")
	fl.BoolVar(&f.demo, "demo", false, "seed a demo territory (2 case managers, partners, the seed programme's 200 clients enrolled over a year ago with their ED history: 1,054 visits the year before, 254 after), play ED arrivals and print demo tokens")
	fl.DurationVar(&f.demoEvery, "demo-every", 8*time.Second, "with --demo, time between played ED arrivals (0: none)")
	return cmd
}

func runServe(ctx context.Context, g *globals, f *serveFlags) error {
	log := g.logger()
	defer log.Sync() //nolint:errcheck
	hl7Facilities, err := readFacilities(f)
	if err != nil {
		return err
	}
	facilities := hl7Facilities.IDs()
	if f.tokenLifetime < 0 {
		return &exitErr{exitUsage, fmt.Errorf("--token-lifetime %s: must be 0 (no expiry) or positive", f.tokenLifetime)}
	}
	if err := f.httpEdges.validate(); err != nil {
		return &exitErr{exitUsage, err}
	}
	hl7Sources, err := mllpSources(f, hl7Facilities)
	if err != nil {
		return err
	}
	secret, err := patientSecret(g)
	if err != nil {
		return err
	}
	natsTLS, err := natsTLS(f, log)
	if err != nil {
		return err
	}
	if f.startTimeout <= 0 {
		return &exitErr{exitUsage, fmt.Errorf("--start-timeout %s: must be positive", f.startTimeout)}
	}
	// Every listener is checked before anything is written or printed (the
	// administrator token is shown once: a start that then fails on a
	// taken port would lose it).
	ln, err := listenHTTP(f)
	if err != nil {
		return err
	}
	defer ln.Close()
	var a *app.App
	mllpSrv, mllpLn, err := newMLLP(f, func(ctx context.Context, peer mllp.Peer, raw []byte) []byte { return a.HL7(ctx, peer, raw) }, log)
	if err != nil {
		return err
	}
	defer mllpLn.Close()
	if g.natsURL == "" {
		if err := probeListen("--nats-listen", f.natsListen); err != nil {
			return err
		}
	}
	bc := g.backend()
	bc.Listen, bc.Publish, bc.TLS = f.natsListen, true, natsTLS
	b, err := app.OpenBackend(ctx, bc, log)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := app.EnsureAdmin(ctx, b.Store, os.Stderr); err != nil {
		return err
	}
	if f.demo {
		log.Warn("demo mode: demo tokens are public, never use --demo in production")
		if err := app.SeedDemo(ctx, b.Store, secret); err != nil {
			return fmt.Errorf("--demo: %w", err)
		}
	}
	snaps, err := b.Store.Snapshots(ctx)
	if err != nil {
		return err
	}
	aside, err := b.Store.SetAside(ctx)
	if err != nil {
		return err
	}
	a, err = app.New(ctx, app.Config{Backend: b, Log: log, Facilities: facilities, HL7Facilities: hl7Facilities, HL7Sources: hl7Sources, PatientSecret: secret,
		EscalateAfter: f.escalate, SealKeys: g.sealKeys, FeedSilence: f.silence, Replicas: g.replicas,
		WebhookSecret: webhookSecret(), Snapshots: snaps, SetAside: aside, TokenLifetime: f.tokenLifetime,
		EscalateEvery: min(30*time.Second, max(f.escalate/4, 100*time.Millisecond)), StartTimeout: f.startTimeout})
	if err != nil {
		return err
	}
	srv := newHTTPServer(a.Handler(), f.httpEdges)

	grp, gctx := errgroup.WithContext(ctx)
	grp.Go(func() error { return a.Run(gctx) })
	// HTTP answers from now on: /healthz says "starting" (503, with how far
	// the catch-up got) and every other route 503 until WaitReady is done.
	grp.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	grp.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down")
		// Streams first: an SSE response never ends by itself, and
		// Shutdown waits for every response to end.
		a.Hub().Close()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("http shutdown: %w", err)
		}
		return nil
	})
	log.Info("http listening (starting)", zap.String("http", ln.Addr().String()))
	if err := a.WaitReady(gctx); err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return grp.Wait() // interrupted while starting: a clean stop
		}
		cancelErr := grp.Wait()
		if errors.Is(err, app.ErrStartStuck) || cancelErr == nil {
			return err
		}
		return errors.Join(err, cancelErr)
	}
	log.Info("relais serving",
		zap.String("http", ln.Addr().String()),
		zap.Bool("embedded_nats", b.Embedded),
		zap.String("durability", g.durability),
		zap.String("data", g.data))
	grp.Go(func() error { return mllpSrv.Serve(gctx, mllpLn) })
	log.Info("hl7 mllp listening", zap.String("mllp", mllpLn.Addr().String()), zap.Bool("tls", mllpSrv.TLSConfig != nil), zap.Strings("facilities", facilities))
	if f.demo {
		app.PrintDemoTokens(os.Stderr, ln.Addr().String())
		if f.demoEvery > 0 {
			grp.Go(func() error { return app.PlayArrivals(gctx, a.Intake(), log, f.demoEvery) })
		}
	}
	return grp.Wait()
}

// probeListen checks that addr can be listened on now (for a listener
// another part opens later, the embedded NATS server), naming it if not.
func probeListen(flag, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s %s: %w", flag, addr, err)
	}
	return ln.Close()
}

// webhookSecret signs partner webhooks: RELAIS_WEBHOOK_SECRET, or the
// demo secret (partners must be told the production one).
func webhookSecret() []byte {
	if v := os.Getenv("RELAIS_WEBHOOK_SECRET"); v != "" {
		return []byte(v)
	}
	return []byte("relais-demo-webhook-secret")
}
