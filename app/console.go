package app

import (
	"context"

	"github.com/relais-health/relais/adapters/console"
	"github.com/relais-health/relais/projections"
	"github.com/relais-health/relais/projections/accesslog"
	"github.com/relais-health/relais/projections/directory"
	"github.com/relais-health/relais/services/access"
	"github.com/relais-health/relais/services/casemgmt"
	"github.com/relais-health/relais/services/pharmacy"
)

// mountConsole serves the web console (adapters/console) on the API's
// listener, at / and /console/, with the same authenticator, services and
// projections as the API.
func (a *App) mountConsole() error {
	var filesR *projections.Runner
	for _, r := range a.runners {
		if r.Name == "clientfile" {
			filesR = r
		}
	}
	c, err := console.New(console.Deps{
		Auth: authenticator{d: a.dir, now: a.cfg.TokenClock}, Alerts: a.alerts, Ack: a.alertsW, AlertsW: a.alertsR, FilesW: filesR,
		Hub: a.hub, Heartbeat: a.cfg.Heartbeat, Files: a.files, Caseloads: a.loads, Reports: a.reps,
		Access: access.New(a.b.Store), Care: casemgmt.New(a.b.Store, nil, casemgmt.WithPatientSecret(a.cfg.PatientSecret)),
		Pharmacy: pharmacy.New(a.b.Store), Names: names{a.dir}, AccessLog: accessLog{a.b.Store}, Log: a.log.Named("console"),
	})
	if err != nil {
		return err
	}
	a.api.HandlePublic("GET", "/{$}", c.ServeHTTP)
	a.api.HandlePublic("GET", "/console/", c.ServeHTTP)
	a.api.HandlePublic("POST", "/console/", c.ServeHTTP)
	return nil
}

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
