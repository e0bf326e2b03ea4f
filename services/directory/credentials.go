package directory

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/services"
)

// Kinds of directory entry: each has its own stream (events.StaffStream,
// events.PartnerStream).
const (
	KindStaff   = "staff"
	KindPartner = "partner"
)

// Credentials is an entry's state as its own stream tells it: what a
// rotation or revocation decides from.
type Credentials struct {
	Registered bool
	Role       string
	// TokenHash is the SHA-256 of the current token ("" when revoked).
	TokenHash string
	// TokenExpiresAt is when it stops working (nil: never).
	TokenExpiresAt *time.Time
	// NATSKey is the partner's current NATS public key ("" when none).
	NATSKey string
}

// Fold reads an entry's stream into its credentials (a pure function of
// the history; the bootstrap admin's stream folds the same way).
func Fold(history []events.Event) (Credentials, error) {
	var c Credentials
	for _, e := range history {
		p, err := e.Payload()
		if err != nil {
			return Credentials{}, fmt.Errorf("directory entry: %w", err)
		}
		switch p := p.(type) {
		case *events.StaffRegistered:
			c.Registered, c.Role, c.TokenHash, c.TokenExpiresAt = true, p.Role, p.TokenHash, p.TokenExpiresAt
		case *events.PartnerRegistered:
			c.Registered, c.Role, c.TokenHash, c.TokenExpiresAt = true, p.Category, p.TokenHash, p.TokenExpiresAt
		case *events.TokenRotated:
			c.TokenHash, c.TokenExpiresAt = p.TokenHash, p.ExpiresAt
		case *events.TokenRevoked:
			c.TokenHash, c.TokenExpiresAt = "", nil
		case *events.NATSKeyIssued:
			c.NATSKey = p.PublicKey
		case *events.NATSKeyRevoked:
			c.NATSKey = ""
		}
	}
	return c, nil
}

// stream names the directory stream of an entry of this kind.
func stream(kind, id string) (string, error) {
	var s string
	switch kind {
	case KindStaff:
		s = events.StaffStream(id)
	case KindPartner:
		s = events.PartnerStream(id)
	default:
		return "", fmt.Errorf("%w: kind %q is neither %s nor %s", services.ErrBadRequest, kind, KindStaff, KindPartner)
	}
	if !events.ValidStreamName(s) {
		return "", fmt.Errorf("%w: id %q", services.ErrBadRequest, id)
	}
	return s, nil
}

// adminOnly refuses a credential change by anyone but an administrator
// (the API's role table says the same; this holds for every caller).
func adminOnly(actor events.Actor) error {
	if actor.Role != events.RoleAdmin {
		return fmt.Errorf("%w: only an administrator may change credentials, not %s", services.ErrForbidden, actor.Role)
	}
	return nil
}

// change runs decide over the credentials of kind/id, refusing an entry
// that does not exist, and appends what it decides as actor.
func (s *Service) change(ctx context.Context, actor events.Actor, kind, id string, decide func(Credentials) (events.Payload, error)) (ledger.Result, Credentials, error) {
	if err := adminOnly(actor); err != nil {
		return ledger.Result{}, Credentials{}, err
	}
	st, err := stream(kind, id)
	if err != nil {
		return ledger.Result{}, Credentials{}, err
	}
	var cur Credentials
	res, err := ledger.Update(ctx, s.l, st, func(history []events.Event) ([]events.Event, error) {
		c, err := Fold(history)
		if err != nil {
			return nil, err
		}
		if !c.Registered {
			return nil, fmt.Errorf("%w: no %s %q in the directory", services.ErrNotFound, kind, id)
		}
		cur = c
		p, err := decide(c)
		if err != nil || p == nil {
			return nil, err
		}
		e, err := events.New(p, actor)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", services.ErrBadRequest, err)
		}
		return []events.Event{e}, nil
	})
	return res, cur, err
}

