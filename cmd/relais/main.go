// Command relais is the Relais binary: it serves the coordination ledger
// (embedded NATS JetStream by default) and carries the operator commands:
// events, verify, bench.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // HL7 times without offset are read in each facility's time zone (default America/Montreal), on any machine

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/relais-health/relais/app"
	"github.com/relais-health/relais/infra/ledger"
)

// Exit codes.
const (
	exitError  = 1
	exitUsage  = 2
	exitBroken = 3 // verify found a broken chain
)

// exitErr carries a specific exit code.
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "relais:", err)
		os.Exit(exitCode(err))
	}
}

// exitCode is the documented exit code of err: an exitErr's own, 2 for
// what cobra refuses before a command runs (an unknown command, a missing
// required flag), 1 otherwise.
func exitCode(err error) int {
	var ee *exitErr
	if errors.As(err, &ee) {
		return ee.code
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "unknown command ") || strings.HasPrefix(msg, "required flag(s) ") {
		return exitUsage
	}
	return exitError
}

// usageErrors makes every flag and argument error of cmd and its
// subcommands exit 2 (bad usage).
func usageErrors(cmd *cobra.Command) {
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitErr{exitUsage, err} })
	if args := cmd.Args; args != nil {
		cmd.Args = func(c *cobra.Command, a []string) error {
			if err := args(c, a); err != nil {
				return &exitErr{exitUsage, err}
			}
			return nil
		}
	}
	for _, c := range cmd.Commands() {
		usageErrors(c)
	}
}

// globals are the flags every command that touches the ledger shares.
type globals struct {
	data       string
	natsURL    string
	durability string
	natsSystem string
	natsCreds  string
	replicas   int
	logLevel   string
	// sealKey is --seal-key: a key file, "demo", or "" (none); sealKeys is
	// the ring it names, loaded by validate.
	sealKey  string
	sealKeys *ledger.Keyring
	// dupWindow is --duplicate-window as given; duplicateWindow parsed.
	dupWindow       string
	duplicateWindow time.Duration
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "relais",
		Short:         "Relais — registre de coordination / coordination ledger",
		Long:          "Relais records every coordination fact about clients who keep coming back to the ED as an immutable event on NATS JetStream.\nRelais consigne chaque fait de coordination comme un événement immuable sur NATS JetStream.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.validate(); err != nil {
				return err
			}
			warnSecretsInFlags(cmd)
			return g.loadSealKey(cmd)
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.data, "data", envOr("RELAIS_DATA", "./data"), "data directory of the embedded NATS server (env RELAIS_DATA)")
	pf.StringVar(&g.natsURL, "nats", os.Getenv("RELAIS_NATS_URL"), "URL of an external NATS server or cluster; empty runs the embedded server (env RELAIS_NATS_URL)")
	pf.StringVar(&g.durability, "durability", envOr("RELAIS_DURABILITY", "strict"), "strict: acknowledge only fsynced appends; relaxed: JetStream's default flush (demos, benchmarks) (env RELAIS_DURABILITY)")
	pf.StringVar(&g.natsSystem, "nats-system", os.Getenv("RELAIS_NATS_SYSTEM"), "system account of the --nats servers, to check with strict durability that they fsync (sync_interval: always): a URL with the system user's credentials or a .creds file; not needed on an R3 ledger (env RELAIS_NATS_SYSTEM)")
	pf.StringVar(&g.natsCreds, "nats-creds", os.Getenv("RELAIS_NATS_CREDS"), "a .creds file (user JWT and seed) to authenticate to the --nats servers with, instead of a user, password or token in the URL (env RELAIS_NATS_CREDS)")
	pf.IntVar(&g.replicas, "replicas", envInt("RELAIS_REPLICAS", 1), "stream replicas: 1, or 3 on a cluster (env RELAIS_REPLICAS)")
	pf.StringVar(&g.sealKey, "seal-key", os.Getenv("RELAIS_SEAL_KEY"), "file of the key that seals every appended event (hex, 0600, outside --data; make one with: openssl rand -hex 32), or 'demo' for the public demo key; serve --demo uses the demo key when none is given (env RELAIS_SEAL_KEY)")
	pf.StringVar(&g.dupWindow, "duplicate-window", envOr("RELAIS_DUPLICATE_WINDOW", "2m"), "JetStream's duplicate window for a ledger this command creates (at least 100ms; an existing ledger keeps its own); appends stay idempotent by event id beyond it, through the event-id index (env RELAIS_DUPLICATE_WINDOW)")
	pf.StringVar(&g.logLevel, "log-level", envOr("RELAIS_LOG_LEVEL", "info"), "debug, info, warn or error (env RELAIS_LOG_LEVEL)")
	root.AddCommand(newServeCmd(g), newEventsCmd(g), newVerifyCmd(g), newBenchCmd(g), newSimulateCmd(g), newAuditCmd(g), newReplayCmd(g), newReportCmd(g), newAdminCmd(g), newRepairCmd(g))
	usageErrors(root)
	return root
}

