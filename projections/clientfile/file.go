package clientfile

import (
	"slices"
	"time"

	"github.com/relais-health/relais/events"
)

// File is one client's record across sites, as of the last applied event.
// Lists are in the order the facts were recorded; Timeline sorts them by
// time.
type File struct {
	ClientID     string              `json:"client_id"`
	GivenName    string              `json:"given_name,omitempty"`
	FamilyName   string              `json:"family_name,omitempty"`
	BirthDate    string              `json:"birth_date,omitempty"`
	Identifiers  []events.Identifier `json:"identifiers,omitempty"`
	PatientKeys  []string            `json:"patient_keys,omitempty"`
	RegisteredAt time.Time           `json:"registered_at,omitzero"`

	// Flags are the programmes whose watch list the client is on now.
	Flags     []Flag     `json:"flags,omitempty"`
	Enrolment *Enrolment `json:"enrolment,omitempty"`
	// Closure is set while the case is closed; a new enrolment clears it.
	Closure      *Closure    `json:"closure,omitempty"`
	CaseManager  *Assignment `json:"case_manager,omitempty"`
	PivotWorker  *Assignment `json:"pivot_worker,omitempty"`
	FamilyDoctor *Doctor     `json:"family_doctor,omitempty"`

	// Consents holds the consents in force, by category.
	Consents       map[string]Consent     `json:"consents,omitempty"`
	Assessment     *Assessment            `json:"assessment,omitempty"`
	SupportNetwork []events.NetworkMember `json:"support_network,omitempty"`
	Contacts       []Contact              `json:"contacts,omitempty"`

	Visits []Visit `json:"visits,omitempty"`

	// Medications is the current profile; MedicationHistory every update.
	Medications       []events.Medication `json:"medications,omitempty"`
	MedicationHistory []MedicationChange  `json:"medication_history,omitempty"`
	Concerns          []Concern           `json:"concerns,omitempty"`

	Plans     []Plan     `json:"plans,omitempty"`
	Referrals []Referral `json:"referrals,omitempty"`

	// History records the status facts (registration, flags, enrolment,
	// closure, assignments, consents, doctor letters, merges) in order.
	History []Change `json:"history,omitempty"`
}

// Flag is a programme watch list the client is on.
type Flag struct {
	Programme string    `json:"programme"`
	Reason    string    `json:"reason,omitempty"`
	Since     time.Time `json:"since"`
}

// Enrolment is the client's current (or last) enrolment in a programme.
type Enrolment struct {
	Programme  string    `json:"programme"`
	EnrolledAt time.Time `json:"enrolled_at"`
	// FirstEnrolledAt is the first enrolment, kept across re-enrolments.
	FirstEnrolledAt time.Time `json:"first_enrolled_at"`
}

// Closure is why and when the follow-up ended.
type Closure struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// Assignment is a staff member following the client, since when.
type Assignment struct {
	StaffID string    `json:"staff_id"`
	Since   time.Time `json:"since"`
}

// Doctor is the family doctor, as letters and answers established it.
type Doctor struct {
	PartnerID  string    `json:"partner_id"`
	NotifiedAt time.Time `json:"notified_at,omitzero"`
	// Answer is "", "confirmed" or "denied".
	Answer     string    `json:"answer,omitempty"`
	AnsweredAt time.Time `json:"answered_at,omitzero"`
}

// Consent is a consent in force for one partner category.
type Consent struct {
	Category string `json:"category"`
	// PartnerID, when set, limits the consent to that one partner.
	PartnerID string    `json:"partner_id,omitempty"`
	Since     time.Time `json:"since"`
}

// Assessment is the last needs assessment.
type Assessment struct {
	At      time.Time `json:"at"`
	StaffID string    `json:"staff_id"`
	Summary string    `json:"summary,omitempty"`
}

// Contact is a time a staff member reached the client.
type Contact struct {
	At      time.Time `json:"at"`
	StaffID string    `json:"staff_id"`
	Channel string    `json:"channel"`
	Note    string    `json:"note,omitempty"`
}

// Visit is one hospital encounter: the ED visit and, when the patient was
// admitted, the admission and discharge.
type Visit struct {
	Facility    string `json:"facility"`
	VisitNumber string `json:"visit_number"`
	PatientKey  string `json:"patient_key,omitempty"`
	// ArrivedAt is zero when the encounter began without an ED
	// registration (a direct admission) or its A04 was never received.
	ArrivedAt      time.Time `json:"arrived_at,omitzero"`
	Reason         string    `json:"reason,omitempty"`
	ReasonCategory string    `json:"reason_category,omitempty"`
	// EndedAt is when the patient left the ED without being admitted.
	EndedAt     time.Time `json:"ended_at,omitzero"`
	Disposition string    `json:"disposition,omitempty"`
	// LengthMinutes is the time spent in the ED: until EndedAt, or until
	// AdmittedAt for an admitted patient; 0 while unknown.
	LengthMinutes        int       `json:"length_minutes,omitempty"`
	AdmittedAt           time.Time `json:"admitted_at,omitzero"`
	Unit                 string    `json:"unit,omitempty"`
	DischargedAt         time.Time `json:"discharged_at,omitzero"`
	DischargeDisposition string    `json:"discharge_disposition,omitempty"`
	Cancelled            bool      `json:"cancelled,omitempty"`
	CancelledAt          time.Time `json:"cancelled_at,omitzero"`
	CancelReason         string    `json:"cancel_reason,omitempty"`
}

