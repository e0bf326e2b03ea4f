package events

import "time"

// Identifier is a patient identifier as hospitals send it (PID-3): the value
// and the authority that assigned it (e.g. a RAMQ number, a hospital MRN).
type Identifier struct {
	Authority string `json:"authority"`
	Value     string `json:"value"`
}

func (c *check) identifiers(field string, ids []Identifier) {
	for _, id := range ids {
		c.required(field+".authority", id.Authority, 64)
		c.required(field+".value", id.Value, 64)
	}
}

// ClientRegistered: a person became known to Relais as a client.
type ClientRegistered struct {
	ClientID    string       `json:"client_id"`
	GivenName   string       `json:"given_name"`
	FamilyName  string       `json:"family_name"`
	BirthDate   string       `json:"birth_date,omitempty"` // YYYY-MM-DD
	Identifiers []Identifier `json:"identifiers"`
	// PatientKeys are the pseudonymous keys of the identifiers (see
	// PatientKey), so visits recorded before registration can be linked.
	PatientKeys []string `json:"patient_keys,omitempty"`
}

func (ClientRegistered) EventType() string { return TypeClientRegistered }
func (p ClientRegistered) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.required("given_name", p.GivenName, 100)
	c.required("family_name", p.FamilyName, 100)
	if p.BirthDate != "" {
		if _, err := time.Parse(time.DateOnly, p.BirthDate); err != nil {
			c.fail("birth_date", "not a YYYY-MM-DD date")
		}
	}
	if len(p.Identifiers) == 0 {
		c.fail("identifiers", "at least one identifier required")
	}
	c.identifiers("identifiers", p.Identifiers)
	for _, k := range p.PatientKeys {
		c.required("patient_keys", k, 128)
	}
	return c.result()
}

// ClientFlagged: the client was put on a programme's watch list (e.g.
// "defi-sante"); their ED arrivals now page the case manager.
type ClientFlagged struct {
	ClientID  string `json:"client_id"`
	Programme string `json:"programme"`
	Reason    string `json:"reason,omitempty"`
}

func (ClientFlagged) EventType() string { return TypeClientFlagged }
func (p ClientFlagged) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.required("programme", p.Programme, 64)
	c.optional("reason", p.Reason, 500)
	return c.result()
}

// ClientUnflagged: the client left the watch list.
type ClientUnflagged struct {
	ClientID  string `json:"client_id"`
	Programme string `json:"programme"`
	Reason    string `json:"reason,omitempty"`
}

func (ClientUnflagged) EventType() string { return TypeClientUnflagged }
func (p ClientUnflagged) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.required("programme", p.Programme, 64)
	c.optional("reason", p.Reason, 500)
	return c.result()
}

// ContactMade: a staff member reached the client.
type ContactMade struct {
	ClientID string    `json:"client_id"`
	StaffID  string    `json:"staff_id"`
	Channel  string    `json:"channel"`
	At       time.Time `json:"at"`
	Note     string    `json:"note,omitempty"`
}

func (ContactMade) EventType() string { return TypeContactMade }
func (p ContactMade) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.required("staff_id", p.StaffID, 64)
	c.oneOf("channel", p.Channel, contactChannels)
	c.when("at", p.At)
	c.optional("note", p.Note, 2000)
	return c.result()
}

// NetworkMember is one resource in the client's support network.
type NetworkMember struct {
	Category  string `json:"category"`
	Name      string `json:"name"`
	PartnerID string `json:"partner_id,omitempty"`
	Phone     string `json:"phone,omitempty"`
}

// AssessmentCompleted: the needs assessment, with the support network.
type AssessmentCompleted struct {
	ClientID       string          `json:"client_id"`
	StaffID        string          `json:"staff_id"`
	SupportNetwork []NetworkMember `json:"support_network"`
	Summary        string          `json:"summary,omitempty"`
}

func (AssessmentCompleted) EventType() string { return TypeAssessmentCompleted }
func (p AssessmentCompleted) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.required("staff_id", p.StaffID, 64)
	for _, m := range p.SupportNetwork {
		c.oneOf("support_network.category", m.Category, Categories)
		c.required("support_network.name", m.Name, 200)
		c.optional("support_network.partner_id", m.PartnerID, 64)
		c.optional("support_network.phone", m.Phone, 40)
	}
	c.optional("summary", p.Summary, 4000)
	return c.result()
}

// ClientEnrolled: the client joined the programme, with initial consents.
type ClientEnrolled struct {
	ClientID   string    `json:"client_id"`
	Programme  string    `json:"programme"`
	EnrolledAt time.Time `json:"enrolled_at"`
	Consents   []string  `json:"consents"`
}

func (ClientEnrolled) EventType() string { return TypeClientEnrolled }
func (p ClientEnrolled) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.required("programme", p.Programme, 64)
	c.when("enrolled_at", p.EnrolledAt)
	for _, cat := range p.Consents {
		c.oneOf("consents", cat, Categories)
	}
	return c.result()
}

// ConsentGranted: the client agrees to involve a partner category (and,
// optionally, one named partner of it).
type ConsentGranted struct {
	ClientID  string `json:"client_id"`
	Category  string `json:"category"`
	PartnerID string `json:"partner_id,omitempty"`
}

func (ConsentGranted) EventType() string { return TypeConsentGranted }
func (p ConsentGranted) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.oneOf("category", p.Category, Categories)
	c.optional("partner_id", p.PartnerID, 64)
	return c.result()
}

// ConsentRevoked: the client withdraws consent for a partner category.
type ConsentRevoked struct {
	ClientID string `json:"client_id"`
	Category string `json:"category"`
	Reason   string `json:"reason,omitempty"`
}

func (ConsentRevoked) EventType() string { return TypeConsentRevoked }
func (p ConsentRevoked) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.oneOf("category", p.Category, Categories)
	c.optional("reason", p.Reason, 500)
	return c.result()
}

// CaseManagerAssigned: who follows the client.
type CaseManagerAssigned struct {
	ClientID string `json:"client_id"`
	StaffID  string `json:"staff_id"`
}

func (CaseManagerAssigned) EventType() string { return TypeCaseManagerAssigned }
func (p CaseManagerAssigned) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.required("staff_id", p.StaffID, 64)
	return c.result()
}

// PivotWorkerAssigned: the client's pivot worker (intervenant pivot).
type PivotWorkerAssigned struct {
	ClientID string `json:"client_id"`
	StaffID  string `json:"staff_id"`
}

func (PivotWorkerAssigned) EventType() string { return TypePivotWorkerAssigned }
func (p PivotWorkerAssigned) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.required("staff_id", p.StaffID, 64)
	return c.result()
}

// CaseClosed: the client's follow-up ended.
type CaseClosed struct {
	ClientID string `json:"client_id"`
	Reason   string `json:"reason"`
}

func (CaseClosed) EventType() string { return TypeCaseClosed }
func (p CaseClosed) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.required("reason", p.Reason, 500)
	return c.result()
}

// FileAccessed: someone read the client's file (the access log auditors see).
type FileAccessed struct {
	ClientID string `json:"client_id"`
	ActorID  string `json:"actor_id"`
	Role     string `json:"role"`
	View     string `json:"view"`
}

func (FileAccessed) EventType() string { return TypeFileAccessed }
func (p FileAccessed) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.required("actor_id", p.ActorID, 128)
	c.required("role", p.Role, 64)
	c.required("view", p.View, 64)
	return c.result()
}