func (g *globals) validate() error {
	if g.durability != "strict" && g.durability != "relaxed" {
		return &exitErr{exitUsage, fmt.Errorf("--durability: %q is not strict or relaxed", g.durability)}
	}
	if g.replicas != 1 && g.replicas != 3 {
		return &exitErr{exitUsage, fmt.Errorf("--replicas: must be 1 or 3, not %d", g.replicas)}
	}
	if _, err := zapcore.ParseLevel(g.logLevel); err != nil {
		return &exitErr{exitUsage, fmt.Errorf("--log-level: %w", err)}
	}
	if g.natsCreds != "" && g.natsURL == "" {
		return &exitErr{exitUsage, errors.New("--nats-creds: only with --nats (the embedded server has its own credential)")}
	}
	if g.natsURL == "" && g.data == "" {
		return &exitErr{exitUsage, errors.New("--data: required when --nats is not given")}
	}
	d, err := time.ParseDuration(g.dupWindow)
	if err != nil || d < 100*time.Millisecond {
		return &exitErr{exitUsage, fmt.Errorf("--duplicate-window: %q is not a duration of at least 100ms (e.g. 2m)", g.dupWindow)}
	}
	g.duplicateWindow = d
	return nil
}

// backend is where the global flags say the ledger is.
func (g *globals) backend() app.BackendConfig {
	return app.BackendConfig{Data: g.data, NATSURL: g.natsURL, Durability: g.durability, NATSSystem: g.natsSystem, NATSCreds: g.natsCreds, Replicas: g.replicas, SealKeys: g.sealKeys, DuplicateWindow: g.duplicateWindow}
}

// loadSealKey loads --seal-key. The public demo key is used only when
// asked for ("demo") or by serve --demo without a key, never silently.
func (g *globals) loadSealKey(cmd *cobra.Command) error {
	name := g.sealKey
	if name == "" && cmd.Name() == "serve" {
		if demo, err := cmd.Flags().GetBool("demo"); err == nil && demo {
			name = ledger.DemoSealKey
		}
	}
	switch name {
	case "":
		if cmd.Name() == "serve" {
			fmt.Fprintln(os.Stderr, "relais: no --seal-key: events are written unsealed, and `relais verify` cannot tell them from events forged by anyone who can publish into the ledger; give --seal-key FILE")
		}
		return nil
	case ledger.DemoSealKey:
		g.sealKeys = ledger.DemoKeyring()
		if cmd.Name() == "serve" || cmd.Name() == "append" {
			fmt.Fprintln(os.Stderr, "relais: events are sealed with the public demo key (--seal-key demo): the seals prove nothing; never in production")
		}
		return nil
	}
	data := g.data
	if g.natsURL != "" {
		data = ""
	}
	k, err := ledger.LoadKeyring(name, data)
	if err != nil {
		return &exitErr{exitUsage, fmt.Errorf("--seal-key: %w", err)}
	}
	g.sealKeys = k
	return nil
}

// splitList parses a comma-separated flag.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// logger returns a JSON zap logger on stderr at the chosen level.
func (g *globals) logger() *zap.Logger {
	lvl, _ := zapcore.ParseLevel(g.logLevel)
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.EncoderConfig.TimeKey = "ts"
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	cfg.Sampling = nil
	l, err := cfg.Build()
	if err != nil {
		return zap.NewNop()
	}
	return l
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}

func envInt(key string, def int) int {
	var n int
	if v := os.Getenv(key); v != "" {
		if _, err := fmt.Sscanf(v, "%d", &n); err == nil {
			return n
		}
	}
	return def
}

func envDuration(key string, def time.Duration) time.Duration {
	if v := os.Getenv(key); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

// secretFlags are the flags whose value may carry a credential, with the
// environment variable that keeps it out of the process list.
var secretFlags = []struct{ flag, env string }{
	{"nats", "RELAIS_NATS_URL"},
	{"nats-system", "RELAIS_NATS_SYSTEM"},
}

// warnSecretsInFlags warns when a credential was given on the command line
// (a user, password or token in a NATS URL): every user of the machine can
// read it in the process list, and shell history keeps it.
func warnSecretsInFlags(cmd *cobra.Command) {
	for _, s := range secretFlags {
		f := cmd.Flags().Lookup(s.flag)
		if f == nil || !f.Changed || !urlHasCredentials(f.Value.String()) {
			continue
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "relais: warning: --%s carries a credential, which every user of this machine can read in the process list "+
			"(and your shell keeps in its history): give it in the environment (%s) or in a .creds file (--nats-creds) instead\n", s.flag, s.env)
	}
}

// urlHasCredentials tells whether any of the comma-separated NATS URLs in
// v carries a user, password or token.
func urlHasCredentials(v string) bool {
	for _, part := range strings.Split(v, ",") {
		u, err := url.Parse(strings.TrimSpace(part))
		if err == nil && u.User != nil && u.User.String() != "" {
			return true
		}
	}
	return false
}
