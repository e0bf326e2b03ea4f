package httpapi

import (
	"errors"
	"net/http"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

// errorStatus is one row of the error table.
type errorStatus struct {
	err    error
	status int
}

// defaultErrors is where THE mapping from error kinds to HTTP statuses
// starts; the first match wins. cmd/relais adds the services' and
// projections' kinds with MapError at start-up, before serving.
var defaultErrors = []errorStatus{
	{ErrBadJSON, http.StatusBadRequest},
	{events.ErrInvalid, http.StatusBadRequest},
	{events.ErrUnknownType, http.StatusBadRequest},
	{ledger.ErrInvalidEvent, http.StatusBadRequest},
	{ledger.ErrStreamNotFound, http.StatusNotFound},
	{ledger.ErrWrongRevision, http.StatusConflict},
	{ledger.ErrUnavailable, http.StatusServiceUnavailable},
	{ledger.ErrClosed, http.StatusServiceUnavailable},
}

// MapError adds an error kind to the table, ahead of the defaults. Call it
// only before serving.
func (s *Server) MapError(err error, status int) {
	s.errors = append([]errorStatus{{err, status}}, s.errors...)
}

// StatusOf returns the status for err (500 when no kind matches).
func (s *Server) StatusOf(err error) int {
	for _, row := range s.errors {
		if errors.Is(err, row.err) {
			return row.status
		}
	}
	return http.StatusInternalServerError
}
