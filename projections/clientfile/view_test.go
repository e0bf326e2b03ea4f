package clientfile_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/projections/clientfile"
)

func fullFile(t *testing.T) clientfile.File {
	t.Helper()
	p := clientfile.New()
	apply(t, p, build(history()))
	f, ok := p.File("c1")
	if !ok {
		t.Fatal("no file")
	}
	return f
}

func TestViewShowsEachCallerWhatItNeeds(t *testing.T) {
	full := fullFile(t)
	tests := []struct {
		name    string
		viewer  clientfile.Viewer
		wantErr error
		check   func(t *testing.T, f clientfile.File, js string)
	}{
		{
			name:   "a case manager sees everything",
			viewer: clientfile.Viewer{ActorID: "cm-1", Role: events.RoleCaseManager},
			check: func(t *testing.T, f clientfile.File, js string) {
				if len(f.Visits) != 2 || len(f.Contacts) != 1 || f.Assessment == nil || len(f.Identifiers) != 1 || len(f.Referrals) != 2 {
					t.Fatalf("staff view is missing parts: %s", js)
				}
			},
		},
		{
			name:   "the auditor reads the whole file",
			viewer: clientfile.Viewer{ActorID: "aud-1", Role: events.RoleAuditor},
			check: func(t *testing.T, f clientfile.File, js string) {
				if len(f.Consents) != 3 || len(f.History) == 0 {
					t.Fatalf("auditor view: %s", js)
				}
			},
		},
		{
			name:   "the archivist sees the visits only",
			viewer: clientfile.Viewer{ActorID: "arch-1", Role: events.RoleArchivist},
			check: func(t *testing.T, f clientfile.File, js string) {
				if len(f.Visits) != 2 || f.GivenName != "" || f.Medications != nil || f.Plans != nil || f.Consents != nil {
					t.Fatalf("archivist view: %s", js)
				}
			},
		},
		{
			name:   "the consented doctor sees visits without free-text reasons, medications and the plan",
			viewer: clientfile.Viewer{ActorID: "doc-1", Role: "doctor"},
			check: func(t *testing.T, f clientfile.File, js string) {
				mustNot(t, js, "Crise d'anxiété", "Intoxication", "Isolement", "Sœur", "BELH58521199", "Dépendance")
				if len(f.Visits) != 2 || f.Visits[0].ReasonCategory != "mental_health" || len(f.Medications) != 1 ||
					len(f.Plans[0].Objectives) != 3 || len(f.Concerns) != 2 || f.FamilyDoctor == nil || len(f.Referrals) != 0 {
					t.Fatalf("doctor view: %s", js)
				}
				if len(f.Consents) != 1 || f.GivenName != "Hélène" || f.CaseManager == nil {
					t.Fatalf("doctor view: %s", js)
				}
			},
		},
		{
			name:    "another doctor is refused when the consent names one",
			viewer:  clientfile.Viewer{ActorID: "doc-2", Role: "doctor"},
			wantErr: clientfile.ErrNoConsent,
		},
		{
			name:   "the pharmacy sees medications and its own concerns, no visit or psychiatric history",
			viewer: clientfile.Viewer{ActorID: "ph-1", Role: "pharmacy"},
			check: func(t *testing.T, f clientfile.File, js string) {
				mustNot(t, js, "Crise", "mental_health", "Psychiatrie", "Intoxication", "Dépendance", "anxiété", "Autre pharmacie", "Groupe")
				if f.Visits != nil || len(f.Medications) != 1 || len(f.MedicationHistory) != 1 || len(f.Concerns) != 1 {
					t.Fatalf("pharmacy view: %s", js)
				}
				if len(f.Plans) != 1 || len(f.Plans[0].Objectives) != 1 || f.Plans[0].Objectives[0].ObjectiveID != "o1" || f.Enrolment == nil {
					t.Fatalf("pharmacy view of the plan: %s", js)
				}
			},
		},
		{
			name:   "the rehab centre sees its referral and its objective only",
			viewer: clientfile.Viewer{ActorID: "rehab-1", PartnerCategory: "rehab", Role: "rehab"},
			check: func(t *testing.T, f clientfile.File, js string) {
				mustNot(t, js, "Isolement", "Sertraline", "Crise", "Groupe")
				if len(f.Referrals) != 1 || f.Referrals[0].ReferralID != "r2" || len(f.Plans) != 1 || len(f.Plans[0].Objectives) != 1 {
					t.Fatalf("rehab view: %s", js)
				}
			},
		},
		{
			name:    "a community organization is refused once the client revoked that consent",
			viewer:  clientfile.Viewer{ActorID: "org-1", Role: "community"},
			wantErr: clientfile.ErrNoConsent,
		},
		{
			name:    "family without consent is refused",
			viewer:  clientfile.Viewer{ActorID: "fam-1", Role: "family"},
			wantErr: clientfile.ErrNoConsent,
		},
		{
			name:    "the hospital feed never reads files",
			viewer:  clientfile.Viewer{ActorID: "hl7-HSTA", Role: events.RoleSystem},
			wantErr: clientfile.ErrForbidden,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := clientfile.View(full, tc.viewer)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(f)
			tc.check(t, f, string(b))
			// The timeline of a view shows nothing the view hides.
			tl, _ := json.Marshal(clientfile.Entries(f))
			for _, word := range []string{"Crise d'anxiété", "BELH58521199"} {
				if !strings.Contains(string(b), word) && strings.Contains(string(tl), word) {
					t.Fatalf("timeline leaks %q", word)
				}
			}
		})
	}
}

