package app

import (
	"context"
	"sort"
	"sync"
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

// natsSync gives the embedded server the directory's partner NATS users.
// Each apply reads the directory and sets the server under one lock, so
// the server never goes back to an older set than one already applied.
type natsSync struct {
	mu  sync.Mutex
	srv partnerSetter // nil: no embedded server, nothing to apply
	d   *directory.Directory
	log *zap.Logger
}

// apply sets the server's partner users to the directory's, now.
func (n *natsSync) apply(ctx context.Context) error {
	if n == nil || n.srv == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	ps := natsPartners(n.d)
	if err := n.srv.SetPartners(ctx, ps); err != nil {
		return err
	}
	n.log.Debug("nats partner users updated", zap.Int("partners", len(ps)))
	return nil
}

// run applies the partner users once the directory has caught up (ready),
// then again whenever a key is issued, rotated or revoked, until ctx ends.
// A failed update is logged and retried, so a revocation is not left half
// done.
func (n *natsSync) run(ctx context.Context, ready <-chan struct{}) error {
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
		case <-n.d.NATSChanged():
		}
		if err := n.apply(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			n.log.Error("nats partner users not updated, retrying", zap.Error(err))
			retry.Reset(2 * time.Second)
		}
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
