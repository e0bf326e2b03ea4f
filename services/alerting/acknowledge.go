package alerting

import (
	"context"
	"fmt"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

// Acknowledge records that actor has seen the alert; acknowledging twice is
// harmless. It returns the ledger position of the acknowledgement (the
// first one's, when it was already acknowledged), for read-your-writes.
func (s *Service) Acknowledge(ctx context.Context, actor events.Actor, alertID string) (uint64, error) {
	if !events.ValidStreamName(alertID) {
		return 0, fmt.Errorf("%w: %q", ErrNotFound, alertID)
	}
	var done uint64
	res, err := ledger.Update(ctx, s.l, events.AlertStream(alertID), func(history []events.Event) ([]events.Event, error) {
		a := Fold(history)
		if !a.Raised {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, alertID)
		}
		if !MayAct(a, actor) {
			return nil, fmt.Errorf("%w: %s may not acknowledge alert %s", ErrForbidden, actor.ID, alertID)
		}
		if a.Acknowledged != nil {
			done = a.Acknowledged.Position
			return nil, nil
		}
		done = 0
		e, err := events.New(&events.AlertAcknowledged{AlertID: alertID, ActorID: actor.ID}, actor,
			events.WithID(events.DeriveID(alertID, "acknowledged")), events.WithCorrelation(alertID, ""))
		if err != nil {
			return nil, fmt.Errorf("acknowledgement of %s: %w", alertID, err)
		}
		return []events.Event{e}, nil
	})
	if err != nil {
		return 0, fmt.Errorf("acknowledge %s: %w", alertID, err)
	}
	if done != 0 {
		return done, nil
	}
	return res.Position, nil
}
