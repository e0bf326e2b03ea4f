package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/nats-io/nats.go"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/httpapi"
	"github.com/relais-health/relais/infra/sse"
	"github.com/relais-health/relais/infra/webhook"
	"github.com/relais-health/relais/projections"
	"github.com/relais-health/relais/projections/alerts"
	"github.com/relais-health/relais/projections/caseload"
	"github.com/relais-health/relais/projections/clientfile"
	"github.com/relais-health/relais/projections/clientindex"
	"github.com/relais-health/relais/projections/directory"
	"github.com/relais-health/relais/projections/reports"
	"github.com/relais-health/relais/services/casemgmt"
	svcdirectory "github.com/relais-health/relais/services/directory"
	"github.com/relais-health/relais/services/edintake"
	"github.com/relais-health/relais/services/pharmacy"
)

// appConfig is what serve (and the benchmarks that run Relais in-process)
// configure.
type appConfig struct {
	facilities    []string
	secret        []byte
	escalateAfter time.Duration
	feedSilence   time.Duration
	escalateEvery time.Duration
	heartbeat     time.Duration
	webhookSecret []byte
	// replicas of the webhook queue and dead letters (as of the ledger).
	replicas int
	// snapshots, when set, lets the file, caseload and report projections
	// resume from their last snapshot instead of rebuilding.
	snapshots projections.SnapshotStore
}

// app is Relais assembled: the ledger, the projections and their runners,
// the services and the HTTP API.
type app struct {
	log     *zap.Logger
	b       *backend
	dir     *directory.Directory
	index   *clientindex.Index
	runners []*projections.Runner
	intake  *edintake.Service
	hl7     *edintake.HL7Handler
	alerts  *alerts.Projection
	alertsR *projections.Runner
	hub     *sse.Hub
	hooks   *webhook.Dispatcher
	files   *clientfile.Projection
	loads   *caseload.Projection
	reps    *reports.Projection
	fan     *fanout
	cfg     appConfig
	api     *httpapi.Server
	handler http.Handler
}

// allRoles is every role an actor can have.
var allRoles = append(append([]string{}, events.StaffRoles...), events.CategoryDoctor, events.CategoryPharmacy, events.CategoryCommunity, events.CategoryRehab)

// staffRoles excludes partners.
var staffRoles = events.StaffRoles

