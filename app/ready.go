package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/relais-health/relais/projections"
)

// ErrStartStuck: a projection made no progress catching up at start for
// longer than Config.StartTimeout.
var ErrStartStuck = errors.New("start-up stuck")

// Default start-up waits.
const (
	DefaultStartTimeout  = 2 * time.Minute
	defaultProgressEvery = 5 * time.Second
)

// startState is what /healthz says while the projections catch up.
type startState struct {
	ready  atomic.Bool
	reason atomic.Pointer[string]
}

func (s *startState) set(reason string) { s.reason.Store(&reason) }

func (s *startState) why() string {
	if p := s.reason.Load(); p != nil {
		return *p
	}
	return "starting"
}

// gate answers every request with 503 "starting" until WaitReady has seen
// every projection caught up; /healthz says how far the catch-up got.
func (a *App) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.start.ready.Load() {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]string{"status": "starting", "reason": a.start.why()}) //nolint:errcheck
	})
}

// catchUp is one projection's progress towards the head it must reach.
type catchUp struct {
	r        *projections.Runner
	head     uint64
	last     uint64
	moved    time.Time
	lastLog  uint64
	lastLogT time.Time
	logged   bool // "projection caught up" said
}

// noteCaughtUp logs, once for each projection, that it caught up and how
// long after the start of WaitReady it was seen so (the projections catch
// up at the same time; this is where a restart's time goes).
func (a *App) noteCaughtUp(ups []*catchUp, start time.Time) {
	for _, u := range ups {
		if u.logged {
			continue
		}
		select {
		case <-u.r.Ready():
		default:
			continue
		}
		u.logged = true
		a.log.Info("projection caught up", zap.String("projection", u.r.Name), zap.Uint64("position", u.r.Position()), zap.Uint64("head", u.head),
			zap.Duration("after", time.Since(start).Round(time.Millisecond)))
	}
}

// WaitReady blocks until every projection has caught up with the ledger as
// it was at start, so the API answers from complete read models. It logs
// each projection's progress (position / head, events/s) every few
// seconds, and fails with ErrStartStuck, naming the projection and the
// position it is stuck at, when one makes no progress for
// Config.StartTimeout.
func (a *App) WaitReady(ctx context.Context) error {
	stall, every := a.cfg.StartTimeout, a.cfg.ProgressEvery
	if stall <= 0 {
		stall = DefaultStartTimeout
	}
	if every <= 0 {
		every = defaultProgressEvery
	}
	now := time.Now()
	var ups []*catchUp
	for _, r := range a.runners {
		hctx, cancel := context.WithTimeout(ctx, stall)
		head, err := r.L.Head(hctx)
		cancel()
		if err != nil {
			return fmt.Errorf("projection %s: ledger head at start: %w", r.Name, err)
		}
		pos := r.Position()
		ups = append(ups, &catchUp{r: r, head: head, last: pos, moved: now, lastLog: pos, lastLogT: now})
	}
	a.log.Info("catching up", zap.Int("projections", len(ups)), zap.Duration("start_timeout", stall))
	tick := time.NewTicker(min(every, stall, 100*time.Millisecond))
	defer tick.Stop()
	for _, u := range ups {
		for {
			u.observe(a, every)
			a.start.set(fmt.Sprintf("catching up: %s at %d/%d", u.r.Name, u.last, u.head))
			if time.Since(u.moved) > stall {
				err := fmt.Errorf("%w: projection %s made no progress for %v at position %d of %d (is the event after it unreadable?)",
					ErrStartStuck, u.r.Name, stall, u.last, u.head)
				a.start.set(err.Error())
				a.log.Error("start-up stuck", zap.String("projection", u.r.Name), zap.Uint64("position", u.last), zap.Uint64("head", u.head), zap.Duration("without_progress", stall))
				return err
			}
			select {
			case <-u.r.Ready():
			case <-tick.C:
				a.noteCaughtUp(ups, now)
				continue
			case <-ctx.Done():
				return fmt.Errorf("projection %s not ready at %d/%d: %w", u.r.Name, u.r.Position(), u.head, ctx.Err())
			}
			break
		}
		a.noteCaughtUp(ups, now)
	}
	if err := a.waitIndex(ctx, stall, every); err != nil {
		return err
	}
	a.start.ready.Store(true)
	return nil
}

// observe notes progress and logs it every so often.
func (u *catchUp) observe(a *App, every time.Duration) {
	now, pos := time.Now(), u.r.Position()
	if pos != u.last {
		u.last, u.moved = pos, now
	}
	if d := now.Sub(u.lastLogT); d >= every {
		rate := float64(pos-u.lastLog) / d.Seconds()
		a.log.Info("catching up", zap.String("projection", u.r.Name), zap.Uint64("position", pos), zap.Uint64("head", u.head),
			zap.Float64("events_per_s", rate), zap.Duration("since_progress", now.Sub(u.moved).Round(time.Millisecond)))
		u.lastLog, u.lastLogT = pos, now
	}
}
