package app

import (
	"time"

	"github.com/relais-health/relais/adapters/httpapi"
	"github.com/relais-health/relais/projections/directory"
)

// authenticator adapts the directory to the API: a token is its entry's
// until it is rotated, revoked or expires (by now).
type authenticator struct {
	d   *directory.Directory
	now func() time.Time
}

func (a authenticator) Authenticate(token string) (httpapi.Principal, bool) {
	e, err := a.d.Resolve(token, a.now())
	if err != nil {
		return httpapi.Principal{}, false
	}
	return httpapi.Principal{ID: e.ID, Role: e.Role, Partner: e.IsPartner()}, true
}

// Refusal says why a token was refused (httpapi.TokenRefusal): it expired,
// or it is unknown.
func (a authenticator) Refusal(token string) string {
	if _, err := a.d.Resolve(token, a.now()); err != nil {
		return err.Error()
	}
	return ""
}
