// Package access records who read which client file. Every read of a file
// is a file.accessed event on the client's access stream, appended before
// the file is answered: no record, no read. The access stream is kept apart
// from the client's own so reads never contend with care writes.
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

// Service records file accesses.
type Service struct{ l Appender }

// New returns the service.
func New(l Appender) *Service { return &Service{l: l} }

// RecordAccess records that actor opened clientID's file in view ("file",
// "timeline"). It appends with no expected revision: an access depends on
// no earlier one, and a retried read is a second access.
func (s *Service) RecordAccess(ctx context.Context, actor events.Actor, clientID, view string) (ledger.Result, error) {
	if !events.ValidStreamName(clientID) {
		return ledger.Result{}, fmt.Errorf("%w: client id %q", services.ErrBadRequest, clientID)
	}
	e, err := events.New(&events.FileAccessed{ClientID: clientID, ActorID: actor.ID, Role: actor.Role, View: view}, actor)
	if err != nil {
		return ledger.Result{}, fmt.Errorf("%w: file access of %s: %w", services.ErrBadRequest, clientID, err)
	}
	res, err := s.l.Append(ctx, events.AccessStream(clientID), ledger.Any, e)
	if err != nil {
		return ledger.Result{}, fmt.Errorf("record file access of %s: %w", clientID, err)
	}
	return res, nil
}
