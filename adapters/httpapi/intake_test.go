package httpapi

import (
	"context"
	"net/http"
	"testing"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/projections/clientindex"
	"github.com/relais-health/relais/services/edintake"
)

// An arrival is recorded as its caller, and a system account posts for its
// own facility only (hl7-<facility>).
func TestArrivalsAreRecordedAsTheCallerBoundToItsFacility(t *testing.T) {
	l := jstest.Ledger(t)
	in, err := edintake.New(l, clientindex.New(), edintake.Config{Facilities: []string{"HSTA", "HLAU"}, PatientSecret: []byte("0123456789abcdef-test")})
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(tokens{
		"tok-hsta":  {ID: "hl7-hsta", Role: events.RoleSystem},
		"tok-other": {ID: "interface-1", Role: events.RoleSystem},
		"tok-admin": {ID: "admin-1", Role: events.RoleAdmin},
	}, nil)
	s.RegisterIntake(in)
	srv := newTestServer(t, s)
	arrival := func(facility, visit string) string {
		return `{"facility":"` + facility + `","control_id":"c-` + visit + `","trigger":"A04","at":"2026-11-20T14:30:00Z",` +
			`"identifiers":[{"authority":"RAMQ","value":"BELH12345678"}],"visit_number":"` + visit + `"}`
	}
	tests := []struct {
		name     string
		token    string
		facility string
		visit    string
		status   int
		actor    string
	}{
		{"HSTA's token posting for HLAU is forbidden", "tok-hsta", "HLAU", "V1", http.StatusForbidden, ""},
		{"a system token bound to no facility is forbidden", "tok-other", "HSTA", "V2", http.StatusForbidden, ""},
		{"HSTA's token posting for HSTA is recorded as hl7-hsta", "tok-hsta", "HSTA", "V3", http.StatusCreated, "hl7-hsta"},
		{"an administrator posting is recorded as the administrator", "tok-admin", "HLAU", "V4", http.StatusCreated, "admin-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := call(t, srv, "POST", "/v1/ed/arrivals", tt.token, arrival(tt.facility, tt.visit))
			if a.status != tt.status {
				t.Fatalf("status %d (%s), want %d", a.status, a.body, tt.status)
			}
			evs, _ := l.Read(context.Background(), events.VisitStream(tt.facility, tt.visit), 1)
			if tt.actor == "" {
				if len(evs) != 0 {
					t.Fatalf("a forbidden arrival was recorded: %d events", len(evs))
				}
				return
			}
			if len(evs) != 1 {
				t.Fatalf("recorded %d events, want 1", len(evs))
			}
			if evs[0].Actor.ID != tt.actor || evs[0].Source.Remote == "" {
				t.Fatalf("recorded actor %+v, source %+v; want %s with the caller's address", evs[0].Actor, evs[0].Source, tt.actor)
			}
		})
	}
}
