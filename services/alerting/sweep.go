package alerting

import (
	"context"
	"errors"
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
	local := now.In(s.cfg.Location)
	if local.Hour() < s.cfg.FeedHours[0] || local.Hour() >= s.cfg.FeedHours[1] {
		return errors.Join(errs...)
	}
	for _, fac := range s.cfg.Facilities {
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
