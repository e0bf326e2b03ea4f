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

// A patient identifier belongs to one client at a time. Who holds it is
// decided on its own claim stream (events.IdentifierStream), not read from
// the client index: the index is a projection that may lag, and two
// registrations racing through it would both see the identifier free. On
// the claim stream the ledger's optimistic concurrency decides: the first
// claim is appended with the stream expected new (ledger.NoStream, as
// ledger.Update does for an empty history); the second gets
// ErrWrongRevision, reloads, sees the winner and is refused.

// Option configures the service.
type Option func(*Service)

// WithPatientSecret sets the installation's secret, with which the service
// derives a registered client's patient keys (events.PatientKey of each
// identifier); it must be the ED intake's. Without it a client is
// registered with no patient key: visits recorded before the registration
// are then not linked to them.
func WithPatientSecret(secret []byte) Option {
	return func(s *Service) { s.patientSecret = slices.Clone(secret) }
}

// holder folds a claim stream: the client who holds the identifier now, ""
// when nobody does.
func holder(history []events.Event) string {
	h := ""
	for _, e := range history {
		p, err := e.Payload()
		if err != nil {
			continue
		}
		switch v := p.(type) {
		case *events.ClientIdentifierClaimed:
			h = v.ClientID
		case *events.ClientIdentifierReleased:
			if v.ClientID == h {
				h = ""
			}
		}
	}
	return h
}

// claim makes clientID the holder of id unless another client holds it
// (a *DuplicateIdentifierError). from is the client it passes from, for a
// merge: the claim is then taken over from that holder only. It reports
// whether a claim was appended (false when clientID already held it).
func (s *Service) claim(ctx context.Context, actor events.Actor, clientID, from string, id events.Identifier) (bool, error) {
	appended := false
	_, err := ledger.Update(ctx, s.l, events.IdentifierStream(id), func(history []events.Event) ([]events.Event, error) {
		appended = false
		switch h := holder(history); {
		case h == clientID:
			return nil, nil
		case h != "" && h != from:
			return nil, &DuplicateIdentifierError{Authority: id.Authority, Holder: h}
		}
		e, err := events.New(&events.ClientIdentifierClaimed{ClientID: clientID, Authority: id.Authority, From: from}, actor)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", services.ErrBadRequest, err)
		}
		appended = true
		return []events.Event{e}, nil
	})
	if err != nil {
		return false, fmt.Errorf("claim the %s identifier for client %s: %w", id.Authority, clientID, err)
	}
	return appended, nil
}

// release gives back a claim of clientID (only if clientID still holds it).
func (s *Service) release(ctx context.Context, actor events.Actor, clientID string, id events.Identifier, reason string) error {
	_, err := ledger.Update(ctx, s.l, events.IdentifierStream(id), func(history []events.Event) ([]events.Event, error) {
		if holder(history) != clientID {
			return nil, nil
		}
		e, err := events.New(&events.ClientIdentifierReleased{ClientID: clientID, Authority: id.Authority, Reason: reason}, actor)
		if err != nil {
			return nil, err
		}
		return []events.Event{e}, nil
	})
	if err != nil {
		return fmt.Errorf("release the %s identifier of client %s: %w", id.Authority, clientID, err)
	}
	return nil
}

// claimAll claims every identifier for clientID, in order. If one is held
// by another client, the claims this call made are released again and the
// refusal is returned; claimed lists what this call appended.
func (s *Service) claimAll(ctx context.Context, actor events.Actor, clientID string, ids []events.Identifier) (claimed []events.Identifier, err error) {
	// Look first, claim after: a registration refused for its second
	// identifier then leaves no claim behind in the common case.
	for _, id := range ids {
		history, err := s.l.Read(ctx, events.IdentifierStream(id), 1)
		if err != nil && !errors.Is(err, ledger.ErrStreamNotFound) {
			return nil, fmt.Errorf("read the claim of the %s identifier: %w", id.Authority, err)
		}
		if h := holder(history); h != "" && h != clientID {
			return nil, &DuplicateIdentifierError{Authority: id.Authority, Holder: h}
		}
	}
	for _, id := range ids {
		appended, err := s.claim(ctx, actor, clientID, "", id)
		if err != nil {
			return nil, errors.Join(err, s.releaseAll(ctx, actor, clientID, claimed, "registration refused: "+refusal(err)))
		}
		if appended {
			claimed = append(claimed, id)
		}
	}
	return claimed, nil
}

// releaseAll releases the claims made by a registration that failed; it
// uses its own context so a cancelled request still gives them back.
func (s *Service) releaseAll(ctx context.Context, actor events.Actor, clientID string, ids []events.Identifier, reason string) error {
	ctx = context.WithoutCancel(ctx)
	var errs []error
	for _, id := range ids {
		errs = append(errs, s.release(ctx, actor, clientID, id, reason))
	}
	return errors.Join(errs...)
}

// refusal is the kind of a failure, short enough for a release reason.
func refusal(err error) string {
	var dup *DuplicateIdentifierError
	switch {
	case errors.As(err, &dup):
		return "another identifier is held by client " + dup.Holder
	case errors.Is(err, services.ErrRuleBroken):
		return "rule broken"
	default:
		return "not recorded"
	}
}

// distinct returns ids without repeats, in order.
func distinct(ids []events.Identifier) []events.Identifier {
	var out []events.Identifier
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// patientKeys derives the keys of the identifiers with the installation's
// secret (none without one).
func (s *Service) patientKeys(ids []events.Identifier) []string {
	if len(s.patientSecret) == 0 {
		return nil
	}
	keys := make([]string, 0, len(ids))
	for _, id := range ids {
		keys = appendNew(keys, events.PatientKey(s.patientSecret, id))
	}
	return keys
}
