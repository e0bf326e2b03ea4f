package httpapi

import (
	"context"
	"net/http"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/services/directory"
)

// Directory registers staff members and partners and manages their
// credentials (services/directory).
type Directory interface {
	RegisterStaff(ctx context.Context, actor events.Actor, r events.StaffRegistered) (directory.Registered, error)
	RegisterPartner(ctx context.Context, actor events.Actor, r events.PartnerRegistered) (directory.Registered, error)
	RotateToken(ctx context.Context, actor events.Actor, kind, id string) (directory.Registered, error)
	RevokeToken(ctx context.Context, actor events.Actor, kind, id, reason string) (ledger.Result, error)
	IssueNATSKey(ctx context.Context, actor events.Actor, partnerID string) (directory.NATSKey, error)
	RevokeNATSKey(ctx context.Context, actor events.Actor, partnerID, reason string) (ledger.Result, error)
}

// TokenRefusal is what an Authenticator may also implement to say why it
// refused a token (e.g. that it expired) instead of "unknown or revoked
// token"; "" keeps the default.
type TokenRefusal interface {
	Refusal(token string) string
}

// refusal is the 401 message for a token the authenticator refused.
func (s *Server) refusal(token string) string {
	if x, ok := s.auth.(TokenRefusal); ok {
		if m := x.Refusal(token); m != "" {
			return m
		}
	}
	return "unknown or revoked token"
}

// staffRequest is the body of POST /v1/staff: the token, its hash and its
// expiry are Relais's to choose, so the body cannot name them.
type staffRequest struct {
	StaffID string `json:"staff_id"`
	Role    string `json:"role"`
	Name    string `json:"name"`
}

// partnerRequest is the body of POST /v1/partners.
type partnerRequest struct {
	PartnerID  string `json:"partner_id"`
	Category   string `json:"category"`
	Name       string `json:"name"`
	WebhookURL string `json:"webhook_url,omitempty"`
}

// revocation is the optional body of a DELETE of a credential.
type revocation struct {
	Reason string `json:"reason,omitempty"`
}

// adminOnly may change credentials.
var adminOnly = []string{events.RoleAdmin}

// RegisterDirectory adds the directory's routes: registration (an id is
// one actor's: 409 when taken, by either kind), and the explicit, audited
// credential changes, admin only: rotate (POST …/token) or revoke (DELETE
// …/token) a staff member's or partner's bearer token, issue (POST
// …/nats) or revoke (DELETE …/nats) a partner's NATS key.
func (s *Server) RegisterDirectory(dir Directory) {
	s.Handle("POST", "/v1/staff", adminOnly, func(w http.ResponseWriter, r *http.Request, p Principal) error {
		var req staffRequest
		if err := decode(r, &req); err != nil {
			return err
		}
		ctx, cancel := requestContext(r)
		defer cancel()
		reg, err := dir.RegisterStaff(ctx, p.Actor(), events.StaffRegistered{StaffID: req.StaffID, Role: req.Role, Name: req.Name})
		if err != nil {
			return err
		}
		return ok(w, http.StatusCreated, reg)
	})
	s.Handle("POST", "/v1/partners", []string{events.RoleAdmin, events.RoleProgrammeManager}, func(w http.ResponseWriter, r *http.Request, p Principal) error {
		var req partnerRequest
		if err := decode(r, &req); err != nil {
			return err
		}
		ctx, cancel := requestContext(r)
		defer cancel()
		reg, err := dir.RegisterPartner(ctx, p.Actor(), events.PartnerRegistered{PartnerID: req.PartnerID, Category: req.Category, Name: req.Name, WebhookURL: req.WebhookURL})
		if err != nil {
			return err
		}
		return ok(w, http.StatusCreated, reg)
	})
	for _, kind := range []struct{ name, prefix string }{{directory.KindStaff, "/v1/staff/{id}"}, {directory.KindPartner, "/v1/partners/{id}"}} {
		s.Handle("POST", kind.prefix+"/token", adminOnly, func(w http.ResponseWriter, r *http.Request, p Principal) error {
			ctx, cancel := requestContext(r)
			defer cancel()
			reg, err := dir.RotateToken(ctx, p.Actor(), kind.name, r.PathValue("id"))
			if err != nil {
				return err
			}
			return ok(w, http.StatusCreated, reg)
		})
		s.Handle("DELETE", kind.prefix+"/token", adminOnly, func(w http.ResponseWriter, r *http.Request, p Principal) error {
			return revoke(w, r, func(ctx context.Context, reason string) (ledger.Result, error) {
				return dir.RevokeToken(ctx, p.Actor(), kind.name, r.PathValue("id"), reason)
			})
		})
	}
	s.Handle("POST", "/v1/partners/{id}/nats", adminOnly, func(w http.ResponseWriter, r *http.Request, p Principal) error {
		ctx, cancel := requestContext(r)
		defer cancel()
		k, err := dir.IssueNATSKey(ctx, p.Actor(), r.PathValue("id"))
		if err != nil {
			return err
		}
		return ok(w, http.StatusCreated, k)
	})
	s.Handle("DELETE", "/v1/partners/{id}/nats", adminOnly, func(w http.ResponseWriter, r *http.Request, p Principal) error {
		return revoke(w, r, func(ctx context.Context, reason string) (ledger.Result, error) {
			return dir.RevokeNATSKey(ctx, p.Actor(), r.PathValue("id"), reason)
		})
	})
}

// revoke reads the optional {"reason"} body, runs do, and answers what was
// recorded (200, no event when there was nothing left to revoke).
func revoke(w http.ResponseWriter, r *http.Request, do func(context.Context, string) (ledger.Result, error)) error {
	var req revocation
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	ctx, cancel := requestContext(r)
	defer cancel()
	res, err := do(ctx, req.Reason)
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, recorded{Stream: res.Stream, Revision: res.Revision, Position: res.Position, Events: len(res.Events)})
}