func mustNot(t *testing.T, js string, words ...string) {
	t.Helper()
	for _, w := range words {
		if strings.Contains(js, w) {
			t.Fatalf("view shows %q: %s", w, js)
		}
	}
}

func TestViewDoesNotChangeTheFile(t *testing.T) {
	full := fullFile(t)
	before, _ := json.Marshal(full)
	if _, err := clientfile.View(full, clientfile.Viewer{ActorID: "doc-1", Role: "doctor"}); err != nil {
		t.Fatal(err)
	}
	after, _ := json.Marshal(full)
	if string(before) != string(after) {
		t.Fatal("viewing the file as the doctor changed it")
	}
}

func TestTimelineIsChronologicalAndBilingual(t *testing.T) {
	p := clientfile.New()
	apply(t, p, build(history()))
	tl := p.Timeline("c1")
	if len(tl) < 20 {
		t.Fatalf("timeline has %d entries", len(tl))
	}
	for i, e := range tl {
		if e.Label.FR == "" || e.Label.EN == "" || e.Label.FR == e.Type {
			t.Fatalf("entry %d has no label: %+v", i, e)
		}
		if i > 0 && e.At.Before(tl[i-1].At) {
			t.Fatalf("entry %d (%s) before entry %d", i, e.Type, i-1)
		}
	}
	want := []struct{ typ, fr, en string }{
		{events.TypeEDVisitStarted, "Arrivée à l'urgence (HSTA)", "ED arrival (HSTA)"},
		{events.TypeEDVisitEnded, "Départ de l'urgence (4 h 00)", "Left the ED (4 h 00)"},
		{events.TypeHospitalAdmitted, "Hospitalisation (Psychiatrie)", "Admitted (Psychiatrie)"},
		{events.TypeConsentRevoked, "Consentement retiré : organisme communautaire", "Consent revoked: community organization"},
		{events.TypeObjectiveMet, "Objectif atteint", "Objective met"},
		{"referral.accepted", "Référence acceptée", "Referral accepted"},
	}
	for _, w := range want {
		found := false
		for _, e := range tl {
			if e.Type == w.typ && e.Label.FR == w.fr && e.Label.EN == w.en {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s entry labelled %q / %q", w.typ, w.fr, w.en)
		}
	}
	if p.Timeline("nobody") != nil {
		t.Fatal("timeline of an unknown client")
	}
}
