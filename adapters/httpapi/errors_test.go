package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

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

// wantStatus is the error table as docs/API.md states it, written out again
// by hand: invalid input 400, not allowed 403, unknown 404, a rule or
// concurrency conflict 409, an unsupported message 422, ledger unavailable
// 503.
var wantStatus = []struct {
	name   string
	err    error
	status int
}{
	{"httpapi.ErrBadJSON", ErrBadJSON, http.StatusBadRequest},
	{"httpapi.ErrForbidden", ErrForbidden, http.StatusForbidden},
	{"httpapi.ErrNotFound", ErrNotFound, http.StatusNotFound},
	{"services.ErrBadRequest", services.ErrBadRequest, http.StatusBadRequest},
	{"services.ErrForbidden", services.ErrForbidden, http.StatusForbidden},
	{"services.ErrNotFound", services.ErrNotFound, http.StatusNotFound},
	{"services.ErrRuleBroken", services.ErrRuleBroken, http.StatusConflict},
	{"edintake.ErrMalformed", edintake.ErrMalformed, http.StatusBadRequest},
	{"edintake.ErrRefused", edintake.ErrRefused, http.StatusForbidden},
	{"edintake.ErrUnsupported", edintake.ErrUnsupported, http.StatusUnprocessableEntity},
	{"edintake.ErrPatientMismatch", edintake.ErrPatientMismatch, http.StatusConflict},
	{"alerting.ErrForbidden", alerting.ErrForbidden, http.StatusForbidden},
	{"alerting.ErrNotFound", alerting.ErrNotFound, http.StatusNotFound},
	{"clientfile.ErrNoConsent", clientfile.ErrNoConsent, http.StatusForbidden},
	{"projections.ErrSetAsideNotFound", projections.ErrSetAsideNotFound, http.StatusNotFound},
	{"projections.ErrRetryFailed", projections.ErrRetryFailed, http.StatusConflict},
	{"clientfile.ErrForbidden", clientfile.ErrForbidden, http.StatusForbidden},
	{"clientfile.ErrNotFound", clientfile.ErrNotFound, http.StatusNotFound},
	{"reports.ErrBadQuery", reports.ErrBadQuery, http.StatusBadRequest},
	{"sse.ErrBadLastEventID", sse.ErrBadLastEventID, http.StatusBadRequest},
	{"webhook.ErrUnknownDelivery", webhook.ErrUnknownDelivery, http.StatusNotFound},
	{"events.ErrInvalid", events.ErrInvalid, http.StatusBadRequest},
	{"events.ErrUnknownType", events.ErrUnknownType, http.StatusBadRequest},
	{"ledger.ErrInvalidEvent", ledger.ErrInvalidEvent, http.StatusBadRequest},
	{"ledger.ErrStreamNotFound", ledger.ErrStreamNotFound, http.StatusNotFound},
	{"ledger.ErrWrongRevision", ledger.ErrWrongRevision, http.StatusConflict},
	{"ledger.ErrStreamDamaged", ledger.ErrStreamDamaged, http.StatusConflict},
	{"ledger.ErrOutcomeUnknown", ledger.ErrOutcomeUnknown, http.StatusServiceUnavailable},
	{"ledger.ErrUnavailable", ledger.ErrUnavailable, http.StatusServiceUnavailable},
	{"ledger.ErrClosed", ledger.ErrClosed, http.StatusServiceUnavailable},
}

func TestStatusOf(t *testing.T) {
	for _, tc := range wantStatus {
		for _, form := range []struct {
			how string
			err error
		}{
			{"as is", tc.err},
			{"wrapped with context", fmt.Errorf("flag client c1: %w", tc.err)},
			{"wrapped twice", fmt.Errorf("update client-c1: %w", fmt.Errorf("decide: %w", tc.err))},
			{"joined with an unknown error", errors.Join(errors.New("cleanup failed"), tc.err)},
		} {
			t.Run(tc.name+" "+form.how+" is "+http.StatusText(tc.status), func(t *testing.T) {
				if got := StatusOf(form.err); got != tc.status {
					t.Fatalf("StatusOf(%v) = %d, want %d", form.err, got, tc.status)
				}
			})
		}
	}
	for _, tc := range []struct {
		name   string
		err    error
		status int
	}{
		{"an unknown error is a 500", errors.New("boom"), http.StatusInternalServerError},
		{"a typed wrong-revision error is a conflict", &ledger.WrongRevisionError{Stream: "client-c1", Expected: 3, Actual: 4}, http.StatusConflict},
		{"a service's bad request wrapping the catalog's invalid is a 400", fmt.Errorf("%w: %w", services.ErrBadRequest, events.ErrInvalid), http.StatusBadRequest},
		{"a cancelled request is a 500 (not one of the kinds)", context.Canceled, http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := StatusOf(tc.err); got != tc.status {
				t.Fatalf("StatusOf(%v) = %d, want %d", tc.err, got, tc.status)
			}
		})
	}
}

// The table in errors.go and wantStatus list the same kinds, and no row of
// the table is shadowed by an earlier one.
func TestErrorTableIsComplete(t *testing.T) {
	listed := map[error]bool{}
	for _, tc := range wantStatus {
		listed[tc.err] = true
	}
	seen := map[error]bool{}
	for _, row := range errorTable {
		if seen[row.err] {
			t.Errorf("errorTable lists %v twice", row.err)
		}
		seen[row.err] = true
		if !listed[row.err] {
			t.Errorf("errorTable maps %v, which wantStatus does not list (add it with the status docs/API.md gives it)", row.err)
		}
		if got := StatusOf(row.err); got != row.status {
			t.Errorf("errorTable row %v → %d is shadowed: StatusOf answers %d", row.err, row.status, got)
		}
	}
	for _, tc := range wantStatus {
		if !seen[tc.err] {
			t.Errorf("%s is not in errorTable", tc.name)
		}
	}
}

// A handler's error reaches the client with the table's status, and the
// error's own message as the body (for a 4xx).
func TestHandlerErrorsAreMappedOnce(t *testing.T) {
	s := newServer(nil)
	for i, tc := range wantStatus {
		s.Handle("GET", fmt.Sprintf("/v1/err/%d", i), []string{events.RoleAdmin}, failing(fmt.Errorf("doing thing %d: %w", i, tc.err)))
	}
	srv := newTestServer(t, s)
	for i, tc := range wantStatus {
		t.Run(tc.name+" answers "+http.StatusText(tc.status), func(t *testing.T) {
			a := call(t, srv, "GET", fmt.Sprintf("/v1/err/%d", i), "tok-admin", "")
			if a.status != tc.status {
				t.Fatalf("status %d, want %d", a.status, tc.status)
			}
			if want := fmt.Sprintf("doing thing %d: %v", i, tc.err); tc.status < 500 && a.err.Error != want {
				t.Fatalf("error %q, want %q", a.err.Error, want)
			}
		})
	}
}
