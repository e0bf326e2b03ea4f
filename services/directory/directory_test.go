package directory_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/services"
	"github.com/relais-health/relais/services/directory"
)

var admin = events.Actor{ID: "admin-1", Role: events.RoleAdmin}

// sha256Hex is the documented form of what the ledger keeps of a token,
// computed here rather than with the package's own HashToken.
func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// stored reads the one event of a directory stream.
func stored(t *testing.T, l ledger.Ledger, stream string) events.Event {
	t.Helper()
	evs, err := l.Read(context.Background(), stream, 1)
	if err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	if len(evs) != 1 {
		t.Fatalf("%s holds %d events, want 1", stream, len(evs))
	}
	return evs[0]
}

func TestRegisteringKeepsOnlyTheHashOfTheToken(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		register func(*directory.Service) (directory.Registered, error)
		stream   string
		wantID   string
		wantRole string
		check    func(t *testing.T, p events.Payload)
	}{
		{"a staff member is registered with their role and a token shown once",
			func(s *directory.Service) (directory.Registered, error) {
				return s.RegisterStaff(ctx, admin, events.StaffRegistered{StaffID: "cm-7", Role: events.RoleCaseManager, Name: "Julie Gervais"})
			}, "staff-cm-7", "cm-7", events.RoleCaseManager,
			func(t *testing.T, p events.Payload) {
				s, ok := p.(*events.StaffRegistered)
				if !ok || s.StaffID != "cm-7" || s.Role != events.RoleCaseManager || s.Name != "Julie Gervais" {
					t.Fatalf("stored %#v", p)
				}
			}},
		{"a partner is registered in its category, which is the role it acts in",
			func(s *directory.Service) (directory.Registered, error) {
				return s.RegisterPartner(ctx, admin, events.PartnerRegistered{PartnerID: "ph-9", Category: events.CategoryPharmacy, Name: "Pharmacie du Quartier", WebhookURL: "https://ph-9.example/hook"})
			}, "partner-ph-9", "ph-9", events.CategoryPharmacy,
			func(t *testing.T, p events.Payload) {
				s, ok := p.(*events.PartnerRegistered)
				if !ok || s.PartnerID != "ph-9" || s.Category != events.CategoryPharmacy || s.WebhookURL != "https://ph-9.example/hook" {
					t.Fatalf("stored %#v", p)
				}
			}},
		{"a partner without a webhook is registered too",
			func(s *directory.Service) (directory.Registered, error) {
				return s.RegisterPartner(ctx, admin, events.PartnerRegistered{PartnerID: "org-3", Category: events.CategoryCommunity, Name: "Maison de quartier"})
			}, "partner-org-3", "org-3", events.CategoryCommunity,
			func(t *testing.T, p events.Payload) {
				if s, ok := p.(*events.PartnerRegistered); !ok || s.WebhookURL != "" {
					t.Fatalf("stored %#v", p)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := jstest.Ledger(t)
			reg, err := tt.register(directory.New(l))
			if err != nil {
				t.Fatal(err)
			}
			if reg.ID != tt.wantID || reg.Role != tt.wantRole {
				t.Fatalf("registered %s as %s, want %s as %s", reg.ID, reg.Role, tt.wantID, tt.wantRole)
			}
			if len(reg.Token) < 32 {
				t.Fatalf("token %q is too short to be a secret", reg.Token)
			}
			e := stored(t, l, tt.stream)
			if e.Actor != admin {
				t.Fatalf("recorded as done by %+v, want %+v", e.Actor, admin)
			}
			if strings.Contains(string(e.Data), reg.Token) {
				t.Fatalf("the ledger holds the token itself: %s", e.Data)
			}
			p, err := e.Payload()
			if err != nil {
				t.Fatal(err)
			}
			var hash string
			switch p := p.(type) {
			case *events.StaffRegistered:
				hash = p.TokenHash
			case *events.PartnerRegistered:
				hash = p.TokenHash
			}
			if hash != sha256Hex(reg.Token) {
				t.Fatalf("the ledger keeps %q, want the SHA-256 of the token %q", hash, sha256Hex(reg.Token))
			}
			tt.check(t, p)
		})
	}
}

