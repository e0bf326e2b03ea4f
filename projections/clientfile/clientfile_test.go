package clientfile_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/projections/clientfile"
)

var (
	cm   = events.Actor{ID: "cm-1", Role: events.RoleCaseManager}
	feed = events.Actor{ID: "hl7-HSTA", Role: events.RoleSystem}
	t0   = time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC)
	yes  = func() *bool { b := true; return &b }()
)

// step is one event of a test history: a payload and when it happened
// (hours after t0).
type step struct {
	p events.Payload
	h float64
}

// build turns steps into events with increasing positions.
func build(steps []step) []events.Event {
	out := make([]events.Event, len(steps))
	for i, s := range steps {
		actor := cm
		if strings.HasPrefix(s.p.EventType(), "ed.") || strings.HasPrefix(s.p.EventType(), "hospital.") {
			actor = feed
		}
		e := events.MustNew(s.p, actor, events.WithOccurredAt(at(s.h)))
		e.Position = uint64(i + 1)
		out[i] = e
	}
	return out
}

func at(hours float64) time.Time { return t0.Add(time.Duration(hours * float64(time.Hour))) }

func apply(t *testing.T, p *clientfile.Projection, evs []events.Event) {
	t.Helper()
	for _, e := range evs {
		if err := p.Apply(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

func visit(client, key, number string) events.Visit {
	return events.Visit{ClientID: client, PatientKey: key, Facility: "HSTA", VisitNumber: number}
}

func stranger(key, number string) events.Visit {
	return events.Visit{PatientKey: key, Facility: "HSTA", VisitNumber: number,
		Identifier: &events.Identifier{Authority: "RAMQ", Value: "X" + key}}
}

func registered(id string, keys ...string) *events.ClientRegistered {
	return &events.ClientRegistered{ClientID: id, GivenName: "Hélène", FamilyName: "Bélanger", BirthDate: "1958-02-11",
		Identifiers: []events.Identifier{{Authority: "RAMQ", Value: "BELH58521199"}}, PatientKeys: keys}
}

func TestFoldBuildsTheFile(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		check func(t *testing.T, f clientfile.File)
	}{
		{
			name: "an ED visit records arrival, departure, length, facility and disposition",
			steps: []step{
				{registered("c1"), 0},
				{&events.EDVisitStarted{Visit: visit("c1", "pk1", "V1"), ArrivedAt: at(1), Reason: "Dyspnée", ReasonCategory: "respiratory"}, 1},
				{&events.EDVisitEnded{Visit: visit("c1", "pk1", "V1"), EndedAt: at(4.5), Disposition: "home"}, 4.5},
			},
			check: func(t *testing.T, f clientfile.File) {
				v := only(t, f.Visits)
				if !v.ArrivedAt.Equal(at(1)) || !v.EndedAt.Equal(at(4.5)) || v.LengthMinutes != 210 ||
					v.Facility != "HSTA" || v.VisitNumber != "V1" || v.Disposition != "home" || v.ReasonCategory != "respiratory" {
					t.Fatalf("visit %+v", v)
				}
			},
		},
		{
			name: "an admission ends the ED stay and the discharge is recorded",
			steps: []step{
				{&events.EDVisitStarted{Visit: visit("c1", "pk1", "V1"), ArrivedAt: at(0)}, 0},
				{&events.HospitalAdmitted{Visit: visit("c1", "pk1", "V1"), AdmittedAt: at(6), Unit: "Médecine"}, 6},
				{&events.HospitalDischarged{Visit: visit("c1", "pk1", "V1"), DischargedAt: at(72), Disposition: "home"}, 72},
			},
			check: func(t *testing.T, f clientfile.File) {
				v := only(t, f.Visits)
				if v.LengthMinutes != 360 || v.Unit != "Médecine" || !v.DischargedAt.Equal(at(72)) {
					t.Fatalf("visit %+v", v)
				}
			},
		},
		{
			name: "a correction updates the reason and a cancelled visit stays marked cancelled",
			steps: []step{
				{&events.EDVisitStarted{Visit: visit("c1", "pk1", "V1"), ArrivedAt: at(0), Reason: "Chute"}, 0},
				{&events.EDVisitUpdated{Visit: visit("c1", "pk1", "V1"), Reason: "Douleur thoracique", ReasonCategory: "cardio"}, 0.5},
				{&events.EDVisitCancelled{Visit: visit("c1", "pk1", "V1"), Trigger: "A11", Reason: "erreur"}, 1},
			},
			check: func(t *testing.T, f clientfile.File) {
				v := only(t, f.Visits)
				if !v.Cancelled || !v.CancelledAt.Equal(at(1)) || v.Reason != "Douleur thoracique" || v.ReasonCategory != "cardio" {
					t.Fatalf("visit %+v", v)
				}
			},
		},
		{
			name: "an A11 after an admission cancels the admission, not the ED visit",
			steps: []step{
				{&events.EDVisitStarted{Visit: visit("c1", "pk1", "V1"), ArrivedAt: at(0)}, 0},
				{&events.HospitalAdmitted{Visit: visit("c1", "pk1", "V1"), AdmittedAt: at(2)}, 2},
				{&events.EDVisitCancelled{Visit: visit("c1", "pk1", "V1"), Trigger: "A11"}, 3},
				{&events.EDVisitEnded{Visit: visit("c1", "pk1", "V1"), EndedAt: at(5)}, 5},
			},
			check: func(t *testing.T, f clientfile.File) {
				v := only(t, f.Visits)
				if v.Cancelled || !v.AdmittedAt.IsZero() || v.LengthMinutes != 300 {
					t.Fatalf("visit %+v", v)
				}
			},
		},
		{
			name: "an A13 cancels the discharge and the stay is open again",
			steps: []step{
				{&events.EDVisitStarted{Visit: visit("c1", "pk1", "V1"), ArrivedAt: at(0)}, 0},
				{&events.EDVisitEnded{Visit: visit("c1", "pk1", "V1"), EndedAt: at(2), Disposition: "home"}, 2},
				{&events.EDVisitCancelled{Visit: visit("c1", "pk1", "V1"), Trigger: "A13"}, 3},
			},
			check: func(t *testing.T, f clientfile.File) {
				v := only(t, f.Visits)
				if v.Cancelled || !v.EndedAt.IsZero() || v.Disposition != "" || v.LengthMinutes != 0 {
					t.Fatalf("visit %+v", v)
				}
			},
		},
		{
			name: "a visit under a registered patient key is linked without a client id, a stranger's is not kept",
			steps: []step{
				{registered("c1", "pk1"), 0},
				{&events.EDVisitStarted{Visit: stranger("pk1", "V1"), ArrivedAt: at(1)}, 1},
				{&events.EDVisitStarted{Visit: stranger("pk9", "V2"), ArrivedAt: at(2)}, 2},
			},
			check: func(t *testing.T, f clientfile.File) {
				if v := only(t, f.Visits); v.VisitNumber != "V1" {
					t.Fatalf("visit %+v", v)
				}
			},
		},
		{
			name: "a reason quoting field names does not change which visits are kept",
			steps: []step{
				{registered("c1", "pk1"), 0},
				{&events.EDVisitStarted{Visit: stranger("pk9", "V1"), ArrivedAt: at(1), Reason: `dit "patient_key":"pk1","client_id":"c1"`}, 1},
				{&events.EDVisitStarted{Visit: stranger("pk1", "V2"), ArrivedAt: at(2), Reason: `dit "patient_key":"pk9"`}, 2},
				{&events.EDVisitEnded{Visit: stranger("pk1", "V2"), EndedAt: at(3), Disposition: `"facility":"X"`}, 3},
			},
			check: func(t *testing.T, f clientfile.File) {
				if v := only(t, f.Visits); v.VisitNumber != "V2" || v.LengthMinutes != 60 {
					t.Fatalf("visit %+v", v)
				}
			},
		},
		{
			name: "visits are kept in arrival order whatever order they are recorded in",
			steps: []step{
				{&events.EDVisitStarted{Visit: visit("c1", "pk1", "V2"), ArrivedAt: at(48)}, 48},
				{&events.HospitalAdmitted{Visit: visit("c1", "pk1", "V1"), AdmittedAt: at(30)}, 49},
				{&events.EDVisitStarted{Visit: visit("c1", "pk1", "V1"), ArrivedAt: at(24)}, 50},
			},
			check: func(t *testing.T, f clientfile.File) {
				if len(f.Visits) != 2 || f.Visits[0].VisitNumber != "V1" || f.Visits[0].LengthMinutes != 360 {
					t.Fatalf("visits %+v", f.Visits)
				}
			},
		},
		{
			name: "a merge moves the merged key's visits to the surviving client",
			steps: []step{
				{registered("c1", "pk1"), 0},
				{&events.EDVisitStarted{Visit: visit("c2", "pk2", "V1"), ArrivedAt: at(1)}, 1},
				{&events.EDVisitStarted{Visit: visit("c1", "pk1", "V2"), ArrivedAt: at(2)}, 2},
				{&events.PatientMerged{Facility: "HSTA", SurvivingKey: "pk1", MergedKey: "pk2", SurvivingClient: "c1", MergedClient: "c2"}, 3},
				{&events.EDVisitEnded{Visit: stranger("pk2", "V1"), EndedAt: at(4)}, 4},
			},
			check: func(t *testing.T, f clientfile.File) {
				if len(f.Visits) != 2 || f.Visits[0].VisitNumber != "V1" || f.Visits[0].PatientKey != "pk1" || f.Visits[0].EndedAt.IsZero() {
					t.Fatalf("visits %+v", f.Visits)
				}
			},
		},
		{
			name: "a visit under a key merged twice (A into B, B into C) lands in the surviving client's file under C",
			steps: []step{
				{registered("c1", "pkC"), 0},
				{&events.EDVisitStarted{Visit: visit("c2", "pkA", "V1"), ArrivedAt: at(1)}, 1},
				{&events.PatientMerged{Facility: "HSTA", SurvivingKey: "pkB", MergedKey: "pkA", MergedClient: "c2"}, 2},
				{&events.PatientMerged{Facility: "HSTA", SurvivingKey: "pkC", MergedKey: "pkB", SurvivingClient: "c1"}, 3},
				{&events.EDVisitStarted{Visit: stranger("pkA", "V2"), ArrivedAt: at(4)}, 4},
			},
			check: func(t *testing.T, f clientfile.File) {
				if len(f.Visits) != 2 || f.Visits[0].VisitNumber != "V1" || f.Visits[1].VisitNumber != "V2" ||
					f.Visits[0].PatientKey != "pkC" || f.Visits[1].PatientKey != "pkC" {
					t.Fatalf("visits %+v", f.Visits)
				}
			},
		},
		{
			name: "a medication update without a diff is compared with the previous list",
			steps: []step{
				{&events.MedicationProfileUpdated{ClientID: "c1", PharmacyID: "ph-1", Medications: []events.Medication{{Name: "Sertraline", Dose: "50 mg"}, {Name: "Salbutamol"}}}, 0},
				{&events.MedicationProfileUpdated{ClientID: "c1", PharmacyID: "ph-1", Medications: []events.Medication{{Name: "Sertraline", Dose: "100 mg"}, {Name: "Metformine"}}}, 24},
			},
			check: func(t *testing.T, f clientfile.File) {
				if len(f.Medications) != 2 || f.Medications[0].Dose != "100 mg" || len(f.MedicationHistory) != 2 {
					t.Fatalf("medications %+v / %+v", f.Medications, f.MedicationHistory)
				}
				ch := f.MedicationHistory[1]
				if !reflect.DeepEqual(ch.Added, []string{"Metformine"}) || !reflect.DeepEqual(ch.Removed, []string{"Salbutamol"}) ||
					!reflect.DeepEqual(ch.Changed, []string{"Sertraline"}) {
					t.Fatalf("change %+v", ch)
				}
			},
		},
		{
			name: "objectives and referrals carry their status",
			steps: []step{
				{&events.PlanCreated{ClientID: "c1", PlanID: "p1"}, 0},
				{&events.ObjectiveAdded{ClientID: "c1", PlanID: "p1", ObjectiveID: "o1", Description: "Médication", ResponsiblePartner: "ph-1"}, 1},
				{&events.ObjectiveAdded{ClientID: "c1", PlanID: "p1", ObjectiveID: "o2", Description: "Groupe", ResponsiblePartner: "org-1"}, 1},
				{&events.ObjectiveAdded{ClientID: "c1", PlanID: "p1", ObjectiveID: "o3", Description: "Logement"}, 1},
				{&events.ObjectiveMet{ClientID: "c1", ObjectiveID: "o1"}, 30},
				{&events.ObjectiveAbandoned{ClientID: "c1", ObjectiveID: "o2", Reason: "déménagé"}, 31},
				{&events.ReferralSent{ClientID: "c1", ReferralID: "r1", PartnerID: "org-1", Category: "community", Reason: "Isolement"}, 2},
				{&events.ReferralAccepted{ReferralAnswer: events.ReferralAnswer{ClientID: "c1", ReferralID: "r1", PartnerID: "org-1"}}, 3},
				{&events.ReferralCompleted{ReferralAnswer: events.ReferralAnswer{ClientID: "c1", ReferralID: "r1", PartnerID: "org-1", Note: "terminé"}}, 40},
			},
			check: func(t *testing.T, f clientfile.File) {
				os := f.Plans[0].Objectives
				if os[0].Status != "met" || os[1].Status != "abandoned" || os[1].Note != "déménagé" || os[2].Status != "open" || f.OpenObjectives() != 1 {
					t.Fatalf("objectives %+v", os)
				}
				if r := f.Referrals[0]; r.State != "completed" || len(r.Steps) != 2 {
					t.Fatalf("referral %+v", r)
				}
			},
		},
		{
			name: "consents in force follow grants, enrolment and revocations",
			steps: []step{
				{&events.ConsentGranted{ClientID: "c1", Category: "doctor", PartnerID: "doc-1"}, 0},
				{&events.ClientEnrolled{ClientID: "c1", Programme: "defi-sante", EnrolledAt: at(1), Consents: []string{"pharmacy", "family", "doctor"}}, 1},
				{&events.ConsentRevoked{ClientID: "c1", Category: "family", Reason: "ne veut pas"}, 2},
			},
			check: func(t *testing.T, f clientfile.File) {
				if len(f.Consents) != 2 || f.Consents["doctor"].PartnerID != "doc-1" || f.Consents["pharmacy"].Category != "pharmacy" {
					t.Fatalf("consents %+v", f.Consents)
				}
				if f.FamilyDoctor == nil || f.FamilyDoctor.PartnerID != "doc-1" {
					t.Fatalf("family doctor %+v", f.FamilyDoctor)
				}
			},
		},
		{
			name: "a closed case is reopened by a new enrolment, which keeps the first enrolment date",
			steps: []step{
				{&events.ClientFlagged{ClientID: "c1", Programme: "defi-sante", Reason: "grand utilisateur"}, 0},
				{&events.ClientEnrolled{ClientID: "c1", Programme: "defi-sante", EnrolledAt: at(1)}, 1},
				{&events.CaseManagerAssigned{ClientID: "c1", StaffID: "cm-1"}, 1},
				{&events.PivotWorkerAssigned{ClientID: "c1", StaffID: "pw-1"}, 2},
				{&events.CaseClosed{ClientID: "c1", Reason: "objectifs atteints"}, 100},
				{&events.ClientEnrolled{ClientID: "c1", Programme: "defi-sante", EnrolledAt: at(200)}, 200},
			},
			check: func(t *testing.T, f clientfile.File) {
				if f.Closure != nil || !f.Enrolment.EnrolledAt.Equal(at(200)) || !f.Enrolment.FirstEnrolledAt.Equal(at(1)) {
					t.Fatalf("enrolment %+v closure %+v", f.Enrolment, f.Closure)
				}
				if f.CaseManager.StaffID != "cm-1" || f.PivotWorker.StaffID != "pw-1" || len(f.Flags) != 1 {
					t.Fatalf("assignments %+v %+v flags %+v", f.CaseManager, f.PivotWorker, f.Flags)
				}
			},
		},
		{
			name: "the doctor's answer and the assessment's support network are kept",
			steps: []step{
				{&events.ConsentGranted{ClientID: "c1", Category: "doctor", PartnerID: "doc-1"}, 0},
				{&events.DoctorNotified{ClientID: "c1", DoctorID: "doc-1", About: "inscription"}, 0},
				{&events.DoctorConfirmed{ClientID: "c1", DoctorID: "doc-1", IsPatient: yes}, 48},
				{&events.AssessmentCompleted{ClientID: "c1", StaffID: "cm-1", Summary: "isolée",
					SupportNetwork: []events.NetworkMember{{Category: "family", Name: "Sœur"}}}, 50},
				{&events.ContactMade{ClientID: "c1", StaffID: "cm-1", Channel: "phone", At: at(51)}, 51},
			},
			check: func(t *testing.T, f clientfile.File) {
				if d := f.FamilyDoctor; d == nil || d.Answer != "confirmed" || !d.NotifiedAt.Equal(at(0)) {
					t.Fatalf("doctor %+v", d)
				}
				if len(f.SupportNetwork) != 1 || f.Assessment.Summary != "isolée" || len(f.Contacts) != 1 {
					t.Fatalf("assessment %+v network %+v", f.Assessment, f.SupportNetwork)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := clientfile.New()
			apply(t, p, build(tc.steps))
			f, ok := p.File("c1")
			if !ok {
				t.Fatal("no file for c1")
			}
			tc.check(t, f)
		})
	}
}

func only(t *testing.T, vs []clientfile.Visit) clientfile.Visit {
	t.Helper()
	if len(vs) != 1 {
		t.Fatalf("want one visit, got %+v", vs)
	}
	return vs[0]
}

// history is a client's life in the programme, with strangers around it.
func history() []step {
	return []step{
		{&events.EDVisitStarted{Visit: stranger("pk1", "V0"), ArrivedAt: at(-500)}, -500},
		{registered("c1", "pk1"), 0},
		{&events.ClientFlagged{ClientID: "c1", Programme: "defi-sante"}, 0.1},
		{&events.CaseManagerAssigned{ClientID: "c1", StaffID: "cm-1"}, 0.2},
		{&events.EDVisitStarted{Visit: visit("c1", "pk1", "V1"), ArrivedAt: at(1), Reason: "Crise d'anxiété", ReasonCategory: "mental_health"}, 1},
		{&events.EDVisitStarted{Visit: stranger("pk7", "V2"), ArrivedAt: at(1.5)}, 1.5},
		{&events.ContactMade{ClientID: "c1", StaffID: "cm-1", Channel: "ed", At: at(2)}, 2},
		{&events.EDVisitEnded{Visit: visit("c1", "pk1", "V1"), EndedAt: at(5), Disposition: "home"}, 5},
		{&events.AssessmentCompleted{ClientID: "c1", StaffID: "cm-1", Summary: "Isolement, anxiété",
			SupportNetwork: []events.NetworkMember{{Category: "family", Name: "Sœur"}, {Category: "doctor", Name: "Dre Roy", PartnerID: "doc-1"}}}, 100},
		{&events.ClientEnrolled{ClientID: "c1", Programme: "defi-sante", EnrolledAt: at(101), Consents: []string{"doctor", "pharmacy", "community"}}, 101},
		{&events.ConsentGranted{ClientID: "c1", Category: "doctor", PartnerID: "doc-1"}, 101.1},
		{&events.ConsentGranted{ClientID: "c1", Category: "rehab"}, 101.2},
		{&events.DoctorNotified{ClientID: "c1", DoctorID: "doc-1", About: "inscription"}, 102},
		{&events.PlanCreated{ClientID: "c1", PlanID: "p1"}, 170},
		{&events.ObjectiveAdded{ClientID: "c1", PlanID: "p1", ObjectiveID: "o1", Description: "Prendre sa médication", ResponsiblePartner: "ph-1"}, 171},
		{&events.ObjectiveAdded{ClientID: "c1", PlanID: "p1", ObjectiveID: "o2", Description: "Groupe d'entraide", ResponsiblePartner: "org-1"}, 171},
		{&events.ObjectiveAdded{ClientID: "c1", PlanID: "p1", ObjectiveID: "o3", Description: "Suivi en dépendance", ResponsiblePartner: "rehab-1"}, 171},
		{&events.ReferralSent{ClientID: "c1", ReferralID: "r1", PartnerID: "org-1", Category: "community", Reason: "Isolement social"}, 172},
		{&events.ReferralSent{ClientID: "c1", ReferralID: "r2", PartnerID: "rehab-1", Category: "rehab", Reason: "Dépendance à l'alcool"}, 172},
		{&events.ReferralAccepted{ReferralAnswer: events.ReferralAnswer{ClientID: "c1", ReferralID: "r1", PartnerID: "org-1"}}, 200},
		{&events.MedicationProfileUpdated{ClientID: "c1", PharmacyID: "ph-1", Medications: []events.Medication{{Name: "Sertraline", Dose: "50 mg"}}}, 300},
		{&events.PharmacistConcernRaised{ClientID: "c1", PharmacyID: "ph-1", Concern: "Renouvellements irréguliers", NeedsMedicalEvaluation: true}, 301},
		{&events.PharmacistConcernRaised{ClientID: "c1", PharmacyID: "ph-2", Concern: "Autre pharmacie"}, 302},
		{&events.EDVisitStarted{Visit: visit("c1", "pk1", "V3"), ArrivedAt: at(400), Reason: "Intoxication", ReasonCategory: "addiction"}, 400},
		{&events.HospitalAdmitted{Visit: visit("c1", "pk1", "V3"), AdmittedAt: at(405), Unit: "Psychiatrie"}, 405},
		{&events.PatientMerged{Facility: "HSTA", SurvivingKey: "pk1", MergedKey: "pk8", SurvivingClient: "c1"}, 410},
		{&events.HospitalDischarged{Visit: visit("c1", "pk1", "V3"), DischargedAt: at(500)}, 500},
		{&events.ObjectiveMet{ClientID: "c1", ObjectiveID: "o1"}, 600},
		{&events.ConsentRevoked{ClientID: "c1", Category: "community", Reason: "ne veut plus"}, 700},
	}
}

func TestRebuildInTwoHalvesWithSnapshotEqualsOnePass(t *testing.T) {
	evs := build(history())
	for cut := 0; cut <= len(evs); cut++ {
		live := clientfile.New()
		apply(t, live, evs)

		first := clientfile.New()
		apply(t, first, evs[:cut])
		snap, err := first.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		resumed := clientfile.New()
		if err := resumed.Restore(snap); err != nil {
			t.Fatal(err)
		}
		// A runner may redeliver what the snapshot already holds.
		apply(t, resumed, evs[max(0, cut-2):])
		if live.Digest() != resumed.Digest() {
			t.Fatalf("cut at %d: resumed digest %s differs from one pass %s", cut, resumed.Digest(), live.Digest())
		}
	}
}

func TestDigestChangesWithTheState(t *testing.T) {
	evs := build(history())
	a, b := clientfile.New(), clientfile.New()
	apply(t, a, evs)
	apply(t, b, evs[:len(evs)-1])
	if a.Digest() == b.Digest() {
		t.Fatal("one event fewer, same digest")
	}
}

func TestRestoreRefusesAnotherLayout(t *testing.T) {
	if err := clientfile.New().Restore([]byte(`{"version":99}`)); err == nil {
		t.Fatal("restored a snapshot of an unknown version")
	}
}

func TestQueriesAreSafeWhileApplying(t *testing.T) {
	evs := build(history())
	p := clientfile.New()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if f, ok := p.File("c1"); ok {
				_, _ = clientfile.View(f, clientfile.Viewer{ActorID: "doc-1", Role: "doctor"})
			}
			_ = p.Timeline("c1")
			_ = p.Consented("c1", "doctor")
			_ = p.Digest()
		}
	}()
	apply(t, p, evs)
	close(stop)
	wg.Wait()
}

func TestFileForNamesWhyItRefuses(t *testing.T) {
	p := clientfile.New()
	apply(t, p, build(history()))
	if _, err := p.FileFor("nobody", clientfile.Viewer{Role: events.RoleCaseManager}); !errors.Is(err, clientfile.ErrNotFound) {
		t.Fatalf("unknown client: %v", err)
	}
	_, err := p.FileFor("c1", clientfile.Viewer{ActorID: "org-1", Role: "community"})
	var ce *clientfile.ConsentError
	if !errors.Is(err, clientfile.ErrNoConsent) || !errors.As(err, &ce) || ce.Category != "community" {
		t.Fatalf("revoked community consent: %v", err)
	}
	if !p.Consented("c1", "rehab") || p.Consented("c1", "community") || p.Consented("nobody", "rehab") {
		t.Fatal("Consented disagrees with the consents in force")
	}
	if got := p.Clients(); !reflect.DeepEqual(got, []string{"c1"}) {
		t.Fatalf("clients %v: strangers must not get a file", got)
	}
}
