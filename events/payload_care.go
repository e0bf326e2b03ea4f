package events

import (
	"slices"
	"time"
)

// PlanCreated: an individualized service plan (PSI) was opened.
type PlanCreated struct {
	ClientID string `json:"client_id"`
	PlanID   string `json:"plan_id"`
}

func (PlanCreated) EventType() string { return TypePlanCreated }
func (p PlanCreated) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.required("plan_id", p.PlanID, 64)
	return c.result()
}

// ObjectiveAdded: an objective of the plan, its means, who is responsible
// and by when.
type ObjectiveAdded struct {
	ClientID           string `json:"client_id"`
	PlanID             string `json:"plan_id"`
	ObjectiveID        string `json:"objective_id"`
	Description        string `json:"description"`
	Means              string `json:"means,omitempty"`
	ResponsiblePartner string `json:"responsible_partner_id,omitempty"`
	TargetDate         string `json:"target_date,omitempty"` // YYYY-MM-DD
}

func (ObjectiveAdded) EventType() string { return TypeObjectiveAdded }
func (p ObjectiveAdded) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.required("plan_id", p.PlanID, 64)
	c.required("objective_id", p.ObjectiveID, 64)
	c.required("description", p.Description, 1000)
	c.optional("means", p.Means, 1000)
	c.optional("responsible_partner_id", p.ResponsiblePartner, 64)
	if p.TargetDate != "" {
		if _, err := time.Parse(time.DateOnly, p.TargetDate); err != nil {
			c.fail("target_date", "not a YYYY-MM-DD date")
		}
	}
	return c.result()
}

// ObjectiveMet: the objective was reached.
type ObjectiveMet struct {
	ClientID    string `json:"client_id"`
	ObjectiveID string `json:"objective_id"`
	Note        string `json:"note,omitempty"`
}

func (ObjectiveMet) EventType() string { return TypeObjectiveMet }
func (p ObjectiveMet) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.required("objective_id", p.ObjectiveID, 64)
	c.optional("note", p.Note, 1000)
	return c.result()
}

// ObjectiveAbandoned: the objective was dropped, with why.
type ObjectiveAbandoned struct {
	ClientID    string `json:"client_id"`
	ObjectiveID string `json:"objective_id"`
	Reason      string `json:"reason"`
}

func (ObjectiveAbandoned) EventType() string { return TypeObjectiveAbandoned }
func (p ObjectiveAbandoned) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.required("objective_id", p.ObjectiveID, 64)
	c.required("reason", p.Reason, 1000)
	return c.result()
}

// Medication is one line of a medication profile.
type Medication struct {
	Name      string `json:"name"`
	Dose      string `json:"dose,omitempty"`
	Frequency string `json:"frequency,omitempty"`
}

// MedicationProfileUpdated: the pharmacy sent the full current list; the
// event also records what changed against the previous list.
type MedicationProfileUpdated struct {
	ClientID    string       `json:"client_id"`
	PharmacyID  string       `json:"pharmacy_id"`
	Medications []Medication `json:"medications"`
	Added       []string     `json:"added,omitempty"`
	Removed     []string     `json:"removed,omitempty"`
	Changed     []string     `json:"changed,omitempty"`
}

func (MedicationProfileUpdated) EventType() string { return TypeMedicationProfile }
func (p MedicationProfileUpdated) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.required("pharmacy_id", p.PharmacyID, 64)
	if len(p.Medications) > 200 {
		c.fail("medications", "more than 200 lines")
	}
	for _, m := range p.Medications {
		c.required("medications.name", m.Name, 200)
		c.optional("medications.dose", m.Dose, 100)
		c.optional("medications.frequency", m.Frequency, 100)
	}
	return c.result()
}

// PharmacistConcernRaised: the pharmacist thinks the client needs attention.
type PharmacistConcernRaised struct {
	ClientID               string `json:"client_id"`
	PharmacyID             string `json:"pharmacy_id"`
	Concern                string `json:"concern"`
	NeedsMedicalEvaluation bool   `json:"needs_medical_evaluation"`
}

func (PharmacistConcernRaised) EventType() string { return TypePharmacistConcern }
func (p PharmacistConcernRaised) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.required("pharmacy_id", p.PharmacyID, 64)
	c.required("concern", p.Concern, 2000)
	return c.result()
}

