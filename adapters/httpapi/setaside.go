package httpapi

import (
	"context"
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/projections"
)

// SetAsideRetrier runs a set-aside event through its projection again.
type SetAsideRetrier interface {
	// RetrySetAside retries the set-aside event id (a DeadLetter.ID):
	// applied, it leaves the set-aside list; still failing, it stays with
	// the new error and attempt count (projections.ErrRetryFailed). An
	// unknown id is projections.ErrSetAsideNotFound.
	RetrySetAside(ctx context.Context, id string) (projections.DeadLetter, error)
}

// RegisterSetAsideRetry adds POST /v1/set-aside/{id}/retry, the programme
// manager's explicit retry of an event a projection set aside. Every try
// is logged with the actor who asked and its outcome (the audit line).
func (s *Server) RegisterSetAsideRetry(sr SetAsideRetrier) {
	roles := []string{events.RoleProgrammeManager, events.RoleAdmin}
	s.Handle("POST", "/v1/set-aside/{id}/retry", roles, func(w http.ResponseWriter, r *http.Request, p Principal) error {
		id := r.PathValue("id")
		dl, err := sr.RetrySetAside(r.Context(), id)
		fields := []zap.Field{zap.String("id", id), zap.String("actor", p.ID), zap.String("role", p.Role),
			zap.String("projection", dl.Projection), zap.Uint64("position", dl.Position), zap.String("event_id", dl.EventID)}
		switch {
		case err == nil:
			s.log.Info("set-aside event retried: applied", fields...)
			return ok(w, http.StatusOK, map[string]any{"retried": id, "applied": true, "event": dl})
		case errors.Is(err, projections.ErrRetryFailed):
			s.log.Warn("set-aside event retried: still failing", append(fields, zap.Int("attempts", dl.Attempts), zap.Error(err))...)
		case errors.Is(err, projections.ErrSetAsideNotFound):
		default:
			s.log.Warn("set-aside event retry failed", append(fields, zap.Error(err))...)
		}
		return err
	})
}
