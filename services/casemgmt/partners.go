package casemgmt

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/events/consent"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/services"
)

// The commands that involve a partner: referrals and their answers, the
// family doctor's letter and answer. Each decides on the client's stream
// with the one consent rule (events/consent): a partner acts only while the
// client's consent for its category is in force and covers the whole
// category or names it.

// SendReferral refers the client to a partner the client's consent covers
// (its category, or that partner by name).
func (s *Service) SendReferral(ctx context.Context, actor events.Actor, r events.ReferralSent) (ledger.Result, error) {
	if r.ReferralID == "" {
		r.ReferralID = "ref-" + uuid.NewString()[:8]
	}
	cat, err := s.partnerCategory(ctx, r.PartnerID)
	if err != nil {
		return ledger.Result{}, err
	}
	if r.Category == "" {
		r.Category = cat
	}
	if r.Category != cat {
		return ledger.Result{}, fmt.Errorf("%w: partner %s is a %s, not a %s", services.ErrBadRequest, r.PartnerID, cat, r.Category)
	}
	return s.update(ctx, actor, r.ClientID, true, func(c Client) ([]events.Payload, error) {
		if err := open(c, "referral"); err != nil {
			return nil, err
		}
		if !c.Allows(r.PartnerID, cat, consent.PurposeReferral) {
			return nil, fmt.Errorf("%w: client %s: %s", services.ErrRuleBroken, r.ClientID, c.Consents.Explain(r.PartnerID, cat, consent.PurposeReferral))
		}
		if _, dup := c.Referrals[r.ReferralID]; dup {
			return nil, fmt.Errorf("%w: referral %s exists", services.ErrRuleBroken, r.ReferralID)
		}
		return one(&r)
	})
}

// AnswerReferral records accepted, declined or completed, by the receiving
// partner itself or by staff. The partner answers only while the client's
// consent covers it (403 otherwise); staff may record a decline at any
// time, but not that a partner the consent no longer covers took the
// client on or finished (409).
func (s *Service) AnswerReferral(ctx context.Context, actor events.Actor, answer string, r events.ReferralAnswer) (ledger.Result, error) {
	from := map[string][]string{"accepted": {"sent"}, "declined": {"sent"}, "completed": {"accepted"}}
	allowed, ok := from[answer]
	if !ok {
		return ledger.Result{}, fmt.Errorf("%w: answer %q: accepted, declined or completed", services.ErrBadRequest, answer)
	}
	return s.update(ctx, actor, r.ClientID, true, func(c Client) ([]events.Payload, error) {
		ref, ok := c.Referrals[r.ReferralID]
		if !ok {
			return nil, fmt.Errorf("%w: referral %s of client %s", services.ErrNotFound, r.ReferralID, r.ClientID)
		}
		if isPartner(actor) {
			if actor.ID != ref.PartnerID {
				return nil, fmt.Errorf("%w: referral %s is addressed to %s", services.ErrForbidden, r.ReferralID, ref.PartnerID)
			}
			if !c.Allows(actor.ID, actor.Role, consent.PurposeAnswerReferral) {
				return nil, fmt.Errorf("%w: client %s: %s", services.ErrForbidden, r.ClientID, c.Consents.Explain(actor.ID, actor.Role, consent.PurposeAnswerReferral))
			}
		} else if answer != "declined" && !c.Allows(ref.PartnerID, ref.Category, consent.PurposeAnswerReferral) {
			return nil, fmt.Errorf("%w: client %s: %s", services.ErrRuleBroken, r.ClientID, c.Consents.Explain(ref.PartnerID, ref.Category, consent.PurposeAnswerReferral))
		}
		if !slices.Contains(allowed, ref.State) {
			return nil, fmt.Errorf("%w: referral %s is %s; it cannot be %s", services.ErrRuleBroken, r.ReferralID, ref.State, answer)
		}
		r.PartnerID = ref.PartnerID
		switch answer {
		case "accepted":
			return one(&events.ReferralAccepted{ReferralAnswer: r})
		case "declined":
			return one(&events.ReferralDeclined{ReferralAnswer: r})
		default:
			return one(&events.ReferralCompleted{ReferralAnswer: r})
		}
	})
}

// NotifyDoctor records that the family doctor was asked to confirm; the
// client's doctor consent must cover that doctor.
func (s *Service) NotifyDoctor(ctx context.Context, actor events.Actor, r events.DoctorNotified) (ledger.Result, error) {
	if err := s.isDoctor(ctx, r.DoctorID); err != nil {
		return ledger.Result{}, err
	}
	return s.update(ctx, actor, r.ClientID, true, func(c Client) ([]events.Payload, error) {
		if !c.Allows(r.DoctorID, events.CategoryDoctor, consent.PurposeDoctorLetter) {
			return nil, fmt.Errorf("%w: client %s: %s", services.ErrRuleBroken, r.ClientID,
				c.Consents.Explain(r.DoctorID, events.CategoryDoctor, consent.PurposeDoctorLetter))
		}
		return one(&r)
	})
}

// ConfirmDoctor records the doctor's answer ("is this your patient"). A
// doctor answers for itself; staff record an answer for a doctor they name.
// The answer (is_patient) is required, and the client's doctor consent
// must cover that doctor: a doctor it does not name is refused (403) and
// nothing is recorded, so it never becomes the client's family doctor.
func (s *Service) ConfirmDoctor(ctx context.Context, actor events.Actor, r events.DoctorConfirmed) (ledger.Result, error) {
	if isPartner(actor) {
		r.DoctorID = actor.ID
	}
	if err := r.Validate(); err != nil {
		return ledger.Result{}, fmt.Errorf("%w: %s: %w", services.ErrBadRequest, r.EventType(), err)
	}
	if !isPartner(actor) {
		if err := s.isDoctor(ctx, r.DoctorID); err != nil {
			return ledger.Result{}, err
		}
	}
	return s.update(ctx, actor, r.ClientID, true, func(c Client) ([]events.Payload, error) {
		if !c.Allows(r.DoctorID, events.CategoryDoctor, consent.PurposeConfirmPatient) {
			return nil, fmt.Errorf("%w: client %s: %s", services.ErrForbidden, r.ClientID,
				c.Consents.Explain(r.DoctorID, events.CategoryDoctor, consent.PurposeConfirmPatient))
		}
		return one(&r)
	})
}

// isDoctor checks that the directory lists id as a doctor.
func (s *Service) isDoctor(ctx context.Context, id string) error {
	cat, err := s.partnerCategory(ctx, id)
	if err != nil {
		return err
	}
	if cat != events.CategoryDoctor {
		return fmt.Errorf("%w: partner %s is not a doctor", services.ErrBadRequest, id)
	}
	return nil
}
