package casemgmt_test

import (
	"context"
	"errors"
	"testing"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/services"
	"github.com/relais-health/relais/services/casemgmt"
	"github.com/relais-health/relais/services/pharmacy"
)

var cm = events.Actor{ID: "cm-1", Role: events.RoleCaseManager}

func setup(t *testing.T) (*casemgmt.Service, ledger.Ledger) {
	t.Helper()
	l := jstest.Ledger(t)
	ctx := context.Background()
	for stream, p := range map[string]events.Payload{
		"staff-cm-1":     &events.StaffRegistered{StaffID: "cm-1", Role: events.RoleCaseManager, Name: "CM"},
		"staff-arch-1":   &events.StaffRegistered{StaffID: "arch-1", Role: events.RoleArchivist, Name: "A"},
		"partner-org-1":  &events.PartnerRegistered{PartnerID: "org-1", Category: events.CategoryCommunity, Name: "Org"},
		"partner-rehab1": &events.PartnerRegistered{PartnerID: "rehab1", Category: events.CategoryRehab, Name: "CRD"},
		"partner-ph-1":   &events.PartnerRegistered{PartnerID: "ph-1", Category: events.CategoryPharmacy, Name: "Ph"},
	} {
		if _, err := l.Append(ctx, stream, ledger.NoStream, events.MustNew(p, cm)); err != nil {
			t.Fatal(err)
		}
	}
	s := casemgmt.New(l, nil)
	must := func(_ ledger.Result, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.RegisterClient(ctx, cm, events.ClientRegistered{ClientID: "c1", GivenName: "Hélène", FamilyName: "Bélanger", Identifiers: []events.Identifier{{Authority: "RAMQ", Value: "1"}}}))
	must(s.Flag(ctx, cm, events.ClientFlagged{ClientID: "c1", Programme: "defi-sante"}))
	must(s.Enrol(ctx, cm, events.ClientEnrolled{ClientID: "c1", Programme: "defi-sante", Consents: []string{"community", "pharmacy"}}))
	must(s.CreatePlan(ctx, cm, events.PlanCreated{ClientID: "c1", PlanID: "p1"}))
	must(s.AddObjective(ctx, cm, events.ObjectiveAdded{ClientID: "c1", PlanID: "p1", ObjectiveID: "o1", Description: "Prendre sa médication", ResponsiblePartner: "ph-1"}))
	return s, l
}

