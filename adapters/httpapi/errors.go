package httpapi

import (
	"errors"
	"net/http"

	"github.com/relais-health/relais/delivery/sse"
	"github.com/relais-health/relais/delivery/webhook"
	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/projections"
	"github.com/relais-health/relais/projections/clientfile"
	"github.com/relais-health/relais/projections/reports"
	"github.com/relais-health/relais/services"
	"github.com/relais-health/relais/services/alerting"
	"github.com/relais-health/relais/services/edintake"
)

var (
	// ErrBadJSON wraps request bodies and query parameters that do not
	// decode (400).
	ErrBadJSON = errors.New("bad request body")
	// ErrForbidden: the route lets the caller's role in, but not for this
	// target, e.g. a case manager reading another's caseload (403).
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: what the path names does not exist, e.g. the caseload of
	// a case manager the directory does not know (404).
	ErrNotFound = errors.New("not found")
)

// errorStatus is one row of the error table.
type errorStatus struct {
	err    error
	status int
}

// errorTable is THE mapping from error kinds to HTTP statuses, every kind a
// handler can return by name. The first row that matches (errors.Is) wins:
// the adapter's and the domain's kinds come before the event catalog's and
// the ledger's, which they may wrap. Anything else is a 500 whose text is
// logged, never answered.
var errorTable = []errorStatus{
	// The request, as this adapter reads it.
	{ErrBadJSON, http.StatusBadRequest},
	{ErrForbidden, http.StatusForbidden},
	{ErrNotFound, http.StatusNotFound},

	// Write side: the services.
	{services.ErrBadRequest, http.StatusBadRequest},
	{services.ErrForbidden, http.StatusForbidden},
	{services.ErrNotFound, http.StatusNotFound},
	{services.ErrRuleBroken, http.StatusConflict},
	{edintake.ErrMalformed, http.StatusBadRequest},
	{edintake.ErrRefused, http.StatusForbidden},
	{edintake.ErrUnsupported, http.StatusUnprocessableEntity},
	{edintake.ErrPatientMismatch, http.StatusConflict},
	{alerting.ErrForbidden, http.StatusForbidden},
	{alerting.ErrNotFound, http.StatusNotFound},

	// Read side: the projections.
	{projections.ErrSetAsideNotFound, http.StatusNotFound},
	{projections.ErrRetryFailed, http.StatusConflict},
	{clientfile.ErrNoConsent, http.StatusForbidden},
	{clientfile.ErrForbidden, http.StatusForbidden},
	{clientfile.ErrNotFound, http.StatusNotFound},
	{reports.ErrBadQuery, http.StatusBadRequest},

	// Delivery.
	{sse.ErrBadLastEventID, http.StatusBadRequest},
	{webhook.ErrUnknownDelivery, http.StatusNotFound},

	// The event catalog and the ledger, last: the kinds above may wrap them.
	{events.ErrInvalid, http.StatusBadRequest},
	{events.ErrUnknownType, http.StatusBadRequest},
	{ledger.ErrInvalidEvent, http.StatusBadRequest},
	{ledger.ErrStreamNotFound, http.StatusNotFound},
	{ledger.ErrWrongRevision, http.StatusConflict},
	{ledger.ErrStreamDamaged, http.StatusConflict},
	{ledger.ErrOutcomeUnknown, http.StatusServiceUnavailable},
	{ledger.ErrUnavailable, http.StatusServiceUnavailable},
	{ledger.ErrClosed, http.StatusServiceUnavailable},
}

// StatusOf returns the HTTP status for err by the error table (500 when no
// kind matches).
func StatusOf(err error) int {
	for _, row := range errorTable {
		if errors.Is(err, row.err) {
			return row.status
		}
	}
	return http.StatusInternalServerError
}
