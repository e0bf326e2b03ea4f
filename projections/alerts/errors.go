package alerts

import "errors"

var (
	// ErrNotFound: no such alert.
	ErrNotFound = errors.New("alert not found")
	// ErrForbidden: the actor may not act on this alert.
	ErrForbidden = errors.New("not this actor's alert")
)