func TestCaseManagementRules(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(s *casemgmt.Service) error
		want error
	}{
		{"a registered client cannot be registered twice", func(s *casemgmt.Service) error {
			_, err := s.RegisterClient(ctx, cm, events.ClientRegistered{ClientID: "c1", GivenName: "x", FamilyName: "y", Identifiers: []events.Identifier{{Authority: "A", Value: "1"}}})
			return err
		}, services.ErrRuleBroken},
		{"nothing is recorded for an unknown client", func(s *casemgmt.Service) error {
			_, err := s.Flag(ctx, cm, events.ClientFlagged{ClientID: "ghost", Programme: "defi-sante"})
			return err
		}, services.ErrNotFound},
		{"a referral to an organization whose category has no consent is refused", func(s *casemgmt.Service) error {
			_, err := s.SendReferral(ctx, cm, events.ReferralSent{ClientID: "c1", PartnerID: "rehab1", Reason: "dépendance"})
			return err
		}, services.ErrRuleBroken},
		{"a referral to an unknown partner is refused", func(s *casemgmt.Service) error {
			_, err := s.SendReferral(ctx, cm, events.ReferralSent{ClientID: "c1", PartnerID: "nobody", Reason: "x"})
			return err
		}, services.ErrNotFound},
		{"a consent never granted cannot be revoked", func(s *casemgmt.Service) error {
			_, err := s.RevokeConsent(ctx, cm, events.ConsentRevoked{ClientID: "c1", Category: "family"})
			return err
		}, services.ErrRuleBroken},
		{"an objective met twice is refused", func(s *casemgmt.Service) error {
			if _, err := s.MeetObjective(ctx, cm, events.ObjectiveMet{ClientID: "c1", ObjectiveID: "o1"}); err != nil {
				return err
			}
			_, err := s.MeetObjective(ctx, cm, events.ObjectiveMet{ClientID: "c1", ObjectiveID: "o1"})
			return err
		}, services.ErrRuleBroken},
		{"an objective on a closed case is refused", func(s *casemgmt.Service) error {
			if _, err := s.Close(ctx, cm, events.CaseClosed{ClientID: "c1", Reason: "objectifs atteints"}); err != nil {
				return err
			}
			_, err := s.AddObjective(ctx, cm, events.ObjectiveAdded{ClientID: "c1", PlanID: "p1", ObjectiveID: "o2", Description: "x"})
			return err
		}, services.ErrRuleBroken},
		{"a case manager must have that role", func(s *casemgmt.Service) error {
			_, err := s.AssignCaseManager(ctx, cm, events.CaseManagerAssigned{ClientID: "c1", StaffID: "arch-1"})
			return err
		}, services.ErrBadRequest},
		{"a referral is answered only by the organization it is sent to", func(s *casemgmt.Service) error {
			if _, err := s.SendReferral(ctx, cm, events.ReferralSent{ClientID: "c1", ReferralID: "r1", PartnerID: "org-1", Reason: "isolement"}); err != nil {
				return err
			}
			_, err := s.AnswerReferral(ctx, events.Actor{ID: "ph-1", Role: "pharmacy"}, "accepted", events.ReferralAnswer{ClientID: "c1", ReferralID: "r1"})
			return err
		}, services.ErrForbidden},
		{"a referral cannot be completed before it is accepted", func(s *casemgmt.Service) error {
			if _, err := s.SendReferral(ctx, cm, events.ReferralSent{ClientID: "c1", ReferralID: "r1", PartnerID: "org-1", Reason: "isolement"}); err != nil {
				return err
			}
			_, err := s.AnswerReferral(ctx, events.Actor{ID: "org-1", Role: "community"}, "completed", events.ReferralAnswer{ClientID: "c1", ReferralID: "r1"})
			return err
		}, services.ErrRuleBroken},
		{"a revoked consent can be granted again", func(s *casemgmt.Service) error {
			if _, err := s.RevokeConsent(ctx, cm, events.ConsentRevoked{ClientID: "c1", Category: "community"}); err != nil {
				return err
			}
			_, err := s.GrantConsent(ctx, cm, events.ConsentGranted{ClientID: "c1", Category: "community"})
			return err
		}, nil},
		{"a referral lifecycle sent, accepted, completed is recorded", func(s *casemgmt.Service) error {
			if _, err := s.SendReferral(ctx, cm, events.ReferralSent{ClientID: "c1", ReferralID: "r2", PartnerID: "org-1", Reason: "isolement"}); err != nil {
				return err
			}
			org := events.Actor{ID: "org-1", Role: "community"}
			if _, err := s.AnswerReferral(ctx, org, "accepted", events.ReferralAnswer{ClientID: "c1", ReferralID: "r2"}); err != nil {
				return err
			}
			_, err := s.AnswerReferral(ctx, org, "completed", events.ReferralAnswer{ClientID: "c1", ReferralID: "r2", Note: "participe au groupe"})
			return err
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := setup(t)
			err := tt.run(s)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("want %v, got %v", tt.want, err)
			}
		})
	}
}

func TestPharmacyRecordsWhatChangedAndNeedsConsent(t *testing.T) {
	_, l := setup(t)
	ctx := context.Background()
	ph := pharmacy.New(l)
	pharm := events.Actor{ID: "ph-1", Role: events.CategoryPharmacy}
	if _, err := ph.UpdateProfile(ctx, pharm, events.MedicationProfileUpdated{ClientID: "c1", Medications: []events.Medication{{Name: "Sertraline", Dose: "50 mg"}, {Name: "Salbutamol"}}}); err != nil {
		t.Fatal(err)
	}
	res, err := ph.UpdateProfile(ctx, pharm, events.MedicationProfileUpdated{ClientID: "c1", Medications: []events.Medication{{Name: "Sertraline", Dose: "100 mg"}, {Name: "Metformine"}}})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := res.Events[0].Payload()
	m := p.(*events.MedicationProfileUpdated)
	if len(m.Added) != 1 || m.Added[0] != "Metformine" || len(m.Removed) != 1 || m.Removed[0] != "Salbutamol" || len(m.Changed) != 1 || m.Changed[0] != "Sertraline" {
		t.Fatalf("changes: %+v", m)
	}
	s := casemgmt.New(l, nil)
	if _, err := s.RevokeConsent(ctx, cm, events.ConsentRevoked{ClientID: "c1", Category: "pharmacy"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ph.RaiseConcern(ctx, pharm, events.PharmacistConcernRaised{ClientID: "c1", Concern: "renouvellements irréguliers"}); !errors.Is(err, services.ErrForbidden) {
		t.Fatalf("a pharmacy without consent: %v", err)
	}
}