// DoctorNotified: the family doctor was told of the client's enrolment or a
// milestone, and asked to confirm the client is their patient.
type DoctorNotified struct {
	ClientID string `json:"client_id"`
	DoctorID string `json:"doctor_id"`
	About    string `json:"about"`
}

func (DoctorNotified) EventType() string { return TypeDoctorNotified }
func (p DoctorNotified) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.required("doctor_id", p.DoctorID, 64)
	c.required("about", p.About, 500)
	return c.result()
}

// DoctorConfirmed: the doctor answered whether the client is their patient.
// IsPatient is required: a missing answer is not a "no".
type DoctorConfirmed struct {
	ClientID  string `json:"client_id"`
	DoctorID  string `json:"doctor_id"`
	IsPatient *bool  `json:"is_patient"`
}

func (DoctorConfirmed) EventType() string { return TypeDoctorConfirmed }
func (p DoctorConfirmed) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.required("doctor_id", p.DoctorID, 64)
	if p.IsPatient == nil {
		c.fail("is_patient", "required: true or false")
	}
	return c.result()
}

// Confirmed reports whether the doctor said the client is their patient.
func (p DoctorConfirmed) Confirmed() bool { return p.IsPatient != nil && *p.IsPatient }

// ReferralSent: the client was referred to a partner organization.
type ReferralSent struct {
	ClientID   string `json:"client_id"`
	ReferralID string `json:"referral_id"`
	PartnerID  string `json:"partner_id"`
	Category   string `json:"category"`
	Reason     string `json:"reason"`
}

func (ReferralSent) EventType() string { return TypeReferralSent }
func (p ReferralSent) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.required("referral_id", p.ReferralID, 64)
	c.required("partner_id", p.PartnerID, 64)
	c.oneOf("category", p.Category, Categories)
	c.required("reason", p.Reason, 1000)
	return c.result()
}

// ReferralAnswer is the body shared by accepted, declined and completed.
type ReferralAnswer struct {
	ClientID   string `json:"client_id"`
	ReferralID string `json:"referral_id"`
	PartnerID  string `json:"partner_id"`
	Note       string `json:"note,omitempty"`
}

func (c *check) referralAnswer(p ReferralAnswer) {
	c.required("client_id", p.ClientID, 64)
	c.required("referral_id", p.ReferralID, 64)
	c.required("partner_id", p.PartnerID, 64)
	c.optional("note", p.Note, 1000)
}

// ReferralAccepted: the organization takes the client.
type ReferralAccepted struct{ ReferralAnswer }

func (ReferralAccepted) EventType() string { return TypeReferralAccepted }
func (p ReferralAccepted) Validate() error {
	var c check
	c.referralAnswer(p.ReferralAnswer)
	return c.result()
}

// ReferralDeclined: the organization cannot take the client.
type ReferralDeclined struct{ ReferralAnswer }

func (ReferralDeclined) EventType() string { return TypeReferralDeclined }
func (p ReferralDeclined) Validate() error {
	var c check
	c.referralAnswer(p.ReferralAnswer)
	if p.Note == "" {
		c.fail("note", "required: say why the referral is declined")
	}
	return c.result()
}

// ReferralCompleted: the organization reports the outcome.
type ReferralCompleted struct{ ReferralAnswer }

func (ReferralCompleted) EventType() string { return TypeReferralCompleted }
func (p ReferralCompleted) Validate() error {
	var c check
	c.referralAnswer(p.ReferralAnswer)
	return c.result()
}

// DiffMedications compares two medication lists by name: what was added,
// removed, or changed (dose or frequency), each sorted.
func DiffMedications(before, after []Medication) (added, removed, changed []string) {
	old := make(map[string]Medication, len(before))
	for _, m := range before {
		old[m.Name] = m
	}
	seen := make(map[string]bool, len(after))
	for _, m := range after {
		seen[m.Name] = true
		o, ok := old[m.Name]
		switch {
		case !ok:
			added = append(added, m.Name)
		case o != m:
			changed = append(changed, m.Name)
		}
	}
	for _, m := range before {
		if !seen[m.Name] {
			removed = append(removed, m.Name)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	slices.Sort(changed)
	return added, removed, changed
}
