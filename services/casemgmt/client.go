// Package casemgmt is the case manager's side of Relais: register and flag
// clients, record contacts and assessments, enrol with consents, assign the
// case manager and pivot worker, keep the individualized service plan and
// its objectives, send referrals and record their answers, close the case.
// The Client aggregate is a pure fold of the client's stream; each command
// decides on it and appends through ledger.Update.
package casemgmt

import (
	"slices"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/events/consent"
)

// Client is the aggregate: what the rules need to know of one client.
type Client struct {
	ID          string
	Registered  bool
	Closed      bool
	Flagged     map[string]bool
	Enrolled    string
	Consents    consent.Consents // the one consent rule decides on it
	CaseManager string
	PivotWorker string
	Plans       map[string]bool
	Objectives  map[string]string // id -> open, met, abandoned
	Referrals   map[string]*Referral
	Medications []events.Medication
	// HasMedicationProfile is true once a medication list was recorded
	// (an empty list is a profile too: "no medications").
	HasMedicationProfile bool
	// Identifiers and PatientKeys are the client's own and those of the
	// clients merged into it.
	Identifiers []events.Identifier
	PatientKeys []string
	// MergedInto is the surviving client once this one was merged into it;
	// a merged client takes no more commands.
	MergedInto string
}

// Referral is a referral's state.
type Referral struct {
	PartnerID string
	Category  string
	State     string // sent, accepted, declined, completed
}

// Fold builds the client from its history.
func Fold(history []events.Event) Client {
	c := Client{Flagged: map[string]bool{}, Consents: consent.Consents{}, Plans: map[string]bool{},
		Objectives: map[string]string{}, Referrals: map[string]*Referral{}}
	for _, e := range history {
		p, err := e.Payload()
		if err != nil {
			continue
		}
		switch v := p.(type) {
		case *events.ClientRegistered:
			c.ID, c.Registered = v.ClientID, true
			c.Identifiers = append(c.Identifiers, v.Identifiers...)
			c.PatientKeys = append(c.PatientKeys, v.PatientKeys...)
		case *events.ClientAbsorbed:
			c.Identifiers = appendNew(c.Identifiers, v.Identifiers...)
			c.PatientKeys = appendNew(c.PatientKeys, v.PatientKeys...)
		case *events.ClientMerged:
			c.MergedInto = v.Into
		case *events.ClientFlagged:
			c.Flagged[v.Programme] = true
		case *events.ClientUnflagged:
			delete(c.Flagged, v.Programme)
		case *events.ClientEnrolled:
			c.Enrolled, c.Closed = v.Programme, false
			c.Consents.Apply(v)
		case *events.ConsentGranted, *events.ConsentRevoked:
			c.Consents.Apply(v)
		case *events.CaseManagerAssigned:
			c.CaseManager = v.StaffID
		case *events.PivotWorkerAssigned:
			c.PivotWorker = v.StaffID
		case *events.PlanCreated:
			c.Plans[v.PlanID] = true
		case *events.ObjectiveAdded:
			c.Objectives[v.ObjectiveID] = "open"
		case *events.ObjectiveMet:
			c.Objectives[v.ObjectiveID] = "met"
		case *events.ObjectiveAbandoned:
			c.Objectives[v.ObjectiveID] = "abandoned"
		case *events.ReferralSent:
			c.Referrals[v.ReferralID] = &Referral{PartnerID: v.PartnerID, Category: v.Category, State: "sent"}
		case *events.ReferralAccepted:
			c.setReferral(v.ReferralID, "accepted")
		case *events.ReferralDeclined:
			c.setReferral(v.ReferralID, "declined")
		case *events.ReferralCompleted:
			c.setReferral(v.ReferralID, "completed")
		case *events.MedicationProfileUpdated:
			c.Medications = v.Medications
			c.HasMedicationProfile = true
		case *events.CaseClosed:
			c.Closed = true
		}
	}
	return c
}

// appendNew appends the values of vs that list does not hold yet.
func appendNew[T comparable](list []T, vs ...T) []T {
	for _, v := range vs {
		if !slices.Contains(list, v) {
			list = append(list, v)
		}
	}
	return list
}

func (c *Client) setReferral(id, state string) {
	if r, ok := c.Referrals[id]; ok {
		r.State = state
	}
}

// Consented reports whether a consent for a partner category is in force,
// whichever partner it names (what staff need to know before revoking).
// Whether one partner may act is Allows.
func (c Client) Consented(category string) bool { return c.Consents.InForce(category) }

// Allows is the one consent rule (events/consent) applied to this client.
func (c Client) Allows(partnerID, category string, purpose consent.Purpose) bool {
	return c.Consents.Allows(partnerID, category, purpose)
}
