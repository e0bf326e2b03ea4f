package directory_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/projections/directory"
)

var admin = events.Actor{ID: "admin-1", Role: events.RoleAdmin}

// sha256Hex is what the ledger keeps of a token (the SHA-256 in hex, as
// the registration events document it).
func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

const (
	julieToken    = "rls_julie-0123456789abcdefghijklmnopqrstuvwxyz"
	pharmacyToken = "rls_pharmacy-0123456789abcdefghijklmnopqrstuvw"
	nadineToken   = "rls_nadine-0123456789abcdefghijklmnopqrstuvwxy"
)

// registrations is a small directory as the ledger holds it.
var registrations = map[string]events.Payload{
	events.StaffStream("cm-1"): &events.StaffRegistered{StaffID: "cm-1", Role: events.RoleCaseManager, Name: "Julie Gervais", TokenHash: sha256Hex(julieToken)},
	events.StaffStream("cm-2"): &events.StaffRegistered{StaffID: "cm-2", Role: events.RoleCaseManager, Name: "Nadine Bolduc", TokenHash: sha256Hex(nadineToken)},
	events.StaffStream("pm-1"): &events.StaffRegistered{StaffID: "pm-1", Role: events.RoleProgrammeManager, Name: "Anne-Marie Royer"},
	events.PartnerStream("ph-1"): &events.PartnerRegistered{PartnerID: "ph-1", Category: events.CategoryPharmacy, Name: "Pharmacie du Quartier",
		TokenHash: sha256Hex(pharmacyToken), WebhookURL: "https://ph-1.example/hook"},
	events.ClientStream("c1"): &events.ClientRegistered{ClientID: "c1", GivenName: "Hélène", FamilyName: "Bélanger",
		Identifiers: []events.Identifier{{Authority: "RAMQ", Value: "BELH12345678"}}},
}

// fromLedger appends the registrations to a real ledger and folds what it
// reads back, the way Relais builds the directory at start.
func fromLedger(t *testing.T) *directory.Directory {
	t.Helper()
	ctx := context.Background()
	l := jstest.Ledger(t)
	for stream, p := range registrations {
		if _, err := l.Append(ctx, stream, ledger.NoStream, events.MustNew(p, admin)); err != nil {
			t.Fatal(err)
		}
	}
	d := directory.New()
	if err := l.Subscribe(ctx, 1, d.Apply, ledger.StopAtHead()); err != nil {
		t.Fatal(err)
	}
	return d
}

// public is what callers of the directory see of an entry.
func public(e directory.Entry) [5]string {
	return [5]string{e.ID, e.Kind, e.Role, e.Name, e.WebhookURL}
}

func TestAuthenticateByToken(t *testing.T) {
	d := fromLedger(t)
	tests := []struct {
		name  string
		token string
		ok    bool
		want  directory.Entry
	}{
		{"a staff member's token authenticates them in their role", julieToken, true,
			directory.Entry{ID: "cm-1", Kind: "staff", Role: events.RoleCaseManager, Name: "Julie Gervais"}},
		{"a partner's token authenticates it in its category", pharmacyToken, true,
			directory.Entry{ID: "ph-1", Kind: "partner", Role: events.CategoryPharmacy, Name: "Pharmacie du Quartier", WebhookURL: "https://ph-1.example/hook"}},
		{"two staff members are told apart by their tokens", nadineToken, true,
			directory.Entry{ID: "cm-2", Kind: "staff", Role: events.RoleCaseManager, Name: "Nadine Bolduc"}},
		{"a token nobody was given is refused", "rls_guessed-0123456789abcdefghijklmnopqrstu", false, directory.Entry{}},
		{"no token is refused, even for an entry registered without one", "", false, directory.Entry{}},
		{"the hash read from the ledger is not a token", sha256Hex(julieToken), false, directory.Entry{}},
		{"a token is matched exactly, not by prefix", julieToken[:len(julieToken)-1], false, directory.Entry{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := d.Authenticate(tt.token)
			if ok != tt.ok || public(got) != public(tt.want) {
				t.Fatalf("Authenticate: %+v, %v; want %+v, %v", public(got), ok, public(tt.want), tt.ok)
			}
		})
	}
}

func TestEntriesActAsTheirRole(t *testing.T) {
	d := fromLedger(t)
	tests := []struct {
		name      string
		id        string
		ok        bool
		actor     events.Actor
		isPartner bool
	}{
		{"a case manager acts as a case manager", "cm-1", true, events.Actor{ID: "cm-1", Role: events.RoleCaseManager}, false},
		{"a staff member registered without a token is still in the directory", "pm-1", true, events.Actor{ID: "pm-1", Role: events.RoleProgrammeManager}, false},
		{"a pharmacy acts in the pharmacy role and is a partner", "ph-1", true, events.Actor{ID: "ph-1", Role: events.CategoryPharmacy}, true},
		{"a client is not a directory entry", "c1", false, events.Actor{}, false},
		{"an unknown id is not found", "cm-9", false, events.Actor{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, ok := d.Get(tt.id)
			if ok != tt.ok {
				t.Fatalf("Get(%q) found %v, want %v", tt.id, ok, tt.ok)
			}
			if !ok {
				return
			}
			if e.Actor() != tt.actor || e.IsPartner() != tt.isPartner {
				t.Fatalf("%s acts as %+v (partner %v), want %+v (partner %v)", tt.id, e.Actor(), e.IsPartner(), tt.actor, tt.isPartner)
			}
		})
	}
}

func TestListsByRole(t *testing.T) {
	d := fromLedger(t)
	tests := []struct {
		name string
		role string
		want []string
	}{
		{"the case managers are listed by id", events.RoleCaseManager, []string{"cm-1", "cm-2"}},
		{"partners are listed under their category", events.CategoryPharmacy, []string{"ph-1"}},
		{"a role nobody has lists nobody", events.RoleAuditor, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range d.ByRole(tt.role) {
				got = append(got, e.ID)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ByRole(%q) = %v, want %v", tt.role, got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("ByRole(%q) = %v, want %v", tt.role, got, tt.want)
				}
			}
		})
	}
	if n := len(d.All()); n != 4 {
		t.Fatalf("All lists %d entries, want the 4 staff and partners (not the client)", n)
	}
}

// A later registration of the same id (a new token) replaces the old one:
// the old token stops working.
func TestANewTokenReplacesTheOldOne(t *testing.T) {
	d := directory.New()
	ctx := context.Background()
	const oldToken, newToken = "rls_old-0123456789abcdefghijklmnopqrstuvwxyz", "rls_new-0123456789abcdefghijklmnopqrstuvwxyz"
	for _, tok := range []string{oldToken, newToken} {
		e := events.MustNew(&events.StaffRegistered{StaffID: "cm-1", Role: events.RoleCaseManager, Name: "Julie Gervais", TokenHash: sha256Hex(tok)}, admin)
		if err := d.Apply(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := d.Authenticate(oldToken); ok {
		t.Fatal("the replaced token still authenticates")
	}
	if e, ok := d.Authenticate(newToken); !ok || e.ID != "cm-1" {
		t.Fatalf("the new token: %+v, %v", e, ok)
	}
}
