package clientfile

import (
	"slices"
	"sort"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/events/consent"
)

// used lists the event types the file folds; others are skipped before
// their payload is decoded.
var used = map[string]bool{
	events.TypeClientRegistered: true, events.TypeClientFlagged: true, events.TypeClientUnflagged: true,
	events.TypeEDVisitStarted: true, events.TypeEDVisitUpdated: true, events.TypeEDVisitEnded: true,
	events.TypeEDVisitCancelled: true, events.TypeHospitalAdmitted: true, events.TypeHospitalDischarged: true,
	events.TypePatientMerged: true, events.TypeContactMade: true, events.TypeAssessmentCompleted: true,
	events.TypeClientEnrolled: true, events.TypeConsentGranted: true, events.TypeConsentRevoked: true,
	events.TypeCaseManagerAssigned: true, events.TypePivotWorkerAssigned: true, events.TypePlanCreated: true,
	events.TypeObjectiveAdded: true, events.TypeObjectiveMet: true, events.TypeObjectiveAbandoned: true,
	events.TypeMedicationProfile: true, events.TypePharmacistConcern: true, events.TypeDoctorNotified: true,
	events.TypeDoctorConfirmed: true, events.TypeReferralSent: true, events.TypeReferralAccepted: true,
	events.TypeReferralDeclined: true, events.TypeReferralCompleted: true, events.TypeCaseClosed: true,
}

// apply folds one decoded payload that happened at at.
func (s *state) apply(typ string, pl events.Payload, at time.Time) {
	if s.applyHospital(pl, at) {
		return
	}
	switch v := pl.(type) {
	case *events.ClientRegistered:
		s.register(v, at)
	case *events.ClientFlagged:
		f := s.file(v.ClientID)
		f.Flags = slices.DeleteFunc(f.Flags, func(x Flag) bool { return x.Programme == v.Programme })
		f.Flags = append(f.Flags, Flag{Programme: v.Programme, Reason: v.Reason, Since: at})
		s.change(f, at, typ, v.Programme, v.Reason)
	case *events.ClientUnflagged:
		f := s.file(v.ClientID)
		f.Flags = slices.DeleteFunc(f.Flags, func(x Flag) bool { return x.Programme == v.Programme })
		s.change(f, at, typ, v.Programme, v.Reason)
	case *events.ClientEnrolled:
		s.enrol(v, at)
	case *events.CaseClosed:
		f := s.file(v.ClientID)
		f.Closure = &Closure{At: at, Reason: v.Reason}
		s.change(f, at, typ, "", v.Reason)
	case *events.ConsentGranted:
		f := s.file(v.ClientID)
		f.grant(v.Category, v.PartnerID, at)
		s.change(f, at, typ, v.Category, v.PartnerID)
	case *events.ConsentRevoked:
		f := s.file(v.ClientID)
		delete(f.Consents, v.Category)
		s.change(f, at, typ, v.Category, v.Reason)
	case *events.CaseManagerAssigned:
		f := s.file(v.ClientID)
		f.CaseManager = &Assignment{StaffID: v.StaffID, Since: at}
		s.change(f, at, typ, v.StaffID, "")
	case *events.PivotWorkerAssigned:
		f := s.file(v.ClientID)
		f.PivotWorker = &Assignment{StaffID: v.StaffID, Since: at}
		s.change(f, at, typ, v.StaffID, "")
	case *events.ContactMade:
		f := s.file(v.ClientID)
		f.Contacts = append(f.Contacts, Contact{At: v.At.UTC(), StaffID: s.in(v.StaffID), Channel: s.in(v.Channel), Note: v.Note})
	case *events.AssessmentCompleted:
		f := s.file(v.ClientID)
		f.Assessment = &Assessment{At: at, StaffID: v.StaffID, Summary: v.Summary}
		f.SupportNetwork = slices.Clone(v.SupportNetwork)
		s.change(f, at, typ, v.StaffID, "")
	default:
		s.applyCare(pl, at)
	}
}

// applyCare folds the plan, medication, doctor and referral facts.
func (s *state) applyCare(pl events.Payload, at time.Time) {
	switch v := pl.(type) {
	case *events.PlanCreated:
		f := s.file(v.ClientID)
		if p := f.plan(v.PlanID); p.CreatedAt.IsZero() {
			p.CreatedAt = at
		}
	case *events.ObjectiveAdded:
		p := s.file(v.ClientID).plan(v.PlanID)
		p.Objectives = append(p.Objectives, Objective{ObjectiveID: v.ObjectiveID, Description: v.Description,
			Means: v.Means, ResponsiblePartner: v.ResponsiblePartner, TargetDate: v.TargetDate,
			Status: ObjectiveOpen, AddedAt: at})
	case *events.ObjectiveMet:
		s.file(v.ClientID).closeObjective(v.ObjectiveID, ObjectiveMet, v.Note, at)
	case *events.ObjectiveAbandoned:
		s.file(v.ClientID).closeObjective(v.ObjectiveID, ObjectiveAbandoned, v.Reason, at)
	case *events.MedicationProfileUpdated:
		s.file(v.ClientID).medications(v, at)
	case *events.PharmacistConcernRaised:
		f := s.file(v.ClientID)
		f.Concerns = append(f.Concerns, Concern{At: at, PharmacyID: v.PharmacyID, Concern: v.Concern,
			NeedsMedicalEvaluation: v.NeedsMedicalEvaluation})
	case *events.DoctorNotified:
		f := s.file(v.ClientID)
		f.doctor(v.DoctorID).NotifiedAt = at
		s.change(f, at, events.TypeDoctorNotified, v.DoctorID, v.About)
	case *events.DoctorConfirmed:
		f := s.file(v.ClientID)
		answer := "denied"
		if v.Confirmed() {
			answer = "confirmed"
		}
		// Only a doctor the consent covers answers for the file (an answer
		// recorded before the rule was enforced on writes stays in the
		// history, for staff, and changes nothing else).
		if f.consents().Allows(v.DoctorID, events.CategoryDoctor, consent.PurposeConfirmPatient) {
			d := f.doctor(v.DoctorID)
			d.Answer, d.AnsweredAt = answer, at
		}
		s.change(f, at, events.TypeDoctorConfirmed, v.DoctorID, answer)
	case *events.ReferralSent:
		f := s.file(v.ClientID)
		f.Referrals = append(f.Referrals, Referral{ReferralID: v.ReferralID, PartnerID: v.PartnerID,
			Category: v.Category, Reason: v.Reason, State: ReferralSent, SentAt: at})
	case *events.ReferralAccepted:
		s.file(v.ClientID).answer(v.ReferralAnswer, ReferralAccepted, at)
	case *events.ReferralDeclined:
		s.file(v.ClientID).answer(v.ReferralAnswer, ReferralDeclined, at)
	case *events.ReferralCompleted:
		s.file(v.ClientID).answer(v.ReferralAnswer, ReferralCompleted, at)
	}
}

