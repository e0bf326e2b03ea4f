package clientfile

import (
	"fmt"
	"sort"
	"time"

	"github.com/relais-health/relais/events"
)

// Entry is one line of a client's timeline.
type Entry struct {
	At time.Time `json:"at"`
	// Type is the event type the entry comes from (ed.visit.started,
	// objective.met, ...).
	Type  string `json:"type"`
	Label Label  `json:"label"`
	// Data is the record the entry is about: a Visit, Contact,
	// MedicationChange, Concern, Objective, Referral, Plan or Change.
	Data any `json:"data,omitempty"`
}

// Label is a short label, French first, English second.
type Label struct {
	FR string `json:"fr"`
	EN string `json:"en"`
}

// Entries is the timeline of a file, oldest first: derived from the file
// alone, so the timeline of a viewed file shows only what the viewer may
// see. Entries at the same instant keep the file's order.
func Entries(f File) []Entry {
	var out []Entry
	add := func(at time.Time, typ string, l Label, data any) {
		if !at.IsZero() {
			out = append(out, Entry{At: at, Type: typ, Label: l, Data: data})
		}
	}
	for _, h := range f.History {
		add(h.At, h.Type, changeLabel(h), h)
	}
	for _, v := range f.Visits {
		visitEntries(v, add)
	}
	for _, c := range f.Contacts {
		fr, en := channelName(c.Channel)
		add(c.At, events.TypeContactMade, Label{"Contact (" + fr + ")", "Contact (" + en + ")"}, c)
	}
	for _, m := range f.MedicationHistory {
		add(m.At, events.TypeMedicationProfile, Label{
			fmt.Sprintf("Profil pharmacologique mis à jour (%d médicaments)", m.Count),
			fmt.Sprintf("Medication profile updated (%d medications)", m.Count)}, m)
	}
	for _, c := range f.Concerns {
		add(c.At, events.TypePharmacistConcern, Label{"Préoccupation du pharmacien", "Pharmacist's concern"}, c)
	}
	for _, p := range f.Plans {
		add(p.CreatedAt, events.TypePlanCreated, Label{"Plan de services individualisé ouvert", "Service plan opened"}, p)
		for _, o := range p.Objectives {
			add(o.AddedAt, events.TypeObjectiveAdded, Label{"Objectif ajouté", "Objective added"}, o)
			switch o.Status {
			case ObjectiveMet:
				add(o.ClosedAt, events.TypeObjectiveMet, Label{"Objectif atteint", "Objective met"}, o)
			case ObjectiveAbandoned:
				add(o.ClosedAt, events.TypeObjectiveAbandoned, Label{"Objectif abandonné", "Objective abandoned"}, o)
			}
		}
	}
	for _, r := range f.Referrals {
		referralEntries(r, add)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

type adder func(at time.Time, typ string, l Label, data any)

func visitEntries(v Visit, add adder) {
	add(v.ArrivedAt, events.TypeEDVisitStarted, Label{paren("Arrivée à l'urgence", v.Facility), paren("ED arrival", v.Facility)}, v)
	if !v.AdmittedAt.IsZero() {
		add(v.AdmittedAt, events.TypeHospitalAdmitted, Label{paren("Hospitalisation", v.Unit), paren("Admitted", v.Unit)}, v)
	}
	if v.AdmittedAt.IsZero() && !v.EndedAt.IsZero() {
		d := stay(v.LengthMinutes)
		add(v.EndedAt, events.TypeEDVisitEnded, Label{paren("Départ de l'urgence", d), paren("Left the ED", d)}, v)
	}
	add(v.DischargedAt, events.TypeHospitalDischarged, Label{"Congé de l'hôpital", "Discharged from hospital"}, v)
	if v.Cancelled {
		add(v.CancelledAt, events.TypeEDVisitCancelled, Label{"Visite annulée par l'hôpital", "Visit cancelled by the hospital"}, v)
	}
}

func referralEntries(r Referral, add adder) {
	fr, en := categoryName(r.Category)
	add(r.SentAt, events.TypeReferralSent, Label{"Référence envoyée (" + fr + ")", "Referral sent (" + en + ")"}, r)
	for _, s := range r.Steps {
		var l Label
		switch s.State {
		case ReferralAccepted:
			l = Label{"Référence acceptée", "Referral accepted"}
		case ReferralDeclined:
			l = Label{"Référence refusée", "Referral declined"}
		default:
			l = Label{"Référence complétée", "Referral completed"}
		}
		add(s.At, "referral."+s.State, l, r)
	}
}

func changeLabel(h Change) Label {
	switch h.Type {
	case events.TypeClientRegistered:
		return Label{"Client inscrit dans Relais", "Client registered in Relais"}
	case events.TypeClientFlagged:
		return Label{"Ajouté à la liste " + h.Subject, "Flagged for " + h.Subject}
	case events.TypeClientUnflagged:
		return Label{"Retiré de la liste " + h.Subject, "Unflagged from " + h.Subject}
	case events.TypeClientEnrolled:
		return Label{"Adhésion au programme " + h.Subject, "Enrolled in " + h.Subject}
	case events.TypeCaseClosed:
		return Label{"Fin du suivi", "Case closed"}
	case events.TypeCaseManagerAssigned:
		return Label{"Gestionnaire de cas : " + h.Subject, "Case manager: " + h.Subject}
	case events.TypePivotWorkerAssigned:
		return Label{"Intervenant pivot : " + h.Subject, "Pivot worker: " + h.Subject}
	case events.TypeConsentGranted:
		fr, en := categoryName(h.Subject)
		return Label{"Consentement donné : " + fr, "Consent granted: " + en}
	case events.TypeConsentRevoked:
		fr, en := categoryName(h.Subject)
		return Label{"Consentement retiré : " + fr, "Consent revoked: " + en}
	case events.TypeAssessmentCompleted:
		return Label{"Évaluation des besoins", "Needs assessment"}
	case events.TypeDoctorNotified:
		return Label{"Lettre au médecin de famille", "Family doctor notified"}
	case events.TypeDoctorConfirmed:
		if h.Detail == "confirmed" {
			return Label{"Le médecin confirme son patient", "Doctor confirms the patient"}
		}
		return Label{"Le médecin dit ne pas suivre ce patient", "Doctor says not their patient"}
	case events.TypePatientMerged:
		return Label{"Dossiers hospitaliers fusionnés", "Hospital records merged"}
	}
	return Label{h.Type, h.Type}
}

func categoryName(c string) (fr, en string) {
	switch c {
	case events.CategoryFamily:
		return "famille", "family"
	case events.CategoryDoctor:
		return "médecin de famille", "family doctor"
	case events.CategoryPharmacy:
		return "pharmacie", "pharmacy"
	case events.CategoryCommunity:
		return "organisme communautaire", "community organization"
	case events.CategoryRehab:
		return "centre de réadaptation", "rehab centre"
	}
	return c, c
}

func channelName(c string) (fr, en string) {
	switch c {
	case "phone":
		return "téléphone", "phone"
	case "in_person":
		return "en personne", "in person"
	case "ed":
		return "à l'urgence", "at the ED"
	case "home_visit":
		return "visite à domicile", "home visit"
	case "video":
		return "vidéo", "video"
	}
	return c, c
}

// stay formats minutes as "3 h 20" (both languages write it so).
func stay(minutes int) string {
	if minutes <= 0 {
		return ""
	}
	return fmt.Sprintf("%d h %02d", minutes/60, minutes%60)
}

// paren appends " (s)" to base when s is not empty.
func paren(base, s string) string {
	if s == "" {
		return base
	}
	return base + " (" + s + ")"
}
