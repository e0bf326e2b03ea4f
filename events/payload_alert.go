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
	// Facts are what Summary says, as data, so that a reader can say it in
	// its own language (the console's catalog); the same minimum as the
	// summary for the recipient. Alerts raised before facts existed have
	// none: readers fall back on Summary.
	Facts *AlertFacts `json:"facts,omitempty"`
}

// AlertFacts are an alert's parts; which are set depends on its kind.
type AlertFacts struct {
	Facility string    `json:"facility,omitempty"` // the ED's facility, or the HL7 feed's system
	At       time.Time `json:"at,omitzero"`        // when the client arrived
	Name     string    `json:"name,omitempty"`     // the client's name (staff only)
	Reason   string    `json:"reason,omitempty"`   // the visit's reason (staff only)
	// Family is "yes" when the client consents to their family being
	// contacted, "no" when not (staff only).
	Family string `json:"family,omitempty"`
	// Text is the free text: the pharmacist's concern, what the doctor is
	// told, the referral's reason, the answer's note.
	Text       string `json:"text,omitempty"`
	Evaluation bool   `json:"evaluation,omitempty"` // the concern needs a medical evaluation
	Ref        string `json:"ref,omitempty"`        // the referral or objective id
	Partner    string `json:"partner,omitempty"`    // who answered a referral
	Verdict    string `json:"verdict,omitempty"`    // accepted, declined
	From       uint64 `json:"from,omitempty"`       // a feed gap's first missing control id
	To         uint64 `json:"to,omitempty"`         // and its last
}

func (f *AlertFacts) check(c *check) {
	if f == nil {
		return
	}
	c.optional("facts.facility", f.Facility, 128)
	c.optional("facts.name", f.Name, 201)
	c.optional("facts.reason", f.Reason, 500)
	if f.Family != "" {
		c.oneOf("facts.family", f.Family, []string{"yes", "no"})
	}
	c.optional("facts.text", f.Text, 4000)
	c.optional("facts.ref", f.Ref, 64)
	c.optional("facts.partner", f.Partner, 128)
	if f.Verdict != "" {
		c.oneOf("facts.verdict", f.Verdict, []string{"accepted", "declined"})
	}
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
	p.Facts.check(&c)
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
