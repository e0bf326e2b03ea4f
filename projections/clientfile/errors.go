package clientfile

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound: no file for this client.
	ErrNotFound = errors.New("client file not found")
	// ErrNoConsent: the client has not consented to the caller's partner
	// category (or consented only for another partner of it). The API
	// answers 403. The error returned is a *ConsentError that matches it.
	ErrNoConsent = errors.New("client has not consented to this partner category")
	// ErrForbidden: the caller's role never sees client files.
	ErrForbidden = errors.New("role may not see client files")
)

// ConsentError says which consent is missing; errors.Is(err, ErrNoConsent)
// holds for it.
type ConsentError struct {
	ClientID  string
	Category  string
	PartnerID string
}

func (e *ConsentError) Error() string {
	return fmt.Sprintf("view file of %s as %s %s: %v", e.ClientID, e.Category, e.PartnerID, ErrNoConsent)
}

// Is makes a ConsentError match ErrNoConsent.
func (e *ConsentError) Is(target error) bool { return target == ErrNoConsent }
