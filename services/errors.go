// Package services holds what all command handlers share: the error kinds
// the API maps to statuses through its one table.
package services

import "errors"

var (
	// ErrNotFound: the client, staff member or partner does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrForbidden: the actor may not do this, e.g. a partner acting for a
	// client who has not consented to its category (403).
	ErrForbidden = errors.New("forbidden")
	// ErrRuleBroken: the request breaks a rule of the programme, e.g. an
	// objective on a closed case (409).
	ErrRuleBroken = errors.New("rule broken")
	// ErrBadRequest: malformed input (400).
	ErrBadRequest = errors.New("bad request")
)
