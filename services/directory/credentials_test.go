package directory_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/services"
	"github.com/relais-health/relais/services/directory"
)

// last reads the last event of a stream and its payload.
func last(t *testing.T, l ledger.Ledger, stream string) (events.Event, events.Payload) {
	t.Helper()
	evs, err := l.Read(context.Background(), stream, 1)
	if err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	e := evs[len(evs)-1]
	p, err := e.Payload()
	if err != nil {
		t.Fatal(err)
	}
	return e, p
}

// seeded is a service over a ledger holding case manager cm-1 and pharmacy
// ph-1; now is its clock.
func seeded(t *testing.T, opts ...directory.Option) (*directory.Service, ledger.Ledger) {
	t.Helper()
	l := jstest.Ledger(t)
	s := directory.New(l, opts...)
	ctx := context.Background()
	if _, err := s.RegisterStaff(ctx, admin, events.StaffRegistered{StaffID: "cm-1", Role: events.RoleCaseManager, Name: "Julie"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RegisterPartner(ctx, admin, events.PartnerRegistered{PartnerID: "ph-1", Category: events.CategoryPharmacy, Name: "Pharmacie"}); err != nil {
		t.Fatal(err)
	}
	return s, l
}

func TestARotationIssuesANewTokenAndRecordsWhoDidIt(t *testing.T) {
	for _, tt := range []struct {
		name, kind, id, stream, role string
	}{
		{"a staff member's token is rotated", directory.KindStaff, "cm-1", "staff-cm-1", events.RoleCaseManager},
		{"a partner's token is rotated", directory.KindPartner, "ph-1", "partner-ph-1", events.CategoryPharmacy},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, l := seeded(t)
			_, before := last(t, l, tt.stream)
			reg, err := s.RotateToken(context.Background(), admin, tt.kind, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if reg.ID != tt.id || reg.Role != tt.role || len(reg.Token) < 32 || reg.ExpiresAt != nil {
				t.Fatalf("rotated %+v", reg)
			}
			e, p := last(t, l, tt.stream)
			r, ok := p.(*events.TokenRotated)
			if !ok || r.ID != tt.id || r.TokenHash != sha256Hex(reg.Token) || e.Actor != admin {
				t.Fatalf("recorded %s %+v by %+v, want token.rotated with the new token's SHA-256 by %+v", e.Type, p, e.Actor, admin)
			}
			if strings.Contains(string(e.Data), reg.Token) {
				t.Fatal("the ledger holds the token itself")
			}
			c, err := directory.Fold(mustRead(t, l, tt.stream))
			if err != nil || c.TokenHash == hashOf(before) || c.TokenHash != sha256Hex(reg.Token) {
				t.Fatalf("folded %+v, %v", c, err)
			}
		})
	}
}

func hashOf(p events.Payload) string {
	switch p := p.(type) {
	case *events.StaffRegistered:
		return p.TokenHash
	case *events.PartnerRegistered:
		return p.TokenHash
	}
	return ""
}

func mustRead(t *testing.T, l ledger.Ledger, stream string) []events.Event {
	t.Helper()
	evs, err := l.Read(context.Background(), stream, 1)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestCredentialChangesThatAreRefused(t *testing.T) {
	ctx := context.Background()
	cm := events.Actor{ID: "cm-1", Role: events.RoleCaseManager}
	pm := events.Actor{ID: "pm-1", Role: events.RoleProgrammeManager}
	for _, tt := range []struct {
		name    string
		change  func(*directory.Service) error
		want    error
		streams []string // left as they were
	}{
		{"a programme manager cannot rotate a token", func(s *directory.Service) error {
			_, err := s.RotateToken(ctx, pm, directory.KindStaff, "cm-1")
			return err
		}, services.ErrForbidden, []string{"staff-cm-1"}},
		{"a case manager cannot revoke a partner's token", func(s *directory.Service) error {
			_, err := s.RevokeToken(ctx, cm, directory.KindPartner, "ph-1", "")
			return err
		}, services.ErrForbidden, []string{"partner-ph-1"}},
		{"a token of nobody cannot be rotated", func(s *directory.Service) error {
			_, err := s.RotateToken(ctx, admin, directory.KindStaff, "cm-9")
			return err
		}, services.ErrNotFound, nil},
		{"a staff id is not a partner's", func(s *directory.Service) error {
			_, err := s.RotateToken(ctx, admin, directory.KindPartner, "cm-1")
			return err
		}, services.ErrNotFound, []string{"staff-cm-1"}},
		{"an id that cannot name a stream is refused", func(s *directory.Service) error {
			_, err := s.RevokeToken(ctx, admin, directory.KindStaff, "cm 1/x", "")
			return err
		}, services.ErrBadRequest, nil},
		{"an administrator cannot revoke their own token", func(s *directory.Service) error {
			_, err := s.RevokeToken(ctx, events.Actor{ID: "cm-1", Role: events.RoleAdmin}, directory.KindStaff, "cm-1", "")
			return err
		}, services.ErrRuleBroken, []string{"staff-cm-1"}},
		{"a staff member gets no NATS key", func(s *directory.Service) error {
			_, err := s.IssueNATSKey(ctx, admin, "cm-1")
			return err
		}, services.ErrNotFound, []string{"staff-cm-1"}},
		{"a programme manager cannot issue a NATS key", func(s *directory.Service) error {
			_, err := s.IssueNATSKey(ctx, pm, "ph-1")
			return err
		}, services.ErrForbidden, []string{"partner-ph-1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, l := seeded(t)
			was := map[string]string{}
			for _, st := range tt.streams {
				was[st] = strings.Join(eventIDs(t, l, st), ",")
			}
			if err := tt.change(s); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			for _, st := range tt.streams {
				if now := strings.Join(eventIDs(t, l, st), ","); now != was[st] {
					t.Fatalf("the refused change wrote to %s", st)
				}
			}
		})
	}
}

func TestARevocationLeavesNoToken(t *testing.T) {
	s, l := seeded(t)
	ctx := context.Background()
	if _, err := s.RevokeToken(ctx, admin, directory.KindPartner, "ph-1", "laptop stolen"); err != nil {
		t.Fatal(err)
	}
	e, p := last(t, l, "partner-ph-1")
	if r, ok := p.(*events.TokenRevoked); !ok || r.ID != "ph-1" || r.Reason != "laptop stolen" || e.Actor != admin {
		t.Fatalf("recorded %s %+v by %+v", e.Type, p, e.Actor)
	}
	n := len(mustRead(t, l, "partner-ph-1"))
	if _, err := s.RevokeToken(ctx, admin, directory.KindPartner, "ph-1", ""); err != nil {
		t.Fatalf("revoking again: %v", err)
	}
	if m := len(mustRead(t, l, "partner-ph-1")); m != n {
		t.Fatalf("revoking a revoked token recorded %d more events", m-n)
	}
	if c, _ := directory.Fold(mustRead(t, l, "partner-ph-1")); c.TokenHash != "" {
		t.Fatalf("a revoked entry still has token %q", c.TokenHash)
	}
}

func TestTokensCarryTheirLifetime(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	s, l := seeded(t, directory.WithTokenLifetime(90*24*time.Hour), directory.WithClock(func() time.Time { return now }))
	want := now.Add(90 * 24 * time.Hour)
	_, p := last(t, l, "staff-cm-1")
	if got := p.(*events.StaffRegistered).TokenExpiresAt; got == nil || !got.Equal(want) {
		t.Fatalf("registration recorded expiry %v, want %v", got, want)
	}
	_, p = last(t, l, "partner-ph-1")
	if got := p.(*events.PartnerRegistered).TokenExpiresAt; got == nil || !got.Equal(want) {
		t.Fatalf("partner registration recorded expiry %v, want %v", got, want)
	}
	now = now.Add(time.Hour)
	reg, err := s.RotateToken(context.Background(), admin, directory.KindStaff, "cm-1")
	if err != nil {
		t.Fatal(err)
	}
	_, p = last(t, l, "staff-cm-1")
	if got := p.(*events.TokenRotated).ExpiresAt; got == nil || !got.Equal(want.Add(time.Hour)) || !reg.ExpiresAt.Equal(*got) {
		t.Fatalf("rotation recorded expiry %v (answered %v), want %v", got, reg.ExpiresAt, want.Add(time.Hour))
	}
}

func TestANATSKeyIsIssuedOnceAndRevoked(t *testing.T) {
	s, l := seeded(t)
	ctx := context.Background()
	k, err := s.IssueNATSKey(ctx, admin, "ph-1")
	if err != nil {
		t.Fatal(err)
	}
	kp, err := nkeys.FromSeed([]byte(k.Seed))
	if err != nil {
		t.Fatalf("the seed is not an nkey seed: %v", err)
	}
	if pub, _ := kp.PublicKey(); pub != k.PublicKey || !nkeys.IsValidPublicUserKey(pub) || k.Subject != "relais.alerts.ph-1" {
		t.Fatalf("issued %+v (seed's public key %s)", k, pub)
	}
	e, p := last(t, l, "partner-ph-1")
	if r, ok := p.(*events.NATSKeyIssued); !ok || r.PublicKey != k.PublicKey || e.Actor != admin {
		t.Fatalf("recorded %s %+v by %+v", e.Type, p, e.Actor)
	}
	if strings.Contains(string(e.Data), k.Seed) {
		t.Fatal("the ledger holds the seed")
	}
	k2, err := s.IssueNATSKey(ctx, admin, "ph-1")
	if err != nil || k2.PublicKey == k.PublicKey {
		t.Fatalf("rotating the key: %+v, %v", k2, err)
	}
	if _, err := s.RevokeNATSKey(ctx, admin, "ph-1", ""); err != nil {
		t.Fatal(err)
	}
	_, p = last(t, l, "partner-ph-1")
	if r, ok := p.(*events.NATSKeyRevoked); !ok || r.PublicKey != k2.PublicKey {
		t.Fatalf("recorded %+v, want the revocation of %s", p, k2.PublicKey)
	}
	if c, _ := directory.Fold(mustRead(t, l, "partner-ph-1")); c.NATSKey != "" {
		t.Fatalf("a revoked key is still folded: %q", c.NATSKey)
	}
}
