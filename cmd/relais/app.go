package main

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

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/httpapi"
	"github.com/relais-health/relais/projections"
	"github.com/relais-health/relais/projections/clientindex"
	"github.com/relais-health/relais/projections/directory"
	"github.com/relais-health/relais/services/edintake"
)

// appConfig is what serve (and the benchmarks that run Relais in-process)
// configure.
type appConfig struct {
	facilities []string
	secret     []byte
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
	api     *httpapi.Server
	handler http.Handler
}

// allRoles is every role an actor can have.
var allRoles = append(append([]string{}, events.StaffRoles...), events.CategoryDoctor, events.CategoryPharmacy, events.CategoryCommunity, events.CategoryRehab)

// staffRoles excludes partners.
var staffRoles = events.StaffRoles

func newApp(b *backend, log *zap.Logger, cfg appConfig) (*app, error) {
	a := &app{log: log, b: b, dir: directory.New(), index: clientindex.New()}
	a.runners = []*projections.Runner{
		{Name: "directory", L: b.Store, P: a.dir, Log: log},
		{Name: "clientindex", L: b.Store, P: a.index, Log: log},
	}
	var err error
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