func newApp(ctx context.Context, b *backend, log *zap.Logger, cfg appConfig) (*app, error) {
	if cfg.escalateEvery == 0 {
		cfg.escalateEvery = 30 * time.Second
	}
	a := &app{log: log, b: b, dir: directory.New(), index: clientindex.New(), hub: sse.NewHub(), cfg: cfg}
	hooks, err := webhook.New(ctx, b.Conn, webhook.Config{Secret: cfg.webhookSecret, Replicas: cfg.replicas, Log: log.Named("webhook")})
	if err != nil {
		return nil, err
	}
	a.hooks = hooks
	a.fan = &fanout{hub: a.hub, nc: b.Conn, log: log, hooks: a.hooks, dir: a.dir}
	a.alerts = alerts.New(b.Store, alerts.Config{EscalateAfter: cfg.escalateAfter, FeedSilence: cfg.feedSilence,
		Facilities: cfg.facilities, Notifier: a.fan, Log: log.Named("alerts")})
	a.alertsR = &projections.Runner{Name: "alerts", L: b.Store, P: a.alerts, Log: log}
	a.files, a.loads, a.reps = clientfile.New(), caseload.New(caseload.Config{}), reports.New(reports.Config{})
	a.runners = []*projections.Runner{
		{Name: "directory", L: b.Store, P: a.dir, Log: log},
		{Name: "clientindex", L: b.Store, P: a.index, Log: log},
		a.alertsR,
		{Name: "clientfile", L: b.Store, P: a.files, Log: log, Snapshots: cfg.snapshots},
		{Name: "caseload", L: b.Store, P: a.loads, Log: log, Snapshots: cfg.snapshots},
		{Name: "reports", L: b.Store, P: a.reps, Log: log, Snapshots: cfg.snapshots},
	}
	a.fan.dirR = a.runners[0]
	a.intake, err = edintake.New(b.Store, a.index, edintake.Config{Facilities: cfg.facilities, PatientSecret: cfg.secret, KeyAuthorities: []string{"RAMQ"}})
	if err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation("America/Toronto")
	if err != nil {
		return nil, fmt.Errorf("time zone America/Toronto: %w", err)
	}
	a.hl7 = &edintake.HL7Handler{S: a.intake, Location: loc, Log: log.Named("hl7")}
	a.api = httpapi.NewServer(authenticator{a.dir}, log)
	a.api.RegisterMe(allRoles)
	a.api.RegisterIntake(a.intake)
	a.api.RegisterAlerts(a.alerts, a.alertsR, a.hub, cfg.heartbeat)
	a.api.RegisterWebhooks(a.hooks)
	a.api.RegisterFiles(a.files, a.loads, a.reps, b.Store, time.Now)
	a.api.RegisterCare(casemgmt.New(b.Store, nil), pharmacy.New(b.Store), svcdirectory.New(b.Store))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(newLedgerCollector(b))
	a.api.HandlePublic("GET", "/healthz", func(w http.ResponseWriter, r *http.Request) {
		if _, err := b.Store.Head(r.Context()); err != nil {
			http.Error(w, "ledger unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	a.api.HandlePublic("GET", "/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP)
	a.handler = a.api
	return a, nil
}

// run starts every projection and background loop on g; they stop with ctx.
func (a *app) run(ctx context.Context, g *errgroup.Group) {
	for _, r := range a.runners {
		g.Go(func() error { return r.Resume(ctx) })
	}
	g.Go(func() error { return a.hooks.Run(ctx) })
	g.Go(func() error {
		select {
		case <-a.alertsR.Ready():
		case <-ctx.Done():
			return nil
		}
		a.fan.live.Store(true)
		return a.alerts.RunEscalator(ctx, a.cfg.escalateEvery, time.Now)
	})
}

// fanout delivers alert changes: to SSE subscribers, and on the NATS
// subject relais.alerts.<recipient-id> for partner systems (only once the
// projection has caught up, so a restart does not re-publish history).
type fanout struct {
	hub   *sse.Hub
	nc    *nats.Conn
	log   *zap.Logger
	hooks *webhook.Dispatcher
	dir   *directory.Directory
	// dirR runs dir: a webhook lookup waits until the directory has read
	// as far as the change (the partner registered before it).
	dirR *projections.Runner
	live atomic.Bool
}

func (f *fanout) Notify(u alerts.Update) {
	ev := httpapi.EncodeUpdate(u)
	f.hub.Publish(u.Recipient, ev)
	if f.nc != nil && f.live.Load() {
		if err := f.nc.Publish("relais.alerts."+u.Recipient, ev.Data); err != nil {
			f.log.Warn("publish alert on nats", zap.String("recipient", u.Recipient), zap.Error(err))
		}
	}
	// Webhooks: live changes, and while catching up after a restart the
	// recent ones (a change applied just before a crash may not have been
	// queued; the queue drops those it already holds).
	recent := !u.At.IsZero() && time.Since(u.At) < webhook.DedupeWindow-5*time.Minute
	if u.Change == "thread" || !f.live.Load() && !recent {
		return
	}
	if f.dirR != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := f.dirR.WaitFor(ctx, u.Position)
		cancel()
		if err != nil {
			f.log.Warn("webhook: directory behind; recipient looked up as it stands", zap.String("recipient", u.Recipient), zap.Error(err))
		}
	}
	if e, ok := f.dir.Get(u.Recipient); ok && e.WebhookURL != "" {
		f.hooks.Enqueue(webhook.Delivery{ID: fmt.Sprintf("%s-%d", u.Alert.ID, u.Seq), URL: e.WebhookURL, Recipient: u.Recipient, Body: ev.Data})
	}
}

// waitReady blocks until every projection has caught up with the ledger as
// it was at start, so the API answers from complete read models.
func (a *app) waitReady(ctx context.Context) error {
	for _, r := range a.runners {
		select {
		case <-r.Ready():
		case <-ctx.Done():
			return fmt.Errorf("projection %s not ready: %w", r.Name, ctx.Err())
		}
	}
	return nil
}

// authenticator adapts the directory to the API.
type authenticator struct{ d *directory.Directory }

func (a authenticator) Authenticate(token string) (httpapi.Principal, bool) {
	e, ok := a.d.Authenticate(token)
	if !ok {
		return httpapi.Principal{}, false
	}
	return httpapi.Principal{ID: e.ID, Role: e.Role, Partner: e.IsPartner()}, true
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

var errNoFacilities = errors.New("--hl7-facilities: at least one sending facility (MSH-4) must be accepted")
