package alerting

import (
	"context"
	"fmt"
	"strings"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

// Escalate escalates the alert if its stream says it is a high-priority
// alert still pending EscalateAfter after it was raised and not escalated
// yet; otherwise it records nothing. The target is the first programme
// manager, or the escalation on-call queue for an alert already with the
// programme.
func (s *Service) Escalate(ctx context.Context, alertID string) (ledger.Result, error) {
	if !events.ValidStreamName(alertID) {
		return ledger.Result{}, fmt.Errorf("%w: %q", ErrNotFound, alertID)
	}
	now := s.cfg.Now()
	managers := s.f.Managers()
	res, err := ledger.Update(ctx, s.l, events.AlertStream(alertID), func(history []events.Event) ([]events.Event, error) {
		a := Fold(history)
		if !a.Raised {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, alertID)
		}
		if a.Priority != events.PriorityHigh || !a.Pending() || a.EscalatedTo != "" || now.Sub(a.RaisedAt) < s.cfg.EscalateAfter {
			return nil, nil
		}
		e, err := events.New(&events.AlertEscalated{AlertID: alertID, EscalatedTo: escalationTarget(a, managers),
			Reason: fmt.Sprintf("Non accusé après %s / not acknowledged after %s", s.cfg.EscalateAfter, s.cfg.EscalateAfter)},
			system, events.WithID(events.DeriveID(alertID, "escalated")), events.WithOccurredAt(now), events.WithCorrelation(alertID, ""))
		if err != nil {
			return nil, fmt.Errorf("escalation of %s: %w", alertID, err)
		}
		return []events.Event{e}, nil
	})
	if err != nil {
		return ledger.Result{}, fmt.Errorf("escalate %s: %w", alertID, err)
	}
	return res, nil
}

// escalationTarget is one step up from the alert's recipient.
func escalationTarget(a Alert, managers []string) string {
	target := "oncall-general"
	if len(managers) > 0 {
		target = managers[0]
	}
	if strings.HasPrefix(a.RecipientID, "oncall-") || a.RecipientID == target {
		// Already with the programme: escalate to the general on-call.
		return "oncall-escalation"
	}
	return target
}
