package alerting

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

// RaiseFeedSilence raises, for each manager, the alert that facility's feed
// has been silent since lastSeen (its last event at position lastPos). The
// ids derive from the facility and that position, so every sweep of the
// same silence names the same alerts and a raised one is never raised again.
func (s *Service) RaiseFeedSilence(ctx context.Context, facility string, lastSeen time.Time, lastPos uint64, managers []string) error {
	now := s.cfg.Now()
	cause := events.DeriveID("feed.silent", facility, strconv.FormatUint(lastPos, 10))
	since := lastSeen.In(s.cfg.Location).Format("15:04")
	for _, m := range managers {
		id := events.DeriveID("alert", cause, m, "feed.silent", "", "")
		e, err := events.New(&events.AlertRaised{AlertID: id, ThreadID: cause, RecipientID: m, Priority: events.PriorityHigh,
			Kind: "feed.silent", CauseID: cause, RaisedAt: now,
			Summary: fmt.Sprintf("Flux HL7 %s silencieux depuis %s / feed silent since %s — des arrivées sont peut-être manquées / arrivals may be missed",
				facility, since, since), Facts: &events.AlertFacts{Facility: facility, At: lastSeen}},
			system, events.WithID(events.DeriveID(id, "raised")), events.WithOccurredAt(now), events.WithCorrelation(cause, cause))
		if err != nil {
			return fmt.Errorf("feed %s silence alert: %w", facility, err)
		}
		_, err = ledger.Update(ctx, s.l, events.AlertStream(id), func(history []events.Event) ([]events.Event, error) {
			if len(history) > 0 {
				return nil, nil // raised by an earlier sweep
			}
			return []events.Event{e}, nil
		})
		if err != nil {
			return fmt.Errorf("feed %s silence alert for %s: %w", facility, m, err)
		}
	}
	return nil
}
