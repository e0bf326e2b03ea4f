// Package access records who read which client file, and who tried and was
// refused. Every read of a file is a file.accessed event on the client's
// access stream, appended before the file is answered: no record, no read.
// Every refused read is a file.access_denied event on the same stream, so
// the auditor sees the attempts beside the reads. The access stream is kept
// apart from the client's own so reads never contend with care writes.
package access

import (
	"context"
	"fmt"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/services"
)

// Appender is the slice of the ledger the service needs.
type Appender interface {
	Append(ctx context.Context, stream string, expected int64, evs ...events.Event) (ledger.Result, error)
}

// Service records file accesses and refusals.
type Service struct{ l Appender }

// New returns the service.
func New(l Appender) *Service { return &Service{l: l} }

// RecordAccess records that actor opened clientID's file in view ("file",
// "timeline"). It appends with no expected revision: an access depends on
// no earlier one, and a retried read is a second access.
func (s *Service) RecordAccess(ctx context.Context, actor events.Actor, clientID, view string) (ledger.Result, error) {
	return s.record(ctx, "file access", clientID,
		&events.FileAccessed{ClientID: clientID, ActorID: actor.ID, Role: actor.Role, View: view}, actor)
}

// RecordDenial records that actor tried to open clientID's file in view
// and was refused for reason (events.DenialNoConsent, DenialRole,
// DenialForbidden). Like an access it depends on no earlier event.
func (s *Service) RecordDenial(ctx context.Context, actor events.Actor, clientID, view, reason string) (ledger.Result, error) {
	return s.record(ctx, "refused file access", clientID,
		&events.FileAccessDenied{ClientID: clientID, ActorID: actor.ID, Role: actor.Role, View: view, Reason: reason}, actor)
}

func (s *Service) record(ctx context.Context, what, clientID string, p events.Payload, actor events.Actor) (ledger.Result, error) {
	if !events.ValidStreamName(clientID) {
		return ledger.Result{}, fmt.Errorf("%w: client id %q", services.ErrBadRequest, clientID)
	}
	e, err := events.New(p, actor)
	if err != nil {
		return ledger.Result{}, fmt.Errorf("%w: %s of %s: %w", services.ErrBadRequest, what, clientID, err)
	}
	res, err := s.l.Append(ctx, events.AccessStream(clientID), ledger.Any, e)
	if err != nil {
		return ledger.Result{}, fmt.Errorf("record %s of %s: %w", what, clientID, err)
	}
	return res, nil
}
