package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/relais-health/relais/adapters/console"
	"github.com/relais-health/relais/infra/sessionkv"
	"github.com/relais-health/relais/projections"
	"github.com/relais-health/relais/projections/accesslog"
	"github.com/relais-health/relais/projections/directory"
	"github.com/relais-health/relais/services/access"
	"github.com/relais-health/relais/services/casemgmt"
	svcdirectory "github.com/relais-health/relais/services/directory"
	"github.com/relais-health/relais/services/pharmacy"
)

// mountConsole serves the web console (adapters/console) on the API's
// listener, at / and /console/, with the same authenticator, services and
// projections as the API.
func (a *App) mountConsole(ctx context.Context) error {
	// Sessions in a KV bucket: every instance on this NATS knows them.
	kv, err := sessionkv.Open(ctx, a.b.Conn, console.DefaultIdleTimeout, a.cfg.Replicas)
	if err != nil {
		return fmt.Errorf("console sessions: %w", err)
	}
	var filesR *projections.Runner
	for _, r := range a.runners {
		if r.Name == "clientfile" {
			filesR = r
		}
	}
	a.verify = newVerifyJob(a.b.Store, a.cfg.SealKeys)
	cm := casemgmt.New(a.b.Store, nil, casemgmt.WithPatientSecret(a.cfg.PatientSecret))
	c, err := console.New(console.Deps{
		Auth: authenticator{d: a.dir, now: a.cfg.TokenClock}, Alerts: a.alerts, Ack: a.alertsW, AlertsW: a.alertsR, FilesW: filesR,
		Hub: a.hub, Heartbeat: a.cfg.Heartbeat, Files: a.files, Caseloads: a.loads, Reports: a.reps,
		Access: access.New(a.b.Store), Care: cm, Setup: cm, Search: a.files,
		Pharmacy: pharmacy.New(a.b.Store), Names: names{a.dir}, AccessLog: accessLog{a.b.Store}, Log: a.log.Named("console"),
		IdleTimeout: console.DefaultIdleTimeout, Sessions: sessionStore{kv},
		// pages_manage.go: feeds, deliveries, directory, replays, verify
		Feeds: a.alertsW, Hooks: a.hooks, SetAside: a, Directory: a.consoleDirectory(), People: a.dir,
		Replay: replayer{a.b.Store}, Verify: a.verify, RetryAside: a,
	})
	if err != nil {
		return err
	}
	a.api.HandlePublic("GET", "/{$}", c.ServeHTTP)
	a.api.HandlePublic("GET", "/console/", c.ServeHTTP)
	a.api.HandlePublic("POST", "/console/", c.ServeHTTP)
	return nil
}

// consoleDirectory is the directory's commands as the API has them
// (answering once the change is in force), sharing the API's NATS sync.
func (a *App) consoleDirectory() foldedDirectory {
	var folded folder
	for _, r := range a.runners {
		if r.Name == "directory" {
			folded = r
		}
	}
	svc := svcdirectory.New(a.b.Store, svcdirectory.WithTokenLifetime(a.cfg.TokenLifetime), svcdirectory.WithClock(a.cfg.TokenClock))
	return foldedDirectory{Service: svc, folded: folded, nats: a.nats, log: a.log.Named("directory")}
}

// sessionStore is the console's SessionStore on the KV bucket.
type sessionStore struct{ s *sessionkv.Store }

func (k sessionStore) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := k.s.Get(ctx, key)
	if errors.Is(err, sessionkv.ErrNotFound) {
		return nil, console.ErrNoSession
	}
	return v, err
}

func (k sessionStore) Put(ctx context.Context, key string, v []byte) error {
	return k.s.Put(ctx, key, v)
}
func (k sessionStore) Delete(ctx context.Context, key string) error { return k.s.Delete(ctx, key) }

// accessLog reads a client file's access log from the ledger.
type accessLog struct{ l accesslog.Reader }

func (a accessLog) Load(ctx context.Context, clientID string) ([]accesslog.Entry, bool, error) {
	return accesslog.Load(ctx, a.l, clientID)
}

// names gives the console display names from the directory.
type names struct{ d *directory.Directory }

func (n names) Partners(category string) []console.Partner {
	var out []console.Partner
	for _, e := range n.d.ByRole(category) {
		if e.IsPartner() {
			out = append(out, console.Partner{ID: e.ID, Name: e.Name})
		}
	}
	return out
}

func (n names) Name(id string) string {
	if e, ok := n.d.Get(id); ok {
		return e.Name
	}
	return ""
}
