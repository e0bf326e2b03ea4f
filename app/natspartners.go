package app

import (
	"context"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/relais-health/relais/infra/natsembed"
	"github.com/relais-health/relais/projections/directory"
)

// partnerSetter is what the app needs of the embedded NATS server.
type partnerSetter interface {
	SetPartners(ctx context.Context, ps []natsembed.Partner) error
}

// natsPartners is the directory's partners with a NATS key, by id.
func natsPartners(d *directory.Directory) []natsembed.Partner {
	keys := d.NATSKeys()
	ps := make([]natsembed.Partner, 0, len(keys))
	for id, k := range keys {
		ps = append(ps, natsembed.Partner{ID: id, NKey: k})
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].ID < ps[j].ID })
	return ps
}

// syncNATSPartners gives the embedded server the directory's partner NATS
// users once the directory has caught up, then again whenever a key is
// issued, rotated or revoked, until ctx ends. A failed update is logged
// and retried, so a revocation is not left half done.
func syncNATSPartners(ctx context.Context, srv partnerSetter, d *directory.Directory, ready <-chan struct{}, log *zap.Logger) error {
	select {
	case <-ready:
	case <-ctx.Done():
		return nil
	}
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-retry.C:
		case <-d.NATSChanged():
		}
		ps := natsPartners(d)
		if err := srv.SetPartners(ctx, ps); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Error("nats partner users not updated, retrying", zap.Int("partners", len(ps)), zap.Error(err))
			retry.Reset(2 * time.Second)
			continue
		}
		log.Debug("nats partner users updated", zap.Int("partners", len(ps)))
	}
}

// directoryReady is closed when the directory projection has caught up.
func (a *App) directoryReady() <-chan struct{} {
	for _, r := range a.runners {
		if r.Name == "directory" {
			return r.Ready()
		}
	}
	panic("app: no directory runner")
}