func (s *state) file(clientID string) *File {
	f, ok := s.Files[clientID]
	if !ok {
		f = &File{ClientID: clientID}
		s.Files[clientID] = f
	}
	return f
}

func (s *state) register(v *events.ClientRegistered, at time.Time) {
	f := s.file(v.ClientID)
	f.GivenName, f.FamilyName, f.BirthDate = v.GivenName, v.FamilyName, v.BirthDate
	f.Identifiers = slices.Clone(v.Identifiers)
	if f.RegisteredAt.IsZero() {
		f.RegisteredAt = at
	}
	for _, k := range v.PatientKeys {
		s.Keys[k] = v.ClientID
		f.addKey(k)
	}
	s.change(f, at, events.TypeClientRegistered, "", "")
}

func (s *state) enrol(v *events.ClientEnrolled, at time.Time) {
	f := s.file(v.ClientID)
	when := v.EnrolledAt.UTC()
	first := when
	if f.Enrolment != nil && f.Enrolment.FirstEnrolledAt.Before(first) {
		first = f.Enrolment.FirstEnrolledAt
	}
	f.Enrolment = &Enrolment{Programme: v.Programme, EnrolledAt: when, FirstEnrolledAt: first}
	f.Closure = nil
	for _, c := range v.Consents {
		if _, ok := f.Consents[c]; !ok {
			f.grant(c, "", at)
		}
	}
	s.change(f, when, events.TypeClientEnrolled, v.Programme, "")
}

// change records a status fact in the file's history.
func (s *state) change(f *File, at time.Time, typ, subject, detail string) {
	f.History = append(f.History, Change{At: at, Type: s.in(typ), Subject: s.in(subject), Detail: detail})
}

func (f *File) grant(category, partnerID string, at time.Time) {
	if f.Consents == nil {
		f.Consents = map[string]Consent{}
	}
	f.Consents[category] = Consent{Category: category, PartnerID: partnerID, Since: at}
	if category == events.CategoryDoctor && partnerID != "" && f.FamilyDoctor == nil {
		f.FamilyDoctor = &Doctor{PartnerID: partnerID}
	}
}

// consents is the file's consents in force as the one consent rule reads
// them.
func (f *File) consents() consent.Consents {
	c := make(consent.Consents, len(f.Consents))
	for cat, x := range f.Consents {
		c[cat] = x.PartnerID
	}
	return c
}

func (f *File) addKey(k string) {
	if !slices.Contains(f.PatientKeys, k) {
		f.PatientKeys = append(f.PatientKeys, k)
	}
}

func (f *File) doctor(id string) *Doctor {
	if f.FamilyDoctor == nil || f.FamilyDoctor.PartnerID != id {
		f.FamilyDoctor = &Doctor{PartnerID: id}
	}
	return f.FamilyDoctor
}

func (f *File) plan(id string) *Plan {
	for i := range f.Plans {
		if f.Plans[i].PlanID == id {
			return &f.Plans[i]
		}
	}
	f.Plans = append(f.Plans, Plan{PlanID: id})
	return &f.Plans[len(f.Plans)-1]
}

func (f *File) closeObjective(id, status, note string, at time.Time) {
	for i := range f.Plans {
		for j := range f.Plans[i].Objectives {
			if o := &f.Plans[i].Objectives[j]; o.ObjectiveID == id {
				o.Status, o.Note, o.ClosedAt = status, note, at
				return
			}
		}
	}
}

func (f *File) answer(a events.ReferralAnswer, st string, at time.Time) {
	for i := range f.Referrals {
		if r := &f.Referrals[i]; r.ReferralID == a.ReferralID {
			r.State = st
			r.Steps = append(r.Steps, ReferralStep{At: at, State: st, Note: a.Note})
			return
		}
	}
}

// medications replaces the current profile and records what changed; when
// the pharmacy did not say, the change is computed against the previous
// list by medication name.
func (f *File) medications(v *events.MedicationProfileUpdated, at time.Time) {
	ch := MedicationChange{At: at, PharmacyID: v.PharmacyID, Added: slices.Clone(v.Added),
		Removed: slices.Clone(v.Removed), Changed: slices.Clone(v.Changed), Count: len(v.Medications)}
	if len(ch.Added)+len(ch.Removed)+len(ch.Changed) == 0 {
		ch.Added, ch.Removed, ch.Changed = events.DiffMedications(f.Medications, v.Medications)
	}
	f.Medications = slices.Clone(v.Medications)
	f.MedicationHistory = append(f.MedicationHistory, ch)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
