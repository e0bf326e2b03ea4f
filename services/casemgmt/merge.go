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

// MergeRoles may merge two clients: a merge moves a person's whole history,
// so it is for those who own a caseload or the programme, not for pivot
// workers or partners.
var MergeRoles = []string{events.RoleCaseManager, events.RoleProgrammeManager, events.RoleAdmin}

// Merge records that client r.ClientID is the same person as client
// r.Into, which survives: client.merged on the duplicate's stream (it takes
// no more commands), the claims of its identifiers passed to the survivor,
// then client.absorbed on the survivor's stream with the duplicate's
// identifiers and patient keys. Each step is idempotent, so a merge that
// failed half-way is completed by sending it again. The result is the
// survivor's append, with the events of both streams.
func (s *Service) Merge(ctx context.Context, actor events.Actor, r events.ClientMerged) (ledger.Result, error) {
	if !slices.Contains(MergeRoles, actor.Role) {
		return ledger.Result{}, fmt.Errorf("%w: a %s cannot merge clients (%v)", services.ErrForbidden, actor.Role, MergeRoles)
	}
	for _, id := range []string{r.ClientID, r.Into} {
		if err := validClientID(id); err != nil {
			return ledger.Result{}, err
		}
	}
	if err := r.Validate(); err != nil {
		return ledger.Result{}, fmt.Errorf("%w: %s: %w", services.ErrBadRequest, r.EventType(), err)
	}
	survivor, err := s.client(ctx, r.Into)
	if err != nil {
		return ledger.Result{}, err
	}
	switch {
	case !survivor.Registered:
		return ledger.Result{}, fmt.Errorf("%w: client %s (into)", services.ErrNotFound, r.Into)
	case survivor.MergedInto != "":
		return ledger.Result{}, fmt.Errorf("%w: client %s was itself merged into client %s; merge into %s", services.ErrRuleBroken, r.Into, survivor.MergedInto, survivor.MergedInto)
	}
	dup, first, err := s.markMerged(ctx, actor, r)
	if err != nil {
		return ledger.Result{}, err
	}
	for _, id := range dup.Identifiers {
		_, err := s.claim(ctx, actor, r.Into, r.ClientID, id)
		var held *DuplicateIdentifierError
		if errors.As(err, &held) {
			// Held by a third client (registered before claims existed):
			// not the duplicate's to pass on.
			continue
		}
		if err != nil {
			return ledger.Result{}, fmt.Errorf("merge client %s into %s: %w", r.ClientID, r.Into, err)
		}
	}
	res, err := s.absorb(ctx, actor, r, dup)
	if err != nil {
		return ledger.Result{}, fmt.Errorf("merge client %s into %s: %w", r.ClientID, r.Into, err)
	}
	res.Events = append(first.Events, res.Events...)
	return res, nil
}

// markMerged appends client.merged to the duplicate's stream (nothing if
// it was already merged into the same survivor) and returns the duplicate
// as it was.
func (s *Service) markMerged(ctx context.Context, actor events.Actor, r events.ClientMerged) (Client, ledger.Result, error) {
	var dup Client
	res, err := ledger.Update(ctx, s.l, events.ClientStream(r.ClientID), func(history []events.Event) ([]events.Event, error) {
		dup = Fold(history)
		switch {
		case !dup.Registered:
			return nil, fmt.Errorf("%w: client %s", services.ErrNotFound, r.ClientID)
		case dup.MergedInto == r.Into:
			return nil, nil
		case dup.MergedInto != "":
			return nil, fmt.Errorf("%w: client %s was already merged into client %s", services.ErrRuleBroken, r.ClientID, dup.MergedInto)
		}
		e, err := events.New(&r, actor)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", services.ErrBadRequest, err)
		}
		return []events.Event{e}, nil
	})
	return dup, res, err
}

// absorb appends client.absorbed to the survivor's stream unless it
// already absorbed the duplicate.
func (s *Service) absorb(ctx context.Context, actor events.Actor, r events.ClientMerged, dup Client) (ledger.Result, error) {
	p := &events.ClientAbsorbed{ClientID: r.Into, Merged: r.ClientID, Identifiers: dup.Identifiers, PatientKeys: dup.PatientKeys, Reason: r.Reason}
	return ledger.Update(ctx, s.l, events.ClientStream(r.Into), func(history []events.Event) ([]events.Event, error) {
		for _, e := range history {
			if e.Type != events.TypeClientAbsorbed {
				continue
			}
			if q, err := e.Payload(); err == nil && q.(*events.ClientAbsorbed).Merged == r.ClientID {
				return nil, nil
			}
		}
		if into := Fold(history).MergedInto; into != "" {
			return nil, fmt.Errorf("%w: client %s was merged into client %s meanwhile; merge into %s", services.ErrRuleBroken, r.Into, into, into)
		}
		e, err := events.New(p, actor)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", services.ErrBadRequest, err)
		}
		return []events.Event{e}, nil
	})
}
