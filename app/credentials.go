package app

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/relais-health/relais/adapters/httpapi"
	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/projections/directory"
	svcdirectory "github.com/relais-health/relais/services/directory"
)

// authenticator adapts the directory to the API: a token is its entry's
// until it is rotated, revoked or expires (by now).
type authenticator struct {
	d   *directory.Directory
	now func() time.Time
}

func (a authenticator) Authenticate(token string) (httpapi.Principal, bool) {
	e, err := a.d.Resolve(token, a.now())
	if err != nil {
		return httpapi.Principal{}, false
	}
	return httpapi.Principal{ID: e.ID, Role: e.Role, Partner: e.IsPartner()}, true
}

// Refusal says why a token was refused (httpapi.TokenRefusal): it expired,
// or it is unknown.
func (a authenticator) Refusal(token string) string {
	if _, err := a.d.Resolve(token, a.now()); err != nil {
		return err.Error()
	}
	return ""
}

// folder is the directory runner's part that foldedDirectory waits on.
type folder interface {
	WaitFor(ctx context.Context, pos uint64) error
}

// foldedDirectory is the directory service as the API calls it: a
// credential change is answered once the directory has applied it (and,
// for NATS keys, once the embedded server has the new set), so a rotated
// or revoked token is refused by the time the admin reads the answer. The
// change is recorded either way: should the wait fail, it is logged and
// the answer still says what was recorded.
type foldedDirectory struct {
	*svcdirectory.Service
	folded folder
	nats   *natsSync
	log    *zap.Logger
}

func (d foldedDirectory) settle(ctx context.Context, pos uint64, nats bool) {
	err := d.folded.WaitFor(ctx, pos)
	if err == nil && nats {
		err = d.nats.apply(ctx)
	}
	if err != nil {
		d.log.Warn("credential change recorded but not yet in force", zap.Uint64("position", pos), zap.Error(err))
	}
}

func (d foldedDirectory) RegisterStaff(ctx context.Context, actor events.Actor, r events.StaffRegistered) (svcdirectory.Registered, error) {
	reg, err := d.Service.RegisterStaff(ctx, actor, r)
	if err == nil {
		d.settle(ctx, reg.Position, false)
	}
	return reg, err
}

func (d foldedDirectory) RegisterPartner(ctx context.Context, actor events.Actor, r events.PartnerRegistered) (svcdirectory.Registered, error) {
	reg, err := d.Service.RegisterPartner(ctx, actor, r)
	if err == nil {
		d.settle(ctx, reg.Position, false)
	}
	return reg, err
}

func (d foldedDirectory) RotateToken(ctx context.Context, actor events.Actor, kind, id string) (svcdirectory.Registered, error) {
	reg, err := d.Service.RotateToken(ctx, actor, kind, id)
	if err == nil {
		d.settle(ctx, reg.Position, false)
	}
	return reg, err
}

func (d foldedDirectory) RevokeToken(ctx context.Context, actor events.Actor, kind, id, reason string) (ledger.Result, error) {
	res, err := d.Service.RevokeToken(ctx, actor, kind, id, reason)
	if err == nil && len(res.Events) > 0 {
		d.settle(ctx, res.Position, false)
	}
	return res, err
}

func (d foldedDirectory) IssueNATSKey(ctx context.Context, actor events.Actor, partnerID string) (svcdirectory.NATSKey, error) {
	k, err := d.Service.IssueNATSKey(ctx, actor, partnerID)
	if err == nil {
		d.settle(ctx, k.Position, true)
	}
	return k, err
}

func (d foldedDirectory) RevokeNATSKey(ctx context.Context, actor events.Actor, partnerID, reason string) (ledger.Result, error) {
	res, err := d.Service.RevokeNATSKey(ctx, actor, partnerID, reason)
	if err == nil && len(res.Events) > 0 {
		d.settle(ctx, res.Position, true)
	}
	return res, err
}

// directoryCommands is the directory service the API calls, answering once
// a change is in force (foldedDirectory); it also sets up a.nats.
func (a *App) directoryCommands(cfg Config) foldedDirectory {
	a.nats = &natsSync{d: a.dir, log: a.log.Named("nats")}
	if a.b.Server != nil {
		a.nats.srv = a.b.Server
	}
	var folded folder
	for _, r := range a.runners {
		if r.Name == "directory" {
			folded = r
		}
	}
	svc := svcdirectory.New(a.b.Store, svcdirectory.WithTokenLifetime(cfg.TokenLifetime), svcdirectory.WithClock(cfg.TokenClock))
	return foldedDirectory{Service: svc, folded: folded, nats: a.nats, log: a.log.Named("directory")}
}
