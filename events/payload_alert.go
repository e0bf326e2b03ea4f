package events

import "time"

// AlertRaised: a recipient must be told something. Alerts are derived from
// other events with deterministic ids, so replaying never duplicates them.
type AlertRaised struct {
	AlertID     string    `json:"alert_id"`
	ThreadID    string    `json:"thread_id"`
	RecipientID string    `json:"recipient_id"`
	Priority    string    `json:"priority"`
	Kind        string    `json:"kind"`
	ClientID    string    `json:"client_id,omitempty"`
	Summary     string    `json:"summary"`
	CauseID     string    `json:"cause_id"`
	RaisedAt    time.Time `json:"raised_at"`
	// Amends, when set, names the alert this one corrects or retracts.
	Amends string `json:"amends,omitempty"`
}

func (AlertRaised) EventType() string { return TypeAlertRaised }
func (p AlertRaised) Validate() error {
	var c check
	c.required("alert_id", p.AlertID, 64)
	c.required("thread_id", p.ThreadID, 128)
	c.required("recipient_id", p.RecipientID, 128)
	c.oneOf("priority", p.Priority, priorities)
	c.required("kind", p.Kind, 64)
	c.optional("client_id", p.ClientID, 64)
	c.required("summary", p.Summary, 1000)
	c.required("cause_id", p.CauseID, 64)
	c.when("raised_at", p.RaisedAt)
	c.optional("amends", p.Amends, 64)
	return c.result()
}

// AlertAcknowledged: the recipient has seen the alert and acts on it.
type AlertAcknowledged struct {
	AlertID string `json:"alert_id"`
	ActorID string `json:"actor_id"`
}

func (AlertAcknowledged) EventType() string { return TypeAlertAcknowledged }
func (p AlertAcknowledged) Validate() error {
	var c check
	c.required("alert_id", p.AlertID, 64)
	c.required("actor_id", p.ActorID, 128)
	return c.result()
}

// AlertEscalated: nobody acknowledged a high-priority alert in time.
type AlertEscalated struct {
	AlertID     string `json:"alert_id"`
	EscalatedTo string `json:"escalated_to"`
	Reason      string `json:"reason"`
}

func (AlertEscalated) EventType() string { return TypeAlertEscalated }
func (p AlertEscalated) Validate() error {
	var c check
	c.required("alert_id", p.AlertID, 64)
	c.required("escalated_to", p.EscalatedTo, 128)
	c.required("reason", p.Reason, 500)
	return c.result()
}

// AlertWithdrawn: the alert no longer stands (consent revoked, visit
// cancelled).
type AlertWithdrawn struct {
	AlertID string `json:"alert_id"`
	Reason  string `json:"reason"`
}

func (AlertWithdrawn) EventType() string { return TypeAlertWithdrawn }
func (p AlertWithdrawn) Validate() error {
	var c check
	c.required("alert_id", p.AlertID, 64)
	c.required("reason", p.Reason, 500)
	return c.result()
}
