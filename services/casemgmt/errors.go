package casemgmt

import (
	"fmt"

	"github.com/relais-health/relais/services"
)

// DuplicateIdentifierError refuses a registration that names a patient
// identifier another client already holds. It is a services.ErrRuleBroken
// (409); Holder is the id of the client who holds the identifier (never
// their name), so the case manager can look them up and, if they are the
// same person, merge the two.
type DuplicateIdentifierError struct {
	// Authority is the identifier's assigning authority (e.g. RAMQ); the
	// value is not repeated back.
	Authority string
	// Holder is the client who holds the identifier.
	Holder string
}

func (e *DuplicateIdentifierError) Error() string {
	return fmt.Sprintf("%v: the %s identifier is already held by client %s; if they are the same person, merge the clients (POST /v1/clients/{id}/merge)",
		services.ErrRuleBroken, e.Authority, e.Holder)
}

// Unwrap makes the error a services.ErrRuleBroken.
func (e *DuplicateIdentifierError) Unwrap() error { return services.ErrRuleBroken }
