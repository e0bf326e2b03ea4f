package reports

import (
	"bytes"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
)

var encounterTypes = []string{events.TypeEDVisitStarted, events.TypeEDVisitUpdated, events.TypeEDVisitEnded,
	events.TypeEDVisitCancelled, events.TypeHospitalAdmitted, events.TypeHospitalDischarged}

// FuzzReadEncounter checks that what the fold reads of a stored encounter
// payload without decoding it is what decoding it gives.
func FuzzReadEncounter(f *testing.F) {
	at := time.Date(2024, 3, 4, 9, 0, 0, 123, time.FixedZone("EST", -5*3600))
	v := events.Visit{PatientKey: "pk1", Facility: "HSTA", VisitNumber: "V1", Identifier: &events.Identifier{Authority: "RAMQ", Value: "X"}}
	for _, p := range []events.Payload{
		&events.EDVisitStarted{Visit: v, ArrivedAt: at, Reason: `dit "facility":"X" é`, ReasonCategory: "respiratory"},
		&events.EDVisitStarted{Visit: v, ArrivedAt: at.UTC(), Reason: `a \ b`},
		&events.EDVisitUpdated{Visit: v, Reason: "Chute"},
		&events.EDVisitEnded{Visit: events.Visit{ClientID: "c1", PatientKey: "pk1", Facility: "HSTA", VisitNumber: "V1"}, EndedAt: at, Disposition: "home"},
		&events.EDVisitCancelled{Visit: v, Trigger: "A13", Reason: "erreur"},
		&events.HospitalAdmitted{Visit: v, AdmittedAt: time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC), Unit: "Médecine"},
		&events.HospitalDischarged{Visit: v, DischargedAt: at, Disposition: "home"},
	} {
		e := events.MustNew(p, events.Actor{ID: "hl7", Role: events.RoleSystem})
		for i, typ := range encounterTypes {
			if typ == e.Type {
				f.Add(uint8(i), string(e.Data))
			}
		}
	}
	f.Add(uint8(0), `{"arrived_at":"0001-01-01T00:00:00Z","facility":"F","patient_key":"k","visit_number":"n"}`)
	f.Add(uint8(0), `{"arrived_at":"1969-12-31T23:59:59.5-00:30","facility":"F","patient_key":"k","visit_number":"n"}`)
	f.Add(uint8(2), `{"ended_at":"2023-02-29T00:00:00Z","facility":"F","patient_key":"k","visit_number":"n"}`)
	f.Fuzz(func(t *testing.T, typ uint8, data string) {
		e := events.Event{Type: encounterTypes[int(typ)%len(encounterTypes)], Data: []byte(data)}
		e.SchemaVersion = events.CurrentVersion(e.Type)
		x, ok := readEncounter(&e)
		if !ok {
			return
		}
		pl, err := e.Payload()
		if err != nil {
			t.Fatalf("%s %s read, but decoding it fails: %v", e.Type, data, err)
		}
		y := encounterOf(pl)
		same := func(a, b []byte) bool { return bytes.Equal(a, b) }
		if !same(x.client, y.client) || !same(x.key, y.key) || !same(x.facility, y.facility) || !same(x.number, y.number) ||
			x.ident != y.ident || !same(x.authority, y.authority) || !same(x.value, y.value) || x.at != y.at ||
			!same(x.reason, y.reason) || !same(x.category, y.category) || !same(x.trigger, y.trigger) {
			t.Fatalf("%s %s\nread    %+v\ndecoded %+v", e.Type, data, x, *y)
		}
	})
}
