package projections

import "errors"

var (
	// ErrSetAsideNotFound: no projection set aside an event by that id.
	ErrSetAsideNotFound = errors.New("no such set-aside event")
	// ErrRetryFailed: a set-aside event failed again when retried; it
	// stays set aside with the new error.
	ErrRetryFailed = errors.New("set-aside event failed again")
)
