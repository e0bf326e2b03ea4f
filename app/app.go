// Package app is Relais assembled: the ledger it is given, the projections
// and their runners, the services, delivery and the driving adapters (HTTP
// API, HL7 intake). cmd/relais builds a Config from flags, the benchmarks and
// the HTTP tests build one by hand; New wires, Run runs until its context
// ends.
package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/relais-health/relais/adapters/hl7"
	"github.com/relais-health/relais/adapters/httpapi"
	"github.com/relais-health/relais/adapters/mllp"
	"github.com/relais-health/relais/delivery"
	"github.com/relais-health/relais/delivery/sse"
	"github.com/relais-health/relais/delivery/webhook"
	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/projections"
	"github.com/relais-health/relais/projections/alerts"
	"github.com/relais-health/relais/projections/caseload"
	"github.com/relais-health/relais/projections/clientfile"
	"github.com/relais-health/relais/projections/clientindex"
	"github.com/relais-health/relais/projections/directory"
	"github.com/relais-health/relais/projections/reports"
	"github.com/relais-health/relais/services/access"
	"github.com/relais-health/relais/services/alerting"
	"github.com/relais-health/relais/services/casemgmt"
	"github.com/relais-health/relais/services/edintake"
	"github.com/relais-health/relais/services/pharmacy"
)

// Config is what serve (and the benchmarks and tests that run Relais
// in-process) configure.
type Config struct {
	// Backend is the open ledger (required).
	Backend *Backend
	// Log receives the application's logs (default: none).
	Log *zap.Logger
	// Facilities are the accepted sending facilities (MSH-4).
	Facilities []string
	// HL7Facilities is the per-facility HL7 configuration (charset, time
	// zone, visit keys, hours; nil: Facilities with every default).
	HL7Facilities *hl7.Facilities
	// HL7Sources binds each facility to the MLLP connections it may send
	// from (see hl7.Sources; the zero value accepts loopback peers only).
	HL7Sources hl7.Sources
	// PatientSecret keys the pseudonymous patient keys.
	PatientSecret []byte
	// EscalateAfter, FeedSilence: see alerting.Config.
	EscalateAfter time.Duration
	FeedSilence   time.Duration
	// EscalateEvery is how often the escalator runs (default 30s).
	EscalateEvery time.Duration
	// Heartbeat of SSE streams (default: sse's).
	Heartbeat time.Duration
	// WebhookSecret signs partner webhooks.
	WebhookSecret []byte
	// Replicas of the webhook queue and dead letters (as of the ledger).
	Replicas int
	// Snapshots, when set, lets every projection (directory, client index,
	// alerts, file, caseload, reports) resume from its last snapshot
	// instead of rebuilding.
	Snapshots projections.SnapshotStore
	// SetAside, when set, keeps the events projections set aside (poison
	// events) durably, so they outlive a restart.
	SetAside projections.SetAsideStore
	// TokenLifetime is how long a token issued through the API (staff or
	// partner, at registration or rotation) works; 0 is no expiry.
	TokenLifetime time.Duration
	// TokenClock is the clock token expiry is computed and checked by
	// (default time.Now).
	TokenClock func() time.Time
	// StartTimeout is how long a projection may make no progress catching
	// up at start before WaitReady fails (default DefaultStartTimeout).
	StartTimeout time.Duration
	// ProgressEvery is how often WaitReady logs catch-up progress
	// (default 5s).
	ProgressEvery time.Duration
	// SealKeys, when set, lets the console's verification check every
	// event's seal (as `relais verify --seal-key` does).
	SealKeys *ledger.Keyring
}

// App is Relais assembled.
type App struct {
	log     *zap.Logger
	b       *Backend
	dir     *directory.Directory
	index   *clientindex.Index
	runners []*projections.Runner
	intake  *edintake.Service
	hl7     *hl7.Intake
	alerts  *alerts.Projection
	alertsR *projections.Runner
	alertsW *alerting.Service
	hub     *sse.Hub
	hooks   *webhook.Dispatcher
	nats    *natsSync // the embedded server's partner NATS users
	files   *clientfile.Projection
	loads   *caseload.Projection
	reps    *reports.Projection
	fan     *delivery.Fanout
	cfg     Config
	api     *httpapi.Server
	start   startState
	verify  *verifyJob // the console's ledger verification
}

