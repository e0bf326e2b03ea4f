package alerting

import "errors"

var (
	// ErrNotFound: no such alert (404).
	ErrNotFound = errors.New("alert not found")
	// ErrForbidden: the actor may not act on this alert (403).
	ErrForbidden = errors.New("not this actor's alert")
)