// MedicationChange is one profile update from a pharmacy.
type MedicationChange struct {
	At         time.Time `json:"at"`
	PharmacyID string    `json:"pharmacy_id"`
	Added      []string  `json:"added,omitempty"`
	Removed    []string  `json:"removed,omitempty"`
	Changed    []string  `json:"changed,omitempty"`
	Count      int       `json:"count"`
}

// Concern is a pharmacist's concern about the client.
type Concern struct {
	At                     time.Time `json:"at"`
	PharmacyID             string    `json:"pharmacy_id"`
	Concern                string    `json:"concern"`
	NeedsMedicalEvaluation bool      `json:"needs_medical_evaluation"`
}

// Plan is an individualized service plan and its objectives.
type Plan struct {
	PlanID     string      `json:"plan_id"`
	CreatedAt  time.Time   `json:"created_at,omitzero"`
	Objectives []Objective `json:"objectives,omitempty"`
}

// Objective statuses.
const (
	ObjectiveOpen      = "open"
	ObjectiveMet       = "met"
	ObjectiveAbandoned = "abandoned"
)

// Objective is one objective of a plan.
type Objective struct {
	ObjectiveID        string    `json:"objective_id"`
	Description        string    `json:"description"`
	Means              string    `json:"means,omitempty"`
	ResponsiblePartner string    `json:"responsible_partner_id,omitempty"`
	TargetDate         string    `json:"target_date,omitempty"`
	Status             string    `json:"status"`
	AddedAt            time.Time `json:"added_at"`
	ClosedAt           time.Time `json:"closed_at,omitzero"`
	// Note is the note of a met objective or the reason it was abandoned.
	Note string `json:"note,omitempty"`
}

// Referral states.
const (
	ReferralSent      = "sent"
	ReferralAccepted  = "accepted"
	ReferralDeclined  = "declined"
	ReferralCompleted = "completed"
)

// Referral is a referral to a partner organization and where it stands.
type Referral struct {
	ReferralID string    `json:"referral_id"`
	PartnerID  string    `json:"partner_id"`
	Category   string    `json:"category"`
	Reason     string    `json:"reason"`
	State      string    `json:"state"`
	SentAt     time.Time `json:"sent_at,omitzero"`
	// Steps are the answers (accepted, declined, completed) in order.
	Steps []ReferralStep `json:"steps,omitempty"`
}

// ReferralStep is one answer of the partner to a referral.
type ReferralStep struct {
	At    time.Time `json:"at"`
	State string    `json:"state"`
	Note  string    `json:"note,omitempty"`
}

// Change is one status fact in the file's history. Type is the event type;
// Subject what it is about (programme, category, staff or partner id);
// Detail a reason or partner when there is one.
type Change struct {
	At      time.Time `json:"at"`
	Type    string    `json:"type"`
	Subject string    `json:"subject,omitempty"`
	Detail  string    `json:"detail,omitempty"`
}

// OpenObjectives counts the objectives of every plan still open.
func (f File) OpenObjectives() int {
	n := 0
	for _, p := range f.Plans {
		for _, o := range p.Objectives {
			if o.Status == ObjectiveOpen {
				n++
			}
		}
	}
	return n
}

// clone returns a copy sharing nothing the fold mutates later.
func (f *File) clone() File {
	c := *f
	c.Identifiers = slices.Clone(f.Identifiers)
	c.PatientKeys = slices.Clone(f.PatientKeys)
	c.Flags = slices.Clone(f.Flags)
	c.Enrolment = clonePtr(f.Enrolment)
	c.Closure = clonePtr(f.Closure)
	c.CaseManager = clonePtr(f.CaseManager)
	c.PivotWorker = clonePtr(f.PivotWorker)
	c.FamilyDoctor = clonePtr(f.FamilyDoctor)
	c.Assessment = clonePtr(f.Assessment)
	if f.Consents != nil {
		c.Consents = make(map[string]Consent, len(f.Consents))
		for k, v := range f.Consents {
			c.Consents[k] = v
		}
	}
	c.SupportNetwork = slices.Clone(f.SupportNetwork)
	c.Contacts = slices.Clone(f.Contacts)
	c.Visits = slices.Clone(f.Visits)
	c.Medications = slices.Clone(f.Medications)
	c.MedicationHistory = slices.Clone(f.MedicationHistory)
	c.Concerns = slices.Clone(f.Concerns)
	c.Plans = slices.Clone(f.Plans)
	for i := range c.Plans {
		c.Plans[i].Objectives = slices.Clone(c.Plans[i].Objectives)
	}
	c.Referrals = slices.Clone(f.Referrals)
	for i := range c.Referrals {
		c.Referrals[i].Steps = slices.Clone(c.Referrals[i].Steps)
	}
	c.History = slices.Clone(f.History)
	return c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
