package directory_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/projections/directory"
)

// on is an event as read from stream (the directory tells kinds apart by it).
func on(stream string, p events.Payload) events.Event {
	e := events.MustNew(p, admin)
	e.Stream = stream
	return e
}

func TestCredentialChangesAreFolded(t *testing.T) {
	const (
		julie2 = "rls_julie2-0123456789abcdefghijklmnopqrstuvwxy"
		impost = "rls_impostor-0123456789abcdefghijklmnopqrstuv"
	)
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	expires := t0.Add(time.Hour)
	julie := on("staff-cm-1", &events.StaffRegistered{StaffID: "cm-1", Role: events.RoleCaseManager, Name: "Julie", TokenHash: sha256Hex(julieToken)})
	tests := []struct {
		name  string
		evs   []events.Event
		token string
		at    time.Time
		want  error  // nil: the token authenticates cm-1
		says  string // in the error
	}{
		{"a registered token authenticates", []events.Event{julie}, julieToken, t0, nil, ""},
		{"after a rotation the old token is unknown", []events.Event{julie,
			on("staff-cm-1", &events.TokenRotated{ID: "cm-1", TokenHash: sha256Hex(julie2)})}, julieToken, t0, directory.ErrUnknownToken, "unknown or revoked"},
		{"after a rotation the new token authenticates", []events.Event{julie,
			on("staff-cm-1", &events.TokenRotated{ID: "cm-1", TokenHash: sha256Hex(julie2)})}, julie2, t0, nil, ""},
		{"after a revocation the token is unknown", []events.Event{julie,
			on("staff-cm-1", &events.TokenRevoked{ID: "cm-1"})}, julieToken, t0, directory.ErrUnknownToken, ""},
		{"a token before its expiry authenticates", []events.Event{
			on("staff-cm-1", &events.StaffRegistered{StaffID: "cm-1", Role: events.RoleCaseManager, Name: "Julie", TokenHash: sha256Hex(julieToken), TokenExpiresAt: &expires})},
			julieToken, expires.Add(-time.Second), nil, ""},
		{"a token at its expiry is refused as expired", []events.Event{
			on("staff-cm-1", &events.StaffRegistered{StaffID: "cm-1", Role: events.RoleCaseManager, Name: "Julie", TokenHash: sha256Hex(julieToken), TokenExpiresAt: &expires})},
			julieToken, expires, directory.ErrTokenExpired, "expired at 2025-03-01T13:00:00Z"},
		{"a rotated token carries its own expiry", []events.Event{julie,
			on("staff-cm-1", &events.TokenRotated{ID: "cm-1", TokenHash: sha256Hex(julie2), ExpiresAt: &expires})}, julie2, expires.Add(time.Minute), directory.ErrTokenExpired, "expired"},
		{"a partner registered with a staff member's id does not take their entry", []events.Event{julie,
			on("partner-cm-1", &events.PartnerRegistered{PartnerID: "cm-1", Category: events.CategoryPharmacy, Name: "Impostor", TokenHash: sha256Hex(impost)})},
			julieToken, t0, nil, ""},
		{"the partner registered with a staff member's id gets no token", []events.Event{julie,
			on("partner-cm-1", &events.PartnerRegistered{PartnerID: "cm-1", Category: events.CategoryPharmacy, Name: "Impostor", TokenHash: sha256Hex(impost)})},
			impost, t0, directory.ErrUnknownToken, ""},
		{"a rotation on the partner stream of a staff id changes nothing", []events.Event{julie,
			on("partner-cm-1", &events.TokenRotated{ID: "cm-1", TokenHash: sha256Hex(impost)})}, julieToken, t0, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := directory.New()
			for _, e := range tt.evs {
				if err := d.Apply(context.Background(), e); err != nil {
					t.Fatal(err)
				}
			}
			e, err := d.Resolve(tt.token, tt.at)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Resolve: %+v, %v; want %v", e, err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("error %q, want it to say %q", err, tt.says)
			}
			if err == nil && (e.ID != "cm-1" || e.Kind != directory.KindStaff || e.Role != events.RoleCaseManager) {
				t.Fatalf("authenticated as %+v, want cm-1 the case manager", e)
			}
		})
	}
}

func TestNATSKeysAreFolded(t *testing.T) {
	const k1, k2 = "UAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1", "UBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB2"
	ph := on("partner-ph-1", &events.PartnerRegistered{PartnerID: "ph-1", Category: events.CategoryPharmacy, Name: "Pharmacie"})
	doc := on("partner-doc-1", &events.PartnerRegistered{PartnerID: "doc-1", Category: events.CategoryDoctor, Name: "Clinique"})
	tests := []struct {
		name string
		evs  []events.Event
		want map[string]string
	}{
		{"a partner without a key is not listed", []events.Event{ph}, map[string]string{}},
		{"an issued key is listed under its partner", []events.Event{ph, on("partner-ph-1", &events.NATSKeyIssued{PartnerID: "ph-1", PublicKey: k1})},
			map[string]string{"ph-1": k1}},
		{"a second key replaces the first", []events.Event{ph, on("partner-ph-1", &events.NATSKeyIssued{PartnerID: "ph-1", PublicKey: k1}),
			on("partner-ph-1", &events.NATSKeyIssued{PartnerID: "ph-1", PublicKey: k2})}, map[string]string{"ph-1": k2}},
		{"a revoked key is not listed", []events.Event{ph, doc, on("partner-ph-1", &events.NATSKeyIssued{PartnerID: "ph-1", PublicKey: k1}),
			on("partner-doc-1", &events.NATSKeyIssued{PartnerID: "doc-1", PublicKey: k2}),
			on("partner-ph-1", &events.NATSKeyRevoked{PartnerID: "ph-1", PublicKey: k1})}, map[string]string{"doc-1": k2}},
		{"a key for an id nobody registered is not listed", []events.Event{on("partner-x", &events.NATSKeyIssued{PartnerID: "x", PublicKey: k1})},
			map[string]string{}},
		{"a partner's key survives a token rotation", []events.Event{ph, on("partner-ph-1", &events.NATSKeyIssued{PartnerID: "ph-1", PublicKey: k1}),
			on("partner-ph-1", &events.TokenRotated{ID: "ph-1", TokenHash: sha256Hex(pharmacyToken)})}, map[string]string{"ph-1": k1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := directory.New()
			for _, e := range tt.evs {
				if err := d.Apply(context.Background(), e); err != nil {
					t.Fatal(err)
				}
			}
			if got := d.NATSKeys(); !maps.Equal(got, tt.want) {
				t.Fatalf("NATSKeys() = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("a key change is signalled", func(t *testing.T) {
		d := directory.New()
		d.Apply(context.Background(), ph) //nolint:errcheck
		select {
		case <-d.NATSChanged():
			t.Fatal("a registration without a key was signalled")
		default:
		}
		d.Apply(context.Background(), on("partner-ph-1", &events.NATSKeyIssued{PartnerID: "ph-1", PublicKey: k1})) //nolint:errcheck
		select {
		case <-d.NATSChanged():
		default:
			t.Fatal("the issued key was not signalled")
		}
	})
}
