package events

import "time"

// Visit identifies a hospital encounter: the patient (a Relais client when
// known; always a pseudonymous key), the facility and its visit number
// (PV1-19). Identifier is the hospital's own patient identifier and is kept
// only for patients who are not clients, for the archivist's list.
type Visit struct {
	ClientID    string      `json:"client_id,omitempty"`
	PatientKey  string      `json:"patient_key"`
	Identifier  *Identifier `json:"identifier,omitempty"`
	Facility    string      `json:"facility"`
	VisitNumber string      `json:"visit_number"`
	// VisitKeySource names where VisitNumber came from when it is not the
	// hospital's visit number (PV1-19): PV1-50, PID-18 or PV1-44.
	VisitKeySource string `json:"visit_key_source,omitempty"`
	// Flags say what the message sent that was not used, and why (an
	// impossible time).
	Flags []string `json:"flags,omitempty"`
}

func (c *check) visit(v Visit) {
	c.optional("client_id", v.ClientID, 64)
	c.required("patient_key", v.PatientKey, 128)
	if v.Identifier != nil {
		c.identifiers("identifier", []Identifier{*v.Identifier})
	}
	c.required("facility", v.Facility, 64)
	c.required("visit_number", v.VisitNumber, 64)
	c.optional("visit_key_source", v.VisitKeySource, 16)
	if len(v.Flags) > 16 {
		c.fail("flags", "more than 16")
	}
	for _, f := range v.Flags {
		c.optional("flags", f, 200)
	}
}

// EDVisitStarted: a patient registered at the emergency department (A04).
type EDVisitStarted struct {
	Visit
	ArrivedAt time.Time `json:"arrived_at"`
	Reason    string    `json:"reason,omitempty"`
	// ReasonCategory classifies the reason for reports (e.g. "obstetric").
	ReasonCategory string `json:"reason_category,omitempty"`
}

func (EDVisitStarted) EventType() string { return TypeEDVisitStarted }
func (p EDVisitStarted) Validate() error {
	var c check
	c.visit(p.Visit)
	c.when("arrived_at", p.ArrivedAt)
	c.optional("reason", p.Reason, 500)
	c.optional("reason_category", p.ReasonCategory, 64)
	return c.result()
}

// EDVisitUpdated: the registration was corrected (A08).
type EDVisitUpdated struct {
	Visit
	Reason         string `json:"reason,omitempty"`
	ReasonCategory string `json:"reason_category,omitempty"`
}

func (EDVisitUpdated) EventType() string { return TypeEDVisitUpdated }
func (p EDVisitUpdated) Validate() error {
	var c check
	c.visit(p.Visit)
	c.optional("reason", p.Reason, 500)
	c.optional("reason_category", p.ReasonCategory, 64)
	return c.result()
}

// EDVisitEnded: the patient left the ED (A03), with the disposition.
type EDVisitEnded struct {
	Visit
	EndedAt     time.Time `json:"ended_at"`
	Disposition string    `json:"disposition,omitempty"`
}

func (EDVisitEnded) EventType() string { return TypeEDVisitEnded }
func (p EDVisitEnded) Validate() error {
	var c check
	c.visit(p.Visit)
	c.when("ended_at", p.EndedAt)
	c.optional("disposition", p.Disposition, 200)
	return c.result()
}

// EDVisitCancelled: the registration or admission was cancelled (A11, A13).
type EDVisitCancelled struct {
	Visit
	Trigger string `json:"trigger"`
	Reason  string `json:"reason,omitempty"`
}

func (EDVisitCancelled) EventType() string { return TypeEDVisitCancelled }
func (p EDVisitCancelled) Validate() error {
	var c check
	c.visit(p.Visit)
	c.required("trigger", p.Trigger, 8)
	c.optional("reason", p.Reason, 500)
	return c.result()
}

// HospitalAdmitted: the patient was admitted (A01).
type HospitalAdmitted struct {
	Visit
	AdmittedAt time.Time `json:"admitted_at"`
	Unit       string    `json:"unit,omitempty"`
}

func (HospitalAdmitted) EventType() string { return TypeHospitalAdmitted }
func (p HospitalAdmitted) Validate() error {
	var c check
	c.visit(p.Visit)
	c.when("admitted_at", p.AdmittedAt)
	c.optional("unit", p.Unit, 100)
	return c.result()
}

// HospitalDischarged: the admitted patient went home (A03 after A01).
type HospitalDischarged struct {
	Visit
	DischargedAt time.Time `json:"discharged_at"`
	Disposition  string    `json:"disposition,omitempty"`
}

func (HospitalDischarged) EventType() string { return TypeHospitalDischarged }
func (p HospitalDischarged) Validate() error {
	var c check
	c.visit(p.Visit)
	c.when("discharged_at", p.DischargedAt)
	c.optional("disposition", p.Disposition, 200)
	return c.result()
}

// PatientMerged: the hospital merged two patient records (A40); the history
// of MergedKey now belongs to SurvivingKey.
type PatientMerged struct {
	Facility        string `json:"facility"`
	SurvivingKey    string `json:"surviving_key"`
	MergedKey       string `json:"merged_key"`
	SurvivingClient string `json:"surviving_client_id,omitempty"`
	MergedClient    string `json:"merged_client_id,omitempty"`
}

func (PatientMerged) EventType() string { return TypePatientMerged }
func (p PatientMerged) Validate() error {
	var c check
	c.required("facility", p.Facility, 64)
	c.required("surviving_key", p.SurvivingKey, 128)
	c.required("merged_key", p.MergedKey, 128)
	if p.SurvivingKey == p.MergedKey {
		c.fail("merged_key", "same as surviving_key")
	}
	c.optional("surviving_client_id", p.SurvivingClient, 64)
	c.optional("merged_client_id", p.MergedClient, 64)
	return c.result()
}
