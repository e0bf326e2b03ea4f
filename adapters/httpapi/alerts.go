package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/relais-health/relais/delivery"
	"github.com/relais-health/relais/delivery/sse"
	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/projections/alerts"
)

// Alerts is the alert read model.
type Alerts interface {
	Queue(recipient string) []alerts.Alert
	Get(id string) (alerts.Alert, bool)
	Since(recipient string, pos uint64) []alerts.Update
	Unacknowledged() []alerts.Alert
}

// Acknowledger is the alert command the API takes (services/alerting): it
// returns the ledger position of the acknowledgement.
type Acknowledger interface {
	Acknowledge(ctx context.Context, actor events.Actor, alertID string) (uint64, error)
}

// Waiter lets a handler wait until the alert projection has applied a
// position (read your own writes).
type Waiter interface {
	WaitFor(ctx context.Context, pos uint64) error
}

// RegisterAlerts adds the alert endpoints: the caller's queue, its live
// stream, acknowledgement (a command, through ack), and the programme
// manager's view of what is still unacknowledged.
func (s *Server) RegisterAlerts(a Alerts, ack Acknowledger, w Waiter, hub *sse.Hub, heartbeat time.Duration) {
	everyone := allActors
	s.Handle("GET", "/v1/alerts", everyone, func(rw http.ResponseWriter, r *http.Request, p Principal) error {
		q, err := queueOf(r, p)
		if err != nil {
			return err
		}
		return ok(rw, http.StatusOK, map[string]any{"queue": q, "alerts": a.Queue(q)})
	})
	s.Handle("GET", "/v1/alerts/stream", everyone, func(rw http.ResponseWriter, r *http.Request, p Principal) error {
		q, err := queueOf(r, p)
		if err != nil {
			return err
		}
		return sse.Serve(rw, r, hub, q, func(after uint64) ([]sse.Event, error) {
			var out []sse.Event
			for _, u := range a.Since(q, after) {
				out = append(out, delivery.EncodeUpdate(u))
			}
			return out, nil
		}, heartbeat)
	})
	s.Handle("POST", "/v1/alerts/{id}/ack", writers(everyone), func(rw http.ResponseWriter, r *http.Request, p Principal) error {
		ctx, cancel := requestContext(r)
		defer cancel()
		id := r.PathValue("id")
		pos, err := ack.Acknowledge(ctx, p.Actor(), id)
		if err != nil {
			return err
		}
		if err := w.WaitFor(ctx, pos); err != nil {
			return err
		}
		al, _ := a.Get(id)
		return ok(rw, http.StatusOK, al)
	})
	s.Handle("GET", "/v1/alerts/unacknowledged", []string{events.RoleProgrammeManager, events.RoleAdmin}, func(rw http.ResponseWriter, r *http.Request, p Principal) error {
		return ok(rw, http.StatusOK, map[string]any{"alerts": a.Unacknowledged()})
	})
}

// allActors is every role that has an alert queue.
var allActors = []string{
	events.RoleAdmin, events.RoleCaseManager, events.RolePivotWorker, events.RoleProgrammeManager,
	events.RoleArchivist, events.RoleAuditor, events.RoleSystem,
	events.CategoryDoctor, events.CategoryPharmacy, events.CategoryCommunity, events.CategoryRehab,
}

// queueOf is the caller's own queue, or, for care staff, an on-call queue
// named with ?queue=oncall-<programme>.
func queueOf(r *http.Request, p Principal) (string, error) {
	q := r.URL.Query().Get("queue")
	if q == "" || q == p.ID {
		return p.ID, nil
	}
	staff := p.Role == events.RoleCaseManager || p.Role == events.RoleProgrammeManager || p.Role == events.RolePivotWorker
	if staff && strings.HasPrefix(q, "oncall-") {
		return q, nil
	}
	return "", fmt.Errorf("%w: queue %s is not %s's", ErrForbidden, q, p.ID)
}

// writers drops the read-only roles (auditor, archivist) from roles.
func writers(roles []string) []string {
	var out []string
	for _, r := range roles {
		if r != events.RoleAuditor && r != events.RoleArchivist {
			out = append(out, r)
		}
	}
	return out
}
