// Package directory registers the staff and partners who may use Relais,
// each with a role and a bearer token, and manages their credentials:
// explicit, audited rotation and revocation of tokens, token lifetimes, and
// partners' NATS keys. A token or NATS seed is returned once; the ledger
// keeps only the token's SHA-256 and the key's public half.
package directory

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/services"
)

// Service registers directory entries and manages their credentials.
type Service struct {
	l        ledger.Appender
	lifetime time.Duration
	now      func() time.Time
}

// Option configures the service.
type Option func(*Service)

// WithTokenLifetime makes every token the service issues (at registration
// or rotation) expire d after it is issued; 0, the default, is no expiry.
func WithTokenLifetime(d time.Duration) Option { return func(s *Service) { s.lifetime = d } }

// WithClock sets the clock expiries are computed from (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// New returns the service.
func New(l ledger.Appender, opts ...Option) *Service {
	s := &Service{l: l, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// NewToken returns a random bearer token.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	return "rls_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// HashToken is what the ledger stores of a token.
func HashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

// Registered is a new entry, or a rotated token, and the token (shown once).
type Registered struct {
	ID    string `json:"id"`
	Role  string `json:"role"`
	Token string `json:"token"`
	// ExpiresAt is when the token stops working (absent: never).
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// Position is the ledger position of the event that issued the token:
	// it works once the directory has applied it.
	Position uint64 `json:"position"`
}

// expiry is when a token issued now stops working (nil: never).
func (s *Service) expiry() *time.Time {
	if s.lifetime <= 0 {
		return nil
	}
	t := s.now().UTC().Add(s.lifetime)
	return &t
}

// register appends p as the first event of stream. other is the stream the
// same id would have as the other kind of entry: an id names one actor
// (events.Actor has no kind), so a staff member and a partner cannot share
// it. Two such registrations at the same instant can both be recorded; the
// directory projection then keeps the first and ignores the second, so
// neither can take the other's entry.
func (s *Service) register(ctx context.Context, actor events.Actor, stream, other string, p events.Payload) (uint64, error) {
	e, err := events.New(p, actor)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", services.ErrBadRequest, err)
	}
	if !events.ValidStreamName(stream) {
		return 0, fmt.Errorf("%w: id in %q", services.ErrBadRequest, stream)
	}
	switch _, err := s.l.Read(ctx, other, 1); {
	case err == nil:
		return 0, fmt.Errorf("%w: %s: the id is already registered as %s", services.ErrRuleBroken, stream, other)
	case !errors.Is(err, ledger.ErrStreamNotFound):
		return 0, fmt.Errorf("register %s: %w", stream, err)
	}
	res, err := s.l.Append(ctx, stream, ledger.NoStream, e)
	if err != nil && errors.Is(err, ledger.ErrWrongRevision) {
		return 0, fmt.Errorf("%w: %s is already registered (replace its token with a rotation instead)", services.ErrRuleBroken, stream)
	}
	return res.Position, err
}

// RegisterStaff adds a staff member with a role.
func (s *Service) RegisterStaff(ctx context.Context, actor events.Actor, r events.StaffRegistered) (Registered, error) {
	tok, err := NewToken()
	if err != nil {
		return Registered{}, err
	}
	r.TokenHash, r.TokenExpiresAt = HashToken(tok), s.expiry()
	pos, err := s.register(ctx, actor, events.StaffStream(r.StaffID), events.PartnerStream(r.StaffID), &r)
	if err != nil {
		return Registered{}, err
	}
	return Registered{ID: r.StaffID, Role: r.Role, Token: tok, ExpiresAt: r.TokenExpiresAt, Position: pos}, nil
}

// RegisterPartner adds a partner organization of a category.
func (s *Service) RegisterPartner(ctx context.Context, actor events.Actor, r events.PartnerRegistered) (Registered, error) {
	if r.WebhookURL != "" {
		u, err := url.Parse(r.WebhookURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return Registered{}, fmt.Errorf("%w: webhook_url %q is not an http(s) URL", services.ErrBadRequest, r.WebhookURL)
		}
	}
	tok, err := NewToken()
	if err != nil {
		return Registered{}, err
	}
	r.TokenHash, r.TokenExpiresAt = HashToken(tok), s.expiry()
	pos, err := s.register(ctx, actor, events.PartnerStream(r.PartnerID), events.StaffStream(r.PartnerID), &r)
	if err != nil {
		return Registered{}, err
	}
	return Registered{ID: r.PartnerID, Role: r.Category, Token: tok, ExpiresAt: r.TokenExpiresAt, Position: pos}, nil
}
