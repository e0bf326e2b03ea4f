package alerting

import (
	"strings"
	"time"

	"github.com/relais-health/relais/events"
)

// Alert is what an alert's stream says of it: all a command decides on.
type Alert struct {
	ID          string
	Raised      bool
	RecipientID string
	Priority    string
	RaisedAt    time.Time
	EscalatedTo string
	// Acknowledged is the acknowledgement, if any (its Position answers a
	// second acknowledgement).
	Acknowledged *events.Event
	Withdrawn    bool
}

// Pending reports whether the alert still waits for its recipient.
func (a Alert) Pending() bool { return a.Raised && a.Acknowledged == nil && !a.Withdrawn }

// Fold reads an alert stream's history.
func Fold(history []events.Event) Alert {
	var a Alert
	for i, e := range history {
		p, err := e.Payload()
		if err != nil {
			continue
		}
		switch v := p.(type) {
		case *events.AlertRaised:
			if !a.Raised {
				a.ID, a.Raised, a.RecipientID, a.Priority, a.RaisedAt = v.AlertID, true, v.RecipientID, v.Priority, v.RaisedAt
			}
		case *events.AlertAcknowledged:
			if a.Acknowledged == nil {
				a.Acknowledged = &history[i]
			}
		case *events.AlertEscalated:
			if a.EscalatedTo == "" {
				a.EscalatedTo = v.EscalatedTo
			}
		case *events.AlertWithdrawn:
			a.Withdrawn = true
		}
	}
	return a
}

// MayAct reports whether actor may acknowledge the alert: its recipient,
// the escalation target, or care staff for on-call queues.
func MayAct(a Alert, actor events.Actor) bool {
	if actor.ID == a.RecipientID || actor.ID == a.EscalatedTo {
		return true
	}
	staff := actor.Role == events.RoleCaseManager || actor.Role == events.RoleProgrammeManager || actor.Role == events.RolePivotWorker
	return staff && (strings.HasPrefix(a.RecipientID, "oncall-") || strings.HasPrefix(a.EscalatedTo, "oncall-"))
}
