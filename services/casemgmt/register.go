package casemgmt

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/services"
)

// register records r as a new client: the request is checked first (bad
// input changes nothing), then every identifier is claimed for the client
// on its claim stream, then client.registered is appended. A claim this
// registration made is released again if the registration is not recorded,
// unless the client turns out to be registered with that identifier (an
// append acknowledged late, or the same registration sent twice).
func (s *Service) register(ctx context.Context, actor events.Actor, r events.ClientRegistered) (ledger.Result, error) {
	if len(r.PatientKeys) > 0 {
		return ledger.Result{}, fmt.Errorf("%w: patient_keys: derived by Relais from the identifiers, never taken from the request", services.ErrBadRequest)
	}
	r.Identifiers = distinct(r.Identifiers)
	r.PatientKeys = s.patientKeys(r.Identifiers)
	if err := validClientID(r.ClientID); err != nil {
		return ledger.Result{}, err
	}
	if err := r.Validate(); err != nil {
		return ledger.Result{}, fmt.Errorf("%w: %s: %w", services.ErrBadRequest, r.EventType(), err)
	}
	current, err := s.client(ctx, r.ClientID)
	if err != nil {
		return ledger.Result{}, err
	}
	if current.Registered {
		return ledger.Result{}, fmt.Errorf("%w: client %s is already registered", services.ErrRuleBroken, r.ClientID)
	}
	claimed, err := s.claimAll(ctx, actor, r.ClientID, r.Identifiers)
	if err != nil {
		return ledger.Result{}, fmt.Errorf("register client %s: %w", r.ClientID, err)
	}
	res, err := s.update(ctx, actor, r.ClientID, false, func(c Client) ([]events.Payload, error) {
		if c.Registered {
			return nil, fmt.Errorf("%w: client %s is already registered", services.ErrRuleBroken, r.ClientID)
		}
		return one(&r)
	})
	if err != nil {
		return res, errors.Join(err, s.giveBack(ctx, actor, r.ClientID, claimed))
	}
	return res, nil
}

// giveBack releases the claims of a registration that was not recorded,
// keeping those of identifiers the client is registered with after all.
// When the client's stream cannot be read, nothing is released: a claim
// left held by an id that never registered is refused loudly (409 naming
// it), whereas a released identifier of a registered client would let a
// duplicate in.
func (s *Service) giveBack(ctx context.Context, actor events.Actor, clientID string, claimed []events.Identifier) error {
	if len(claimed) == 0 {
		return nil
	}
	c, err := s.client(context.WithoutCancel(ctx), clientID)
	if err != nil {
		return fmt.Errorf("claims of client %s kept: %w", clientID, err)
	}
	free := slices.DeleteFunc(slices.Clone(claimed), func(id events.Identifier) bool { return slices.Contains(c.Identifiers, id) })
	return s.releaseAll(ctx, actor, clientID, free, "registration not recorded")
}

// client reads and folds one client's stream (the zero client when it
// has none).
func (s *Service) client(ctx context.Context, clientID string) (Client, error) {
	history, err := s.l.Read(ctx, events.ClientStream(clientID), 1)
	if err != nil && !errors.Is(err, ledger.ErrStreamNotFound) {
		return Client{}, fmt.Errorf("read client %s: %w", clientID, err)
	}
	return Fold(history), nil
}

// validClientID checks a client id as update does, before anything that
// update does not cover (claims) is written.
func validClientID(id string) error {
	if !events.ValidStreamName(id) || len(id) > 64 {
		return fmt.Errorf("%w: client id %q: 1-64 letters, digits, '-' or '_'", services.ErrBadRequest, id)
	}
	return nil
}
