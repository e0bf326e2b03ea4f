package httpapi

import (
	"context"
	"net/http"

	"github.com/relais-health/relais/delivery/webhook"
	"github.com/relais-health/relais/events"
)

// Hooks is the webhook dispatcher's dead-letter side.
type Hooks interface {
	DeadLetters(ctx context.Context) ([]webhook.DeadLetter, error)
	Retry(ctx context.Context, id string) error
}

// RegisterWebhooks adds the programme manager's view of failed webhook
// deliveries and their retry.
func (s *Server) RegisterWebhooks(h Hooks) {
	roles := []string{events.RoleProgrammeManager, events.RoleAdmin}
	s.Handle("GET", "/v1/webhooks/dead-letters", roles, func(w http.ResponseWriter, r *http.Request, p Principal) error {
		dl, err := h.DeadLetters(r.Context())
		if err != nil {
			return err
		}
		return ok(w, http.StatusOK, map[string]any{"dead_letters": dl})
	})
	s.Handle("POST", "/v1/webhooks/dead-letters/{id}/retry", roles, func(w http.ResponseWriter, r *http.Request, p Principal) error {
		if err := h.Retry(r.Context(), r.PathValue("id")); err != nil {
			return err
		}
		return ok(w, http.StatusAccepted, map[string]string{"retried": r.PathValue("id")})
	})
}
