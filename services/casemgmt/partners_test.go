package casemgmt_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/services"
	"github.com/relais-health/relais/services/casemgmt"
	"github.com/relais-health/relais/services/pharmacy"
)

var (
	doc1   = events.Actor{ID: "doc-1", Role: events.CategoryDoctor}
	doc2   = events.Actor{ID: "doc-2", Role: events.CategoryDoctor}
	ph1    = events.Actor{ID: "ph-1", Role: events.CategoryPharmacy}
	ph2    = events.Actor{ID: "ph-2", Role: events.CategoryPharmacy}
	rehab1 = events.Actor{ID: "rehab1", Role: events.CategoryRehab}
	yes    = func() *bool { b := true; return &b }()
)

// partnerSetup is setup plus two doctors, a second pharmacy and a second
// rehab centre; client c1 has a doctor consent naming doc-1, a pharmacy
// consent naming ph-1, a rehab consent for the whole category and a
// referral r1 to rehab1.
func partnerSetup(t *testing.T) (*casemgmt.Service, *pharmacy.Service, ledger.Ledger) {
	t.Helper()
	s, l := setup(t)
	ctx := context.Background()
	for _, p := range []*events.PartnerRegistered{
		{PartnerID: "doc-1", Category: events.CategoryDoctor, Name: "Clinique"},
		{PartnerID: "doc-2", Category: events.CategoryDoctor, Name: "GMF"},
		{PartnerID: "ph-2", Category: events.CategoryPharmacy, Name: "Ph 2"},
		{PartnerID: "rehab2", Category: events.CategoryRehab, Name: "CRD 2"},
	} {
		if _, err := l.Append(ctx, events.PartnerStream(p.PartnerID), ledger.NoStream, events.MustNew(p, cm)); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []events.ConsentGranted{
		{ClientID: "c1", Category: events.CategoryDoctor, PartnerID: "doc-1"},
		{ClientID: "c1", Category: events.CategoryPharmacy, PartnerID: "ph-1"},
		{ClientID: "c1", Category: events.CategoryRehab},
	} {
		if _, err := s.GrantConsent(ctx, cm, g); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.SendReferral(ctx, cm, events.ReferralSent{ClientID: "c1", ReferralID: "r1", PartnerID: "rehab1", Reason: "dépendance"}); err != nil {
		t.Fatal(err)
	}
	return s, pharmacy.New(l), l
}

func revision(t *testing.T, l ledger.Ledger) int {
	t.Helper()
	evs, err := l.Read(context.Background(), events.ClientStream("c1"), 1)
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// Every partner write decides with the one consent rule on the client's
// stream; a refusal records nothing.
func TestPartnerWritesFollowTheConsentRule(t *testing.T) {
	ctx := context.Background()
	revokeRehab := func(s *casemgmt.Service) error {
		_, err := s.RevokeConsent(ctx, cm, events.ConsentRevoked{ClientID: "c1", Category: events.CategoryRehab})
		return err
	}
	tests := []struct {
		name    string
		before  func(s *casemgmt.Service) error
		run     func(s *casemgmt.Service, ph *pharmacy.Service) (ledger.Result, error)
		want    error
		wantMsg string
	}{
		{name: "a doctor the consent does not name cannot confirm the client is their patient",
			run: func(s *casemgmt.Service, _ *pharmacy.Service) (ledger.Result, error) {
				return s.ConfirmDoctor(ctx, doc2, events.DoctorConfirmed{ClientID: "c1", IsPatient: yes})
			}, want: services.ErrForbidden, wantMsg: "names doc-1"},
		{name: "staff cannot record a confirmation for a doctor the consent does not name",
			run: func(s *casemgmt.Service, _ *pharmacy.Service) (ledger.Result, error) {
				return s.ConfirmDoctor(ctx, cm, events.DoctorConfirmed{ClientID: "c1", DoctorID: "doc-2", IsPatient: yes})
			}, want: services.ErrForbidden},
		{name: "the doctor the consent names confirms",
			run: func(s *casemgmt.Service, _ *pharmacy.Service) (ledger.Result, error) {
				return s.ConfirmDoctor(ctx, doc1, events.DoctorConfirmed{ClientID: "c1", IsPatient: yes})
			}},
		{name: "a confirmation without is_patient is refused and names the field",
			run: func(s *casemgmt.Service, _ *pharmacy.Service) (ledger.Result, error) {
				return s.ConfirmDoctor(ctx, doc1, events.DoctorConfirmed{ClientID: "c1"})
			}, want: services.ErrBadRequest, wantMsg: "is_patient"},
		{name: "any doctor confirms under a consent for the whole category",
			before: func(s *casemgmt.Service) error {
				_, err := s.GrantConsent(ctx, cm, events.ConsentGranted{ClientID: "c1", Category: events.CategoryDoctor})
				return err
			},
			run: func(s *casemgmt.Service, _ *pharmacy.Service) (ledger.Result, error) {
				return s.ConfirmDoctor(ctx, doc2, events.DoctorConfirmed{ClientID: "c1", IsPatient: yes})
			}},
		{name: "staff cannot ask a doctor the consent does not name",
			run: func(s *casemgmt.Service, _ *pharmacy.Service) (ledger.Result, error) {
				return s.NotifyDoctor(ctx, cm, events.DoctorNotified{ClientID: "c1", DoctorID: "doc-2", About: "inscription"})
			}, want: services.ErrRuleBroken},
		{name: "a second pharmacy cannot update the profile when the consent names another",
			run: func(_ *casemgmt.Service, ph *pharmacy.Service) (ledger.Result, error) {
				return ph.UpdateProfile(ctx, ph2, events.MedicationProfileUpdated{ClientID: "c1", Medications: []events.Medication{{Name: "Lorazépam"}}})
			}, want: services.ErrForbidden, wantMsg: "names ph-1"},
		{name: "a second pharmacy cannot raise a concern when the consent names another",
			run: func(_ *casemgmt.Service, ph *pharmacy.Service) (ledger.Result, error) {
				return ph.RaiseConcern(ctx, ph2, events.PharmacistConcernRaised{ClientID: "c1", Concern: "x"})
			}, want: services.ErrForbidden},
		{name: "the pharmacy the consent names updates the profile",
			run: func(_ *casemgmt.Service, ph *pharmacy.Service) (ledger.Result, error) {
				return ph.UpdateProfile(ctx, ph1, events.MedicationProfileUpdated{ClientID: "c1", Medications: []events.Medication{{Name: "Sertraline"}}})
			}},
		{name: "a rehab centre cannot accept a referral once the rehab consent is revoked", before: revokeRehab,
			run: func(s *casemgmt.Service, _ *pharmacy.Service) (ledger.Result, error) {
				return s.AnswerReferral(ctx, rehab1, "accepted", events.ReferralAnswer{ClientID: "c1", ReferralID: "r1"})
			}, want: services.ErrForbidden, wantMsg: "no rehab consent"},
		{name: "staff cannot record that a partner no longer covered accepted", before: revokeRehab,
			run: func(s *casemgmt.Service, _ *pharmacy.Service) (ledger.Result, error) {
				return s.AnswerReferral(ctx, cm, "accepted", events.ReferralAnswer{ClientID: "c1", ReferralID: "r1"})
			}, want: services.ErrRuleBroken},
		{name: "staff may still record a decline after the revocation", before: revokeRehab,
			run: func(s *casemgmt.Service, _ *pharmacy.Service) (ledger.Result, error) {
				return s.AnswerReferral(ctx, cm, "declined", events.ReferralAnswer{ClientID: "c1", ReferralID: "r1", Note: "consentement retiré"})
			}},
		{name: "a rehab centre accepts again once the consent is granted again",
			before: func(s *casemgmt.Service) error {
				if err := revokeRehab(s); err != nil {
					return err
				}
				_, err := s.GrantConsent(ctx, cm, events.ConsentGranted{ClientID: "c1", Category: events.CategoryRehab})
				return err
			},
			run: func(s *casemgmt.Service, _ *pharmacy.Service) (ledger.Result, error) {
				return s.AnswerReferral(ctx, rehab1, "accepted", events.ReferralAnswer{ClientID: "c1", ReferralID: "r1"})
			}},
		{name: "a rehab centre the re-granted consent does not name cannot accept",
			before: func(s *casemgmt.Service) error {
				_, err := s.GrantConsent(ctx, cm, events.ConsentGranted{ClientID: "c1", Category: events.CategoryRehab, PartnerID: "rehab2"})
				return err
			},
			run: func(s *casemgmt.Service, _ *pharmacy.Service) (ledger.Result, error) {
				return s.AnswerReferral(ctx, rehab1, "accepted", events.ReferralAnswer{ClientID: "c1", ReferralID: "r1"})
			}, want: services.ErrForbidden, wantMsg: "names rehab2"},
		{name: "a referral to a partner the consent does not name is refused",
			before: func(s *casemgmt.Service) error {
				_, err := s.GrantConsent(ctx, cm, events.ConsentGranted{ClientID: "c1", Category: events.CategoryRehab, PartnerID: "rehab1"})
				return err
			},
			run: func(s *casemgmt.Service, _ *pharmacy.Service) (ledger.Result, error) {
				return s.SendReferral(ctx, cm, events.ReferralSent{ClientID: "c1", ReferralID: "r2", PartnerID: "rehab2", Reason: "x"})
			}, want: services.ErrRuleBroken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ph, l := partnerSetup(t)
			if tt.before != nil {
				if err := tt.before(s); err != nil {
					t.Fatal(err)
				}
			}
			n := revision(t, l)
			res, err := tt.run(s, ph)
			if tt.want == nil {
				if err != nil || len(res.Events) != 1 || revision(t, l) != n+1 {
					t.Fatalf("want one event recorded, got %v (%d events, stream %d -> %d)", err, len(res.Events), n, revision(t, l))
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(fmt.Sprint(err), tt.wantMsg) {
				t.Fatalf("want %v saying %q, got %v", tt.want, tt.wantMsg, err)
			}
			if got := revision(t, l); got != n {
				t.Fatalf("a refused write recorded %d events", got-n)
			}
		})
	}
}
