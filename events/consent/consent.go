// Package consent is Relais's one consent rule. A client consents, category
// by category (family, doctor, pharmacy, community, rehab), either to any
// partner of the category or to one partner it names, and can revoke. The
// same rule decides every partner-facing path: what a partner may write
// (services: a doctor's answer, a pharmacy's medication profile and
// concerns, a referral's answer), which alerts and visit updates reach it
// (projections/alerts) and what it may read of the client file
// (projections/clientfile).
//
// Consents is a small value folded from the client's own events; Allows is
// a pure function of it. The package imports only the event catalog, so
// every side of Relais can use it.
package consent

import "github.com/relais-health/relais/events"

// Consents holds the consents in force for one client: category -> the
// partner the consent names, or "" when it covers any partner of the
// category. A category that is absent has no consent in force. The zero
// value (nil) is a client who consented to nothing.
type Consents map[string]string

// Purpose names what a partner is about to do or receive. The rule is the
// same for every purpose (that is the point of having one); the purpose
// says, in refusals, what was refused.
type Purpose string

// The purposes Relais checks a consent for.
const (
	PurposeRead           Purpose = "read the client file"
	PurposeAlert          Purpose = "receive the client's alerts"
	PurposeVisitUpdate    Purpose = "receive updates of the client's hospital visit"
	PurposeConfirmPatient Purpose = "answer whether the client is their patient"
	PurposeDoctorLetter   Purpose = "be asked to confirm the client is their patient"
	PurposeMedications    Purpose = "update the client's medication profile"
	PurposeConcern        Purpose = "raise a concern about the client"
	PurposeReferral       Purpose = "receive a referral of the client"
	PurposeAnswerReferral Purpose = "answer a referral of the client"
)

// Fold builds the consents in force from a client's history, in order.
func Fold(history []events.Event) Consents {
	var c Consents
	for _, e := range history {
		switch e.Type {
		case events.TypeClientEnrolled, events.TypeConsentGranted, events.TypeConsentRevoked:
		default:
			continue
		}
		if p, err := e.Payload(); err == nil {
			c.Apply(p)
		}
	}
	return c
}

// Apply folds one payload of the client's stream; payloads that do not
// touch consent are ignored. An enrolment's consents cover their whole
// category unless one is already in force (a consent naming a partner is
// not widened by re-enrolling); a grant replaces the category's consent;
// a revocation ends it.
func (c *Consents) Apply(p events.Payload) {
	switch v := p.(type) {
	case *events.ClientEnrolled:
		for _, cat := range v.Consents {
			if _, ok := (*c)[cat]; !ok {
				c.set(cat, "")
			}
		}
	case *events.ConsentGranted:
		c.set(v.Category, v.PartnerID)
	case *events.ConsentRevoked:
		delete(*c, v.Category)
	}
}

func (c *Consents) set(category, partnerID string) {
	if *c == nil {
		*c = Consents{}
	}
	(*c)[category] = partnerID
}

// InForce reports whether a consent for category is in force, whichever
// partner it names.
func (c Consents) InForce(category string) bool {
	_, ok := c[category]
	return ok
}

// Named returns the partner the category's consent names ("" when it
// covers the whole category, or when none is in force).
func (c Consents) Named(category string) string { return c[category] }

// Allows is the rule: the partner partnerID, of the directory category
// category, may do or receive purpose for this client only if the client's
// consent for that category is in force and covers the whole category or
// names this partner. An empty partner id or category is never allowed.
func (c Consents) Allows(partnerID, category string, purpose Purpose) bool {
	if partnerID == "" || category == "" {
		return false
	}
	named, ok := c[category]
	return ok && (named == "" || named == partnerID)
}

// Explain says, for a refusal's message, why partnerID may not do purpose
// (no PHI: ids and categories only).
func (c Consents) Explain(partnerID, category string, purpose Purpose) string {
	named, ok := c[category]
	switch {
	case !ok:
		return "no " + category + " consent in force, so " + partnerID + " may not " + string(purpose)
	case named != "" && named != partnerID:
		return "the " + category + " consent names " + named + ", so " + partnerID + " may not " + string(purpose)
	}
	return partnerID + " may " + string(purpose)
}
