package alerting

import (
	"context"
	"errors"
	"time"
)

// Sweep is one round of the periodic sweep: escalate what is overdue and
// raise an alert for each watched feed silent beyond FeedSilence during
// FeedHours. A failure on one alert does not stop the others; the errors
// come back joined and the next round tries again.
func (s *Service) Sweep(ctx context.Context) error {
	now := s.cfg.Now()
	var errs []error
	for _, id := range s.f.Overdue(now.Add(-s.cfg.EscalateAfter)) {
		if _, err := s.Escalate(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	for _, fac := range s.cfg.Facilities {
		if !s.expecting(fac, now) {
			continue
		}
		seen, pos, ok := s.f.FeedLastSeen(fac)
		if !ok || now.Sub(seen) < s.cfg.FeedSilence {
			continue
		}
		if err := s.RaiseFeedSilence(ctx, fac, seen, pos, s.f.Managers()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// expecting reports whether facility's arrivals are expected at now: its
// hours in its zone (FeedWindows), else FeedHours in Location.
func (s *Service) expecting(facility string, now time.Time) bool {
	hours, loc := s.cfg.FeedHours, s.cfg.Location
	if w, ok := s.cfg.FeedWindows[facility]; ok {
		if w.Hours != [2]int{} {
			hours = w.Hours
		}
		if w.Location != nil {
			loc = w.Location
		}
	}
	h := now.In(loc).Hour()
	return h >= hours[0] && h < hours[1]
}
