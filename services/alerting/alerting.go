// Package alerting is the write side of the alerts: acknowledging an alert
// and escalating one nobody acknowledged are commands, decided from the
// alert's own stream (alert-<id>: raised, acknowledged, escalated,
// withdrawn) and appended with ledger.Update. The periodic sweep finds its
// candidates in the alert read model (overdue alerts, silent feeds) but
// decides on each from the ledger, so a read model that lags or restarts
// never escalates twice or pages on stale facts.
package alerting

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

// Finder is the slice of the alert read model the sweep reads to find
// candidates; every decision is made again from the alert streams.
type Finder interface {
	// Overdue lists pending, not yet escalated high-priority alerts raised
	// before cutoff.
	Overdue(cutoff time.Time) []string
	// Managers are the programme managers (or the general on-call queue).
	Managers() []string
	// FeedLastSeen is when facility's feed was last heard from, and the
	// ledger position of that event.
	FeedLastSeen(facility string) (at time.Time, pos uint64, ok bool)
}

// Config tunes the sweep.
type Config struct {
	// EscalateAfter: a high-priority alert not acknowledged by then is
	// escalated (default 15 minutes).
	EscalateAfter time.Duration
	// FeedSilence: a watched feed silent this long during FeedHours raises
	// an alert (default 2 hours).
	FeedSilence time.Duration
	// FeedHours: local hours [from, to) when arrivals are expected
	// (default 7 to 23), in Location (default America/Toronto).
	FeedHours [2]int
	Location  *time.Location
	// Facilities are the feeds watched for silence.
	Facilities []string
	// FeedWindows overrides FeedHours and Location per facility (the
	// facilities file's hours and timezone).
	FeedWindows map[string]FeedWindow
	// Now is the clock (default time.Now).
	Now func() time.Time
	Log *zap.Logger
}

// FeedWindow is when one facility's arrivals are expected: local hours
// [from, to) in Location. A zero field takes the Config's.
type FeedWindow struct {
	Hours    [2]int
	Location *time.Location
}

// Service handles the alert commands.
type Service struct {
	l   ledger.Appender
	f   Finder
	cfg Config
}

// system is the actor of what the sweep records.
var system = events.Actor{ID: "relais-alerts", Role: events.RoleSystem}

// New returns the service; f may be nil for a service that only
// acknowledges (Escalate and Sweep need it).
func New(l ledger.Appender, f Finder, cfg Config) *Service {
	if cfg.EscalateAfter == 0 {
		cfg.EscalateAfter = 15 * time.Minute
	}
	if cfg.FeedSilence == 0 {
		cfg.FeedSilence = 2 * time.Hour
	}
	if cfg.FeedHours == [2]int{} {
		cfg.FeedHours = [2]int{7, 23}
	}
	if cfg.Location == nil {
		cfg.Location, _ = time.LoadLocation("America/Toronto")
		if cfg.Location == nil {
			cfg.Location = time.UTC
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	return &Service{l: l, f: f, cfg: cfg}
}

// Run sweeps every period until ctx ends; a failed round is logged and the
// next one tries again (its appends are idempotent).
func (s *Service) Run(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.cfg.Log.Warn("alert sweep failed", zap.Error(err))
			}
		}
	}
}