// feedWindows are the facilities file's hours and zones for the
// feed-silence alarm (none with the --hl7-facilities short form).
func feedWindows(fs *hl7.Facilities) map[string]alerting.FeedWindow {
	out := map[string]alerting.FeedWindow{}
	for _, f := range fs.All() {
		if f.Line > 0 {
			out[f.ID] = alerting.FeedWindow{Hours: f.Hours, Location: f.Location}
		}
	}
	return out
}

// AllRoles is every role an actor can have.
var AllRoles = append(append([]string{}, events.StaffRoles...), events.CategoryDoctor, events.CategoryPharmacy, events.CategoryCommunity, events.CategoryRehab)

// ErrNoFacilities: serve needs at least one sending facility.
var ErrNoFacilities = errors.New("--hl7-facilities: at least one sending facility (MSH-4) must be accepted")

// New wires Relais on cfg.Backend. Nothing runs until Run.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Backend == nil || cfg.Backend.Store == nil {
		return nil, errors.New("app: no ledger backend")
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.TokenClock == nil {
		cfg.TokenClock = time.Now
	}
	if cfg.EscalateEvery == 0 {
		cfg.EscalateEvery = 30 * time.Second
	}
	b, log := cfg.Backend, cfg.Log
	a := &App{log: log, b: b, dir: directory.New(), index: clientindex.New(), hub: sse.NewHub(), cfg: cfg}
	hooks, err := webhook.New(ctx, b.Conn, webhook.Config{Secret: cfg.WebhookSecret, Replicas: cfg.Replicas, Log: log.Named("webhook")})
	if err != nil {
		return nil, err
	}
	a.hooks = hooks
	a.fan = delivery.NewNATS(a.hub, b.Conn, a.hooks, log.Named("delivery"), delivery.WithReplicas(cfg.Replicas))
	a.alerts = alerts.New(b.Store, alerts.Config{Notifier: a.fan, Log: log.Named("alerts")})
	a.alertsR = &projections.Runner{Name: "alerts", L: b.Store, P: a.alerts, Log: log, Snapshots: cfg.Snapshots}
	a.alertsW = alerting.New(b.Store, a.alerts, alerting.Config{EscalateAfter: cfg.EscalateAfter, FeedSilence: cfg.FeedSilence,
		Facilities: cfg.Facilities, FeedWindows: feedWindows(cfg.HL7Facilities), Now: time.Now, Log: log.Named("alerting")})
	a.files, a.loads, a.reps = clientfile.New(), caseload.New(caseload.Config{}), reports.New(reports.Config{})
	a.runners = []*projections.Runner{
		{Name: "directory", L: b.Store, P: a.dir, Log: log, Snapshots: cfg.Snapshots},
		{Name: "clientindex", L: b.Store, P: a.index, Log: log, Snapshots: cfg.Snapshots},
		a.alertsR,
		{Name: "clientfile", L: b.Store, P: a.files, Log: log, Snapshots: cfg.Snapshots},
		{Name: "caseload", L: b.Store, P: a.loads, Log: log, Snapshots: cfg.Snapshots},
		{Name: "reports", L: b.Store, P: a.reps, Log: log, Snapshots: cfg.Snapshots},
	}
	for _, r := range a.runners {
		r.SetAside = cfg.SetAside
	}
	fs := cfg.HL7Facilities
	if fs == nil {
		fs = hl7.NewFacilities(cfg.Facilities...)
	}
	a.intake, err = edintake.New(b.Store, a.index, edintake.Config{Facilities: cfg.Facilities, PatientSecret: cfg.PatientSecret,
		KeyAuthorities: []string{"RAMQ"}, TerritoryAuthorities: fs.TerritoryAuthorities})
	if err != nil {
		return nil, err
	}
	a.hl7 = &hl7.Intake{S: a.intake, Sources: cfg.HL7Sources, Facilities: fs, Log: log.Named("hl7"), Metrics: hl7.NewMetrics()}
	a.api = httpapi.NewServer(authenticator{d: a.dir, now: cfg.TokenClock}, log)
	a.api.RegisterMe(AllRoles)
	a.api.RegisterIntake(a.intake)
	a.api.RegisterAlerts(a.alerts, a.alertsW, a.alertsR, a.hub, cfg.Heartbeat)
	a.api.RegisterWebhooks(a.hooks)
	a.api.RegisterSetAside(a)
	a.api.RegisterSetAsideRetry(a)
	a.api.RegisterFeeds(a.alertsW, a.alerts)
	a.api.RegisterFiles(a.files, a.loads, a.reps, access.New(b.Store), time.Now)
	a.api.RegisterCare(casemgmt.New(b.Store, nil, casemgmt.WithPatientSecret(cfg.PatientSecret)), pharmacy.New(b.Store), a.directoryCommands(cfg))
	if err := a.mountConsole(ctx); err != nil {
		return nil, err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(newLedgerCollector(b))
	reg.MustRegister(newSetAsideCollector(a))
	reg.MustRegister(a.hl7.Metrics.Collectors()...)
	a.api.HandlePublic("GET", "/healthz", func(w http.ResponseWriter, r *http.Request) {
		if _, err := b.Store.Head(r.Context()); err != nil {
			http.Error(w, "ledger unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	a.api.HandlePublic("GET", "/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP)
	return a, nil
}

// Run runs every projection and background loop until ctx ends (or one of
// them fails), and waits for them.
func (a *App) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, r := range a.runners {
		g.Go(func() error { return r.Resume(ctx) })
	}
	g.Go(func() error { return a.hooks.Run(ctx) })
	g.Go(func() error { return a.fan.Run(ctx) })
	g.Go(func() error { return a.verify.run(ctx) })
	if a.nats.srv != nil {
		g.Go(func() error { return a.nats.run(ctx, a.directoryReady()) })
	}
	g.Go(func() error {
		select {
		case <-a.alertsR.Ready():
		case <-ctx.Done():
			return nil
		}
		a.fan.GoLive()
		return a.alertsW.Run(ctx, a.cfg.EscalateEvery)
	})
	return g.Wait()
}

// Handler serves the HTTP API, /healthz and /metrics; until WaitReady has
// seen the projections caught up, every request answers 503 "starting".
func (a *App) Handler() http.Handler { return a.gate(a.routes()) }

// routes is every handler Relais serves, composed (mount new ones here).
func (a *App) routes() http.Handler { return a.api }

// API is the HTTP adapter (its routes, for tests and docs).
func (a *App) API() *httpapi.Server { return a.api }

// HL7 answers one MLLP message (an mllp.Handler), told which connection
// it came on.
func (a *App) HL7(ctx context.Context, peer mllp.Peer, raw []byte) []byte {
	return a.hl7.Handle(ctx, hl7.Peer{Addr: peer.Addr, Certificate: peer.Certificate}, raw)
}

// Hub is the SSE hub (the alerts bench counts its subscribers).
func (a *App) Hub() *sse.Hub { return a.hub }

// Intake is the ED intake service (the demo plays arrivals through it).
func (a *App) Intake() *edintake.Service { return a.intake }

// RetrySetAside runs the set-aside event id through the projection that
// set it aside (the id starts with its name).
func (a *App) RetrySetAside(ctx context.Context, id string) (projections.DeadLetter, error) {
	for _, r := range a.runners {
		if strings.HasPrefix(id, r.Name+".") {
			return r.Retry(ctx, id)
		}
	}
	return projections.DeadLetter{}, fmt.Errorf("%w: %q", projections.ErrSetAsideNotFound, id)
}

// SetAside lists the events every projection set aside, by projection and
// position.
func (a *App) SetAside() []projections.DeadLetter {
	var out []projections.DeadLetter
	for _, r := range a.runners {
		out = append(out, r.DeadLetters()...)
	}
	return out
}