// RotateToken gives kind/id a new token, returned once; the old one stops
// working as soon as the event is folded. The event names who rotated it.
func (s *Service) RotateToken(ctx context.Context, actor events.Actor, kind, id string) (Registered, error) {
	tok, err := NewToken()
	if err != nil {
		return Registered{}, err
	}
	exp := s.expiry()
	res, cur, err := s.change(ctx, actor, kind, id, func(Credentials) (events.Payload, error) {
		return &events.TokenRotated{ID: id, TokenHash: HashToken(tok), ExpiresAt: exp}, nil
	})
	if err != nil {
		return Registered{}, fmt.Errorf("rotate the token of %s %s: %w", kind, id, err)
	}
	return Registered{ID: id, Role: cur.Role, Token: tok, ExpiresAt: exp, Position: res.Position}, nil
}

// RevokeToken withdraws kind/id's token: it fails at once, and the entry
// has no token until the next rotation. Revoking a token already revoked
// records nothing; an administrator cannot revoke their own (rotate it).
func (s *Service) RevokeToken(ctx context.Context, actor events.Actor, kind, id, reason string) (ledger.Result, error) {
	if actor.ID == id {
		return ledger.Result{}, fmt.Errorf("%w: %s cannot revoke their own token (rotate it instead)", services.ErrRuleBroken, id)
	}
	res, _, err := s.change(ctx, actor, kind, id, func(c Credentials) (events.Payload, error) {
		if c.TokenHash == "" {
			return nil, nil
		}
		return &events.TokenRevoked{ID: id, Reason: reason}, nil
	})
	if err != nil {
		return ledger.Result{}, fmt.Errorf("revoke the token of %s %s: %w", kind, id, err)
	}
	return res, nil
}

// NATSKey is a partner's new NATS user key: the seed is shown once, the
// ledger keeps the public key.
type NATSKey struct {
	PartnerID string `json:"partner_id"`
	PublicKey string `json:"public_key"`
	Seed      string `json:"seed"`
	// Subject is the only subject the key may subscribe to.
	Subject string `json:"subject"`
	// Position is the ledger position of nats_key.issued.
	Position uint64 `json:"position"`
}

// IssueNATSKey gives a partner a new NATS user nkey, replacing any key it
// had (a rotation); the old key stops being accepted once the embedded
// server is told the new set.
func (s *Service) IssueNATSKey(ctx context.Context, actor events.Actor, partnerID string) (NATSKey, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return NATSKey{}, fmt.Errorf("nats key: %w", err)
	}
	defer kp.Wipe()
	pub, err := kp.PublicKey()
	if err != nil {
		return NATSKey{}, fmt.Errorf("nats key: %w", err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return NATSKey{}, fmt.Errorf("nats key: %w", err)
	}
	res, _, err := s.change(ctx, actor, KindPartner, partnerID, func(Credentials) (events.Payload, error) {
		return &events.NATSKeyIssued{PartnerID: partnerID, PublicKey: pub}, nil
	})
	if err != nil {
		return NATSKey{}, fmt.Errorf("issue a nats key to %s: %w", partnerID, err)
	}
	return NATSKey{PartnerID: partnerID, PublicKey: pub, Seed: string(seed), Subject: "relais.alerts." + partnerID, Position: res.Position}, nil
}

// RevokeNATSKey withdraws a partner's NATS key (nothing is recorded when it
// has none).
func (s *Service) RevokeNATSKey(ctx context.Context, actor events.Actor, partnerID, reason string) (ledger.Result, error) {
	res, _, err := s.change(ctx, actor, KindPartner, partnerID, func(c Credentials) (events.Payload, error) {
		if c.NATSKey == "" {
			return nil, nil
		}
		return &events.NATSKeyRevoked{PartnerID: partnerID, PublicKey: c.NATSKey, Reason: reason}, nil
	})
	if err != nil {
		return ledger.Result{}, fmt.Errorf("revoke the nats key of %s: %w", partnerID, err)
	}
	return res, nil
}
