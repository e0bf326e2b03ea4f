package clientfile

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
)

// FuzzStranger checks that a payload stranger reads without decoding it
// names the patient key and visit that decoding it gives, and no client.
func FuzzStranger(f *testing.F) {
	at := time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC)
	for _, p := range []events.Payload{
		&events.EDVisitStarted{Visit: events.Visit{PatientKey: "pk1", Facility: "HSTA", VisitNumber: "V1",
			Identifier: &events.Identifier{Authority: "RAMQ", Value: "X"}}, ArrivedAt: at, Reason: `dit "facility":"X" \ é`},
		&events.EDVisitEnded{Visit: events.Visit{ClientID: "c1", PatientKey: "pk1", Facility: "HSTA", VisitNumber: "V1"}, EndedAt: at},
		&events.EDVisitCancelled{Visit: events.Visit{PatientKey: "pk1", Facility: "HSTA", VisitNumber: "V1"}, Trigger: "A11"},
	} {
		f.Add(string(events.MustNew(p, events.Actor{ID: "hl7", Role: events.RoleSystem}).Data))
	}
	f.Add(`{"identifier":[1,{"b":"}"}],"facility":"F","patient_key":"k","visit_number":"n"}`)
	f.Add(`{"Facility":"G","facility":"F","patient_key":"k","visit_number":"n"}`)
	f.Fuzz(func(t *testing.T, data string) {
		p := New()
		e := events.Event{Type: events.TypeEDVisitCancelled, SchemaVersion: events.CurrentVersion(events.TypeEDVisitCancelled), Data: []byte(data)}
		var v events.EDVisitCancelled
		if !p.stranger(e) || json.Unmarshal([]byte(data), &v) != nil {
			return
		}
		if v.ClientID != "" {
			t.Fatalf("%s read as a stranger's visit, decoded as %+v", data, v.Visit)
		}
		var key, facility, number []byte
		events.Members([]byte(data), func(k, val []byte) bool {
			switch string(k) {
			case "patient_key":
				key, _ = events.PlainString(val)
			case "facility":
				facility, _ = events.PlainString(val)
			case "visit_number":
				number, _ = events.PlainString(val)
			}
			return true
		})
		if string(key) != v.PatientKey || string(facility) != v.Facility || string(number) != v.VisitNumber {
			t.Fatalf("%s read as %q %q %q, decoded as %+v", data, key, facility, number, v.Visit)
		}
	})
}
