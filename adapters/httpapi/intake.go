package httpapi

import (
	"context"
	"net/http"

	"github.com/relais-health/relais/services/edintake"
)

// Intake records ADT messages posted as JSON (the same path as MLLP).
type Intake interface {
	Record(ctx context.Context, m edintake.Message) (edintake.Outcome, error)
}

// RegisterIntake adds POST /v1/ed/arrivals: a hospital interface (role
// system) or an administrator posts one ADT message as JSON; the answer
// comes once it is in the ledger.
func (s *Server) RegisterIntake(in Intake) {
	s.Handle("POST", "/v1/ed/arrivals", []string{"system", "admin"}, func(w http.ResponseWriter, r *http.Request, p Principal) error {
		var m edintake.Message
		if err := decode(r, &m); err != nil {
			return err
		}
		ctx, cancel := requestContext(r)
		defer cancel()
		out, err := in.Record(ctx, m)
		if err != nil {
			return err
		}
		status := http.StatusCreated
		if out.Duplicate {
			status = http.StatusOK
		}
		return ok(w, status, out)
	})
}
