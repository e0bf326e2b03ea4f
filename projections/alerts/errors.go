package alerts

import "errors"

// The projection has no commands left, so it returns neither of these: the
// alert commands and their errors are services/alerting's. They stay named
// only while adapters/httpapi/errors_test.go still lists them.
var (
	// ErrNotFound: no such alert.
	//
	// Deprecated: use alerting.ErrNotFound.
	ErrNotFound = errors.New("alert not found")
	// ErrForbidden: the actor may not act on this alert.
	//
	// Deprecated: use alerting.ErrForbidden.
	ErrForbidden = errors.New("not this actor's alert")
)
