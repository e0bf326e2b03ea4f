package clientfile

import (
	"fmt"
	"slices"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/events/consent"
)

// Viewer is who asks to see a file: a directory actor and the role it acts
// in. For a partner, Role is its category (doctor, pharmacy, community,
// rehab, family); PartnerCategory may say so instead.
type Viewer struct {
	ActorID         string
	Role            string
	PartnerCategory string
}

// category returns the partner category the viewer acts for, or "".
func (v Viewer) category() string {
	if v.PartnerCategory != "" {
		return v.PartnerCategory
	}
	if slices.Contains(events.Categories, v.Role) {
		return v.Role
	}
	return ""
}

// staffRoles see the whole file (the auditor reads only; writes are
// refused elsewhere).
var staffRoles = []string{events.RoleCaseManager, events.RolePivotWorker, events.RoleProgrammeManager,
	events.RoleAdmin, events.RoleAuditor}

// View returns what viewer may see of f:
//
//   - staff (case manager, pivot worker, programme manager, admin,
//     auditor): everything;
//   - archivist: the encounters only (visits with reasons, admissions),
//     which is what the high-utilizer list is built from;
//   - a partner, only when the one consent rule (events/consent) allows
//     it: the client's consent for its category is in force and covers
//     the whole category or names this partner; else a *ConsentError
//     (ErrNoConsent). Every partner then sees who the client is (name,
//     birth date, no health-insurance or hospital identifiers), whether
//     they are enrolled or closed (when, never the free-text reason of the
//     closure), who their case manager and pivot worker are, its own
//     category's consent, and the referrals addressed to it. On top of
//     that:
//   - doctor: the encounters with the coded reason category but without
//     the free-text reasons typed at registration (unvetted text, may name
//     third parties; the doctor gets the clinical record from the
//     hospital) and without the pseudonymous patient keys (a linking
//     identifier the doctor has no use for), medications and their
//     history, pharmacists' concerns
//     (they ask for a medical evaluation), the whole plan (the doctor is
//     told of plan milestones), its own letters and answers;
//   - pharmacy: medications and their history, its own concerns, and the
//     objectives it is responsible for; no encounter, reason, assessment
//     or referral to others (no psychiatric or addiction history);
//   - community, rehab, family: the objectives they are responsible for.
//
// Contacts, assessment, support network, flags, patient keys and the
// other categories' consents are for staff only.
func View(f File, v Viewer) (File, error) {
	switch {
	case slices.Contains(staffRoles, v.Role):
		return f, nil
	case v.Role == events.RoleArchivist:
		return File{ClientID: f.ClientID, Visits: f.Visits}, nil
	}
	cat := v.category()
	if cat == "" {
		return File{}, fmt.Errorf("%w: %q", ErrForbidden, v.Role)
	}
	if !f.consents().Allows(v.ActorID, cat, consent.PurposeRead) {
		return File{}, &ConsentError{ClientID: f.ClientID, Category: cat, PartnerID: v.ActorID}
	}
	out := File{ClientID: f.ClientID, GivenName: f.GivenName, FamilyName: f.FamilyName, BirthDate: f.BirthDate,
		Enrolment: f.Enrolment, CaseManager: f.CaseManager, PivotWorker: f.PivotWorker,
		Consents: map[string]Consent{cat: f.Consents[cat]}}
	if f.Closure != nil {
		out.Closure = &Closure{At: f.Closure.At} // the reason is for staff
	}
	out.Referrals = filter(f.Referrals, func(r Referral) bool { return v.ActorID != "" && r.PartnerID == v.ActorID })
	for _, h := range f.History {
		if partnerSees(h, cat, v.ActorID) {
			if h.Type == events.TypeConsentRevoked || h.Type == events.TypeCaseClosed {
				h.Detail = "" // the client's or the case manager's reason is for staff
			}
			out.History = append(out.History, h)
		}
	}
	switch cat {
	case events.CategoryDoctor:
		out.Visits = make([]Visit, len(f.Visits))
		for i, x := range f.Visits {
			x.Reason, x.CancelReason, x.PatientKey = "", "", ""
			out.Visits[i] = x
		}
		out.Medications, out.MedicationHistory, out.Concerns = f.Medications, f.MedicationHistory, f.Concerns
		out.Plans = f.Plans
		if f.FamilyDoctor != nil && f.FamilyDoctor.PartnerID == v.ActorID {
			out.FamilyDoctor = f.FamilyDoctor
		}
	case events.CategoryPharmacy:
		out.Medications, out.MedicationHistory = f.Medications, f.MedicationHistory
		out.Concerns = filter(f.Concerns, func(c Concern) bool { return c.PharmacyID == v.ActorID })
		out.Plans = responsibleFor(f.Plans, v.ActorID)
	default:
		out.Plans = responsibleFor(f.Plans, v.ActorID)
	}
	return out, nil
}

// partnerSees says which status facts a partner sees: enrolment, closure,
// who follows the client, its own category's consent, its own letters.
func partnerSees(h Change, category, actorID string) bool {
	switch h.Type {
	case events.TypeClientEnrolled, events.TypeCaseClosed, events.TypeCaseManagerAssigned, events.TypePivotWorkerAssigned:
		return true
	case events.TypeConsentGranted, events.TypeConsentRevoked:
		return h.Subject == category
	case events.TypeDoctorNotified, events.TypeDoctorConfirmed:
		return category == events.CategoryDoctor && h.Subject == actorID
	}
	return false
}

// responsibleFor keeps the objectives partnerID is responsible for, and the
// plans that still have some.
func responsibleFor(plans []Plan, partnerID string) []Plan {
	var out []Plan
	for _, p := range plans {
		p.Objectives = filter(p.Objectives, func(o Objective) bool {
			return partnerID != "" && o.ResponsiblePartner == partnerID
		})
		if len(p.Objectives) > 0 {
			out = append(out, p)
		}
	}
	return out
}

func filter[T any](in []T, keep func(T) bool) []T {
	var out []T
	for _, x := range in {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out
}