func TestEveryRegistrationGetsItsOwnToken(t *testing.T) {
	s := directory.New(jstest.Ledger(t))
	ctx := context.Background()
	seen := map[string]string{}
	for _, id := range []string{"cm-1", "cm-2", "cm-3"} {
		reg, err := s.RegisterStaff(ctx, admin, events.StaffRegistered{StaffID: id, Role: events.RoleCaseManager, Name: "CM " + id})
		if err != nil {
			t.Fatal(err)
		}
		if other, ok := seen[reg.Token]; ok {
			t.Fatalf("%s got the token of %s", id, other)
		}
		seen[reg.Token] = id
	}
}

func TestRegistrationsThatAreRefused(t *testing.T) {
	ctx := context.Background()
	staff := func(id, role, name string) func(*directory.Service) error {
		return func(s *directory.Service) error {
			_, err := s.RegisterStaff(ctx, admin, events.StaffRegistered{StaffID: id, Role: role, Name: name})
			return err
		}
	}
	partner := func(id, cat, url string) func(*directory.Service) error {
		return func(s *directory.Service) error {
			_, err := s.RegisterPartner(ctx, admin, events.PartnerRegistered{PartnerID: id, Category: cat, Name: "Partenaire " + id, WebhookURL: url})
			return err
		}
	}
	tests := []struct {
		name     string
		before   func(*directory.Service) error // succeeds first, if set
		register func(*directory.Service) error
		want     error
		// untouched is a stream the refused registration must leave as it
		// was ("" when the id cannot even name one).
		untouched string
	}{
		{"a staff id already registered is refused", staff("cm-1", events.RoleCaseManager, "Julie"),
			staff("cm-1", events.RoleAdmin, "Someone else"), services.ErrRuleBroken, "staff-cm-1"},
		{"a partner id already registered is refused", partner("ph-1", events.CategoryPharmacy, ""),
			partner("ph-1", events.CategoryDoctor, "https://evil.example/hook"), services.ErrRuleBroken, "partner-ph-1"},
		{"a partner cannot take the id of a staff member", staff("org-1", events.RoleCaseManager, "Julie"),
			partner("org-1", events.CategoryCommunity, ""), services.ErrRuleBroken, "partner-org-1"},
		{"a staff member cannot take the id of a partner", partner("doc-1", events.CategoryDoctor, ""),
			staff("doc-1", events.RoleAdmin, "Jean"), services.ErrRuleBroken, "staff-doc-1"},
		{"a staff member with a role Relais does not know is refused", nil,
			staff("cm-2", "janitor", "Jean"), services.ErrBadRequest, "staff-cm-2"},
		{"a staff member without a name is refused", nil,
			staff("cm-3", events.RoleCaseManager, ""), services.ErrBadRequest, "staff-cm-3"},
		{"a staff member without an id is refused", nil,
			staff("", events.RoleCaseManager, "Julie"), services.ErrBadRequest, "staff-"},
		{"a staff id that cannot name a stream is refused", nil,
			staff("cm 4/x", events.RoleCaseManager, "Julie"), services.ErrBadRequest, ""},
		{"a partner of a category Relais does not know is refused", nil,
			partner("x-1", "bakery", ""), services.ErrBadRequest, "partner-x-1"},
		{"a webhook that is not http(s) is refused", nil,
			partner("ph-2", events.CategoryPharmacy, "ftp://ph-2.example/hook"), services.ErrBadRequest, "partner-ph-2"},
		{"a webhook without a host is refused", nil,
			partner("ph-3", events.CategoryPharmacy, "https:///hook"), services.ErrBadRequest, "partner-ph-3"},
		{"a webhook that is not a URL is refused", nil,
			partner("ph-4", events.CategoryPharmacy, "ph-4 hook"), services.ErrBadRequest, "partner-ph-4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := jstest.Ledger(t)
			s := directory.New(l)
			if tt.before != nil {
				if err := tt.before(s); err != nil {
					t.Fatalf("first registration: %v", err)
				}
			}
			was := eventIDs(t, l, tt.untouched)
			if err := tt.register(s); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if now := eventIDs(t, l, tt.untouched); strings.Join(now, ",") != strings.Join(was, ",") {
				t.Fatalf("the refused registration changed %s: %v, was %v", tt.untouched, now, was)
			}
		})
	}
}

// eventIDs lists the ids of a stream's events (none for "" or a stream
// that does not exist).
func eventIDs(t *testing.T, l ledger.Ledger, stream string) []string {
	t.Helper()
	if stream == "" {
		return nil
	}
	evs, err := l.Read(context.Background(), stream, 1)
	if errors.Is(err, ledger.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	return ids
}
