package httpapi

import "net/http"

// RegisterMe adds GET /v1/me: who the token belongs to.
func (s *Server) RegisterMe(allRoles []string) {
	s.Handle("GET", "/v1/me", allRoles, func(w http.ResponseWriter, r *http.Request, p Principal) error {
		return ok(w, http.StatusOK, map[string]any{"id": p.ID, "role": p.Role, "partner": p.Partner})
	})
}
