package httpapi

import (
	"context"
	"net/http"

	"github.com/relais-health/relais/services/edintake"
)

// Intake records ADT messages posted as JSON (the same path as MLLP).
type Intake interface {
	Record(ctx context.Context, m edintake.Message, opts ...edintake.RecordOption) (edintake.Outcome, error)
}

// RegisterIntake adds POST /v1/ed/arrivals: a hospital interface (role
// system) or an administrator posts one ADT message as JSON; the answer
// comes once it is in the ledger. The actor recorded is the caller, and a
// system account speaks for its own facility only: hl7-<facility> (e.g.
// hl7-hsta for HSTA) may post for that facility and no other (403). The
// event's source keeps the caller's address.
func (s *Server) RegisterIntake(in Intake) {
	s.Handle("POST", "/v1/ed/arrivals", []string{"system", "admin"}, func(w http.ResponseWriter, r *http.Request, p Principal) error {
		var m edintake.Message
		if err := decode(r, &m); err != nil {
			return err
		}
		ctx, cancel := requestContext(r)
		defer cancel()
		out, err := in.Record(ctx, m, edintake.By(p.Actor()), edintake.Via(r.RemoteAddr, ""))
		if err != nil {
			return err
		}
		status := http.StatusCreated
		if out.Duplicate || out.Ignored {
			status = http.StatusOK // already recorded, or nothing to record ("ignored": true)
		}
		return ok(w, status, out)
	})
}
