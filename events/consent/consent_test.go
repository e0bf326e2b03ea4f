package consent_test

import (
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/events/consent"
)

var staff = events.Actor{ID: "cm-1", Role: events.RoleCaseManager}

func history(t *testing.T, ps ...events.Payload) []events.Event {
	t.Helper()
	out := make([]events.Event, len(ps))
	for i, p := range ps {
		out[i] = events.MustNew(p, staff)
	}
	return out
}

func grant(cat, partner string) *events.ConsentGranted {
	return &events.ConsentGranted{ClientID: "c1", Category: cat, PartnerID: partner}
}

func revoke(cat string) *events.ConsentRevoked {
	return &events.ConsentRevoked{ClientID: "c1", Category: cat}
}

func enrol(cats ...string) *events.ClientEnrolled {
	return &events.ClientEnrolled{ClientID: "c1", Programme: "defi-sante", EnrolledAt: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC), Consents: cats}
}

// One rule for every purpose: the category's consent is in force and
// covers the whole category or names this partner.
func TestAllows(t *testing.T) {
	tests := []struct {
		name      string
		history   []events.Payload
		partner   string
		category  string
		purpose   consent.Purpose
		want      bool
		wantWhyIn string
	}{
		{"a client who consented to nothing allows nobody", nil,
			"doc-1", events.CategoryDoctor, consent.PurposeRead, false, "no doctor consent"},
		{"a consent naming the partner allows it", []events.Payload{grant("doctor", "doc-1")},
			"doc-1", events.CategoryDoctor, consent.PurposeConfirmPatient, true, ""},
		{"a consent naming a partner refuses another partner of the same category", []events.Payload{grant("doctor", "doc-1")},
			"doc-2", events.CategoryDoctor, consent.PurposeConfirmPatient, false, "names doc-1"},
		{"a category-only consent allows any partner of the category", []events.Payload{grant("pharmacy", "")},
			"ph-2", events.CategoryPharmacy, consent.PurposeMedications, true, ""},
		{"an enrolment's consents cover their whole category", []events.Payload{enrol("pharmacy", "community")},
			"org-9", events.CategoryCommunity, consent.PurposeReferral, true, ""},
		{"a consent of another category allows nothing", []events.Payload{grant("pharmacy", "")},
			"ph-1", events.CategoryRehab, consent.PurposeAlert, false, "no rehab consent"},
		{"a revoked consent allows nobody", []events.Payload{grant("rehab", ""), revoke("rehab")},
			"rehab-1", events.CategoryRehab, consent.PurposeAnswerReferral, false, "no rehab consent"},
		{"a revoked named consent no longer allows the partner it named", []events.Payload{grant("doctor", "doc-1"), revoke("doctor")},
			"doc-1", events.CategoryDoctor, consent.PurposeVisitUpdate, false, "no doctor consent"},
		{"a consent granted again after revocation allows again", []events.Payload{grant("rehab", ""), revoke("rehab"), grant("rehab", "")},
			"rehab-1", events.CategoryRehab, consent.PurposeAlert, true, ""},
		{"a consent granted again to another partner refuses the first one", []events.Payload{grant("pharmacy", "ph-1"), revoke("pharmacy"), grant("pharmacy", "ph-2")},
			"ph-1", events.CategoryPharmacy, consent.PurposeConcern, false, "names ph-2"},
		{"a grant naming a partner narrows a category-only consent", []events.Payload{enrol("pharmacy"), grant("pharmacy", "ph-1")},
			"ph-2", events.CategoryPharmacy, consent.PurposeMedications, false, "names ph-1"},
		{"re-enrolling does not widen a consent that names a partner", []events.Payload{grant("doctor", "doc-1"), enrol("doctor")},
			"doc-2", events.CategoryDoctor, consent.PurposeAlert, false, "names doc-1"},
		{"an empty partner id is never allowed", []events.Payload{grant("community", "")},
			"", events.CategoryCommunity, consent.PurposeRead, false, ""},
		{"an actor with no partner category is never allowed", []events.Payload{grant("community", "")},
			"cm-1", "", consent.PurposeRead, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := consent.Fold(history(t, tt.history...))
			if got := c.Allows(tt.partner, tt.category, tt.purpose); got != tt.want {
				t.Fatalf("Allows(%q, %q, %q) = %v, want %v (consents %v)", tt.partner, tt.category, tt.purpose, got, tt.want, c)
			}
			if why := c.Explain(tt.partner, tt.category, tt.purpose); tt.wantWhyIn != "" && !strings.Contains(why, tt.wantWhyIn) {
				t.Fatalf("Explain = %q, want it to say %q", why, tt.wantWhyIn)
			}
		})
	}
}

// Fold reads only the consent facts and ignores the rest of the stream.
func TestFoldIgnoresOtherFacts(t *testing.T) {
	c := consent.Fold(history(t,
		&events.ClientRegistered{ClientID: "c1", GivenName: "A", FamilyName: "B", Identifiers: []events.Identifier{{Authority: "RAMQ", Value: "1"}}},
		grant("doctor", "doc-1"),
		&events.CaseClosed{ClientID: "c1", Reason: "déménagement"},
	))
	if len(c) != 1 || c.Named(events.CategoryDoctor) != "doc-1" || !c.InForce(events.CategoryDoctor) || c.InForce(events.CategoryFamily) {
		t.Fatalf("consents %v, want only doctor naming doc-1", c)
	}
}
