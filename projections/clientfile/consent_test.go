package clientfile_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/events/consent"
	"github.com/relais-health/relais/projections/clientfile"
)

// closedHistory is a client whose case was closed with a free-text reason,
// with a doctor consent naming doc-1 and a pharmacy consent for the whole
// category; rehab was granted, revoked and granted again; community was
// revoked.
func closedHistory() []step {
	no := func() *bool { b := false; return &b }()
	return []step{
		{registered("c1", "pk1"), 0},
		{&events.ClientFlagged{ClientID: "c1", Programme: "defi-sante"}, 0.1},
		{&events.EDVisitStarted{Visit: visit("c1", "pk1", "V1"), ArrivedAt: at(1), Reason: "Crise", ReasonCategory: "mental_health"}, 1},
		{&events.ClientEnrolled{ClientID: "c1", Programme: "defi-sante", EnrolledAt: at(2), Consents: []string{"pharmacy", "community"}}, 2},
		{&events.ConsentGranted{ClientID: "c1", Category: "doctor", PartnerID: "doc-1"}, 3},
		{&events.DoctorConfirmed{ClientID: "c1", DoctorID: "doc-1", IsPatient: yes}, 4},
		// Recorded before writes were checked: it must change nothing.
		{&events.DoctorConfirmed{ClientID: "c1", DoctorID: "doc-2", IsPatient: no}, 5},
		{&events.ConsentGranted{ClientID: "c1", Category: "rehab"}, 6},
		{&events.ConsentRevoked{ClientID: "c1", Category: "rehab", Reason: "ne veut plus"}, 7},
		{&events.ConsentGranted{ClientID: "c1", Category: "rehab"}, 8},
		{&events.ConsentRevoked{ClientID: "c1", Category: "community"}, 9},
		{&events.CaseClosed{ClientID: "c1", Reason: "Décès du conjoint, déménagement chez sa fille"}, 10},
	}
}

// Reads follow the one consent rule, and a partner's view carries only
// what its task needs: never the closure's free text, never a doctor the
// patient keys.
func TestPartnerViewsFollowTheConsentRuleAndShowTheMinimum(t *testing.T) {
	p := clientfile.New()
	apply(t, p, build(closedHistory()))
	const closure = "Décès du conjoint"
	tests := []struct {
		name    string
		viewer  clientfile.Viewer
		wantErr bool
		check   func(t *testing.T, f clientfile.File, js string)
	}{
		{name: "staff see the closure's reason and the patient keys", viewer: clientfile.Viewer{ActorID: "cm-1", Role: events.RoleCaseManager},
			check: func(t *testing.T, f clientfile.File, js string) {
				if f.Closure == nil || f.Closure.Reason == "" || f.Visits[0].PatientKey != "pk1" || len(f.PatientKeys) != 1 {
					t.Fatalf("staff view: %s", js)
				}
			}},
		{name: "the doctor the consent names sees that the case closed and when, not why, and no patient key", viewer: clientfile.Viewer{ActorID: "doc-1", Role: "doctor"},
			check: func(t *testing.T, f clientfile.File, js string) {
				mustNot(t, js, closure, "patient_key", "pk1")
				if f.Closure == nil || f.Closure.At.IsZero() || len(f.Visits) != 1 {
					t.Fatalf("doctor view: %s", js)
				}
				if f.FamilyDoctor == nil || f.FamilyDoctor.PartnerID != "doc-1" || f.FamilyDoctor.Answer != "confirmed" {
					t.Fatalf("an unnamed doctor's answer changed the family doctor: %+v", f.FamilyDoctor)
				}
			}},
		{name: "another doctor of the same category is refused", viewer: clientfile.Viewer{ActorID: "doc-2", Role: "doctor"}, wantErr: true},
		{name: "any pharmacy may read under a category-only consent, without the closure's reason", viewer: clientfile.Viewer{ActorID: "ph-2", Role: "pharmacy"},
			check: func(t *testing.T, f clientfile.File, js string) {
				mustNot(t, js, closure, "ne veut plus")
				if f.Closure == nil {
					t.Fatalf("pharmacy view: %s", js)
				}
			}},
		{name: "a consent granted again after revocation lets the partner read again", viewer: clientfile.Viewer{ActorID: "rehab-1", Role: "rehab"},
			check: func(t *testing.T, f clientfile.File, js string) { mustNot(t, js, closure, "ne veut plus") }},
		{name: "a revoked consent refuses the partner", viewer: clientfile.Viewer{ActorID: "org-1", Role: "community"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := p.FileFor("c1", tt.viewer)
			if tt.wantErr {
				if !errors.Is(err, clientfile.ErrNoConsent) {
					t.Fatalf("error %v, want ErrNoConsent", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(f)
			tl, _ := json.Marshal(clientfile.Entries(f))
			tt.check(t, f, string(b)+string(tl))
		})
	}
}

// The file holds the same consents as the one consent rule folds from the
// same events: reads and writes decide on the same value.
func TestTheFileHoldsTheConsentsTheRuleFolds(t *testing.T) {
	evs := build(closedHistory())
	p := clientfile.New()
	apply(t, p, evs)
	f, _ := p.File("c1")
	want := consent.Fold(evs)
	if len(f.Consents) != len(want) {
		t.Fatalf("file consents %+v, rule folds %v", f.Consents, want)
	}
	for cat, named := range want {
		if c, ok := f.Consents[cat]; !ok || c.PartnerID != named {
			t.Fatalf("file consents %+v, rule folds %v", f.Consents, want)
		}
	}
}
