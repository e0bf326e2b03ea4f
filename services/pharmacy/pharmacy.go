// Package pharmacy records what community pharmacists bring: the client's
// full medication profile (the event keeps what changed against the last
// one) and concerns that call for a medical evaluation. A pharmacy acts
// only for clients whose pharmacy consent is in force and covers it (the
// whole category, or that pharmacy by name): the one consent rule of
// events/consent, decided on the client's stream.
package pharmacy

import (
	"context"
	"fmt"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/events/consent"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/services"
	"github.com/relais-health/relais/services/casemgmt"
)

// Service handles pharmacy commands.
type Service struct{ l ledger.Appender }

// New returns the service.
func New(l ledger.Appender) *Service { return &Service{l: l} }

// update loads the client, checks that a pharmacy actor may do purpose
// for it, decides, and appends with the expected revision.
func (s *Service) update(ctx context.Context, actor events.Actor, clientID string, purpose consent.Purpose, d func(c casemgmt.Client) (events.Payload, error)) (ledger.Result, error) {
	if !events.ValidStreamName(clientID) {
		return ledger.Result{}, fmt.Errorf("%w: client id %q", services.ErrBadRequest, clientID)
	}
	return ledger.Update(ctx, s.l, events.ClientStream(clientID), func(history []events.Event) ([]events.Event, error) {
		c := casemgmt.Fold(history)
		if !c.Registered {
			return nil, fmt.Errorf("%w: client %s", services.ErrNotFound, clientID)
		}
		if actor.Role == events.CategoryPharmacy && !c.Allows(actor.ID, events.CategoryPharmacy, purpose) {
			return nil, fmt.Errorf("%w: client %s: %s", services.ErrForbidden, clientID,
				c.Consents.Explain(actor.ID, events.CategoryPharmacy, purpose))
		}
		p, err := d(c)
		if err != nil || p == nil {
			return nil, err
		}
		e, err := events.New(p, actor)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", services.ErrBadRequest, err)
		}
		return []events.Event{e}, nil
	})
}

// UpdateProfile records the full current medication list and what changed.
func (s *Service) UpdateProfile(ctx context.Context, actor events.Actor, r events.MedicationProfileUpdated) (ledger.Result, error) {
	if actor.Role == events.CategoryPharmacy {
		r.PharmacyID = actor.ID
	}
	return s.update(ctx, actor, r.ClientID, consent.PurposeMedications, func(c casemgmt.Client) (events.Payload, error) {
		r.Added, r.Removed, r.Changed = events.DiffMedications(c.Medications, r.Medications)
		if c.HasMedicationProfile && len(r.Added)+len(r.Removed)+len(r.Changed) == 0 {
			return nil, nil // the same list again: nothing to record
		}
		return &r, nil
	})
}

// RaiseConcern records a pharmacist's concern.
func (s *Service) RaiseConcern(ctx context.Context, actor events.Actor, r events.PharmacistConcernRaised) (ledger.Result, error) {
	if actor.Role == events.CategoryPharmacy {
		r.PharmacyID = actor.ID
	}
	return s.update(ctx, actor, r.ClientID, consent.PurposeConcern, func(casemgmt.Client) (events.Payload, error) { return &r, nil })
}
