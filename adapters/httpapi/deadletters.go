package httpapi

import (
	"net/http"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/projections"
)

// SetAside lists the events the projections set aside (poison events: they
// failed deterministically), as kept in the set-aside bucket.
type SetAside interface {
	SetAside() []projections.DeadLetter
}

// RegisterSetAside adds the programme manager's view of the set-aside
// events.
func (s *Server) RegisterSetAside(sa SetAside) {
	roles := []string{events.RoleProgrammeManager, events.RoleAdmin}
	s.Handle("GET", "/v1/set-aside", roles, func(w http.ResponseWriter, r *http.Request, p Principal) error {
		dl := sa.SetAside()
		if dl == nil {
			dl = []projections.DeadLetter{}
		}
		return ok(w, http.StatusOK, map[string]any{"set_aside": dl})
	})
}
