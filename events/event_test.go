package events

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var cm = Actor{ID: "cm-1", Role: RoleCaseManager}

func TestPayloadValidation(t *testing.T) {
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		p         Payload
		wantField string // "" means valid
	}{
		{"a flag with a programme is valid", &ClientFlagged{ClientID: "c1", Programme: "defi-sante"}, ""},
		{"a flag without a programme names the programme", &ClientFlagged{ClientID: "c1"}, "programme"},
		{"a consent for an unknown category is refused", &ConsentGranted{ClientID: "c1", Category: "neighbour"}, "category"},
		{"a consent for the rehab centre is valid", &ConsentGranted{ClientID: "c1", Category: CategoryRehab}, ""},
		{"an ED visit needs the arrival time", &EDVisitStarted{Visit: Visit{PatientKey: "k", Facility: "HSA", VisitNumber: "V1"}}, "arrived_at"},
		{"an ED visit needs a visit number", &EDVisitStarted{Visit: Visit{PatientKey: "k", Facility: "HSA"}, ArrivedAt: at}, "visit_number"},
		{"a contact on an unknown channel is refused", &ContactMade{ClientID: "c", StaffID: "s", Channel: "pigeon", At: at}, "channel"},
		{"a too long reason is refused", &ClientFlagged{ClientID: "c1", Programme: "p", Reason: strings.Repeat("é", 501)}, "reason"},
		{"invalid UTF-8 is refused", &ClientFlagged{ClientID: "c1", Programme: "p\xff"}, "programme"},
		{"a declined referral must say why", &ReferralDeclined{ReferralAnswer{ClientID: "c", ReferralID: "r", PartnerID: "p"}}, "note"},
		{"a target date must be a date", &ObjectiveAdded{ClientID: "c", PlanID: "p", ObjectiveID: "o", Description: "d", TargetDate: "next week"}, "target_date"},
		{"an alert with an unknown priority is refused", &AlertRaised{AlertID: "a", ThreadID: "t", RecipientID: "r", Priority: "urgent", Kind: "k", Summary: "s", CauseID: "c", RaisedAt: at}, "priority"},
		{"a staff member needs a known role", &StaffRegistered{StaffID: "s", Role: "janitor", Name: "n"}, "role"},
		{"a merge of a patient into itself is refused", &PatientMerged{Facility: "f", SurvivingKey: "k", MergedKey: "k"}, "merged_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.p, cm)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.wantField {
				t.Fatalf("want error on field %q, got %v", tt.wantField, err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
		})
	}
}

func TestEnvelopeValidation(t *testing.T) {
	good := MustNew(&ClientFlagged{ClientID: "c1", Programme: "defi-sante"}, cm)
	tests := []struct {
		name   string
		mutate func(*Event)
		want   string
	}{
		{"an event without an actor is refused", func(e *Event) { e.Actor.ID = "" }, "actor.id"},
		{"a role with capitals is refused", func(e *Event) { e.Actor.Role = "Admin" }, "actor.role"},
		{"an id that is not a UUID is refused", func(e *Event) { e.ID = "42" }, "id"},
		{"an unknown type is refused", func(e *Event) { e.Type = "client.teleported" }, "unknown event type"},
		{"a payload with an unknown field is refused", func(e *Event) { e.Data = json.RawMessage(`{"client_id":"c","programme":"p","colour":"red"}`) }, "data"},
		{"a payload over 1 MiB is refused", func(e *Event) {
			e.Data = json.RawMessage(`{"client_id":"c","programme":"p","reason":"` + strings.Repeat("x", MaxEventSize) + `"}`)
		}, "data"},
		{"a schema version from the future is refused", func(e *Event) { e.SchemaVersion = 9 }, "schema_version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := good
			tt.mutate(&e)
			err := e.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want error naming %q, got %v", tt.want, err)
			}
		})
	}
}

func TestCanonicalSortsKeysAndKeepsNumbers(t *testing.T) {
	got, err := Canonical([]byte(`{ "b": 1.50, "a": {"y": true, "x": [3, "é<"]} }`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":{"x":[3,"é<"],"y":true},"b":1.50}`
	if string(got) != want {
		t.Fatalf("got %s want %s", got, want)
	}
	if _, err := Canonical([]byte(`{"a":1} {"b":2}`)); err == nil {
		t.Fatal("trailing data accepted")
	}
}

func TestEncodeIsStableAndHashCoversPrevHash(t *testing.T) {
	e := MustNew(&ClientFlagged{ClientID: "c1", Programme: "defi-sante"}, cm)
	if err := e.Canonicalize(); err != nil {
		t.Fatal(err)
	}
	e.Stream, e.Revision, e.RecordedAt = "client-c1", 1, time.Unix(0, 0).UTC()
	a, _ := e.Encode()
	back, err := Decode(a)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := back.Encode()
	if string(a) != string(b) {
		t.Fatalf("re-encoding changed the bytes:\n%s\n%s", a, b)
	}
	e.PrevHash = "x"
	c, _ := e.Encode()
	if HashOf(a) == HashOf(c) {
		t.Fatal("hash does not depend on prev_hash")
	}
}

func TestOldSchemaVersionIsUpcast(t *testing.T) {
	e := Event{
		ID: "01900000-0000-7000-8000-000000000001", Type: TypeMedicationProfile, SchemaVersion: 1,
		OccurredAt: time.Now(), Actor: Actor{ID: "ph-1", Role: "pharmacy"},
		Data: json.RawMessage(`{"client_id":"c1","pharmacy_id":"ph-1","medications":["lithium","quetiapine"]}`),
	}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := e.Payload()
	if err != nil {
		t.Fatal(err)
	}
	m := p.(*MedicationProfileUpdated)
	if len(m.Medications) != 2 || m.Medications[1].Name != "quetiapine" {
		t.Fatalf("upcast gave %+v", m)
	}
}

func TestDeriveIDIsDeterministic(t *testing.T) {
	if DeriveID("a", "b") != DeriveID("a", "b") || DeriveID("a", "b") == DeriveID("ab") {
		t.Fatal("DeriveID must be deterministic and separate its parts")
	}
}

func TestEveryTypeIsRegistered(t *testing.T) {
	if n := len(Types()); n < 37 {
		t.Fatalf("catalog has %d types", n)
	}
}

func FuzzDecodeEvent(f *testing.F) {
	e := MustNew(&ClientFlagged{ClientID: "c1", Programme: "defi-sante"}, cm)
	b, _ := e.Encode()
	f.Add(b)
	f.Add([]byte(`{"id":"x","type":"ed.visit.started","schema_version":1,"data":{"patient_key":"k"}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Decode(data)
		if err != nil {
			return
		}
		if e.Validate() != nil {
			return
		}
		// A valid event must survive canonical encoding and decoding.
		if err := e.Canonicalize(); err != nil {
			t.Fatalf("valid event cannot be canonicalized: %v", err)
		}
		b, err := e.Encode()
		if err != nil {
			return // too large
		}
		again, err := Decode(b)
		if err != nil {
			t.Fatalf("encoded event does not decode: %v", err)
		}
		if err := again.Validate(); err != nil {
			t.Fatalf("valid event invalid after round trip: %v", err)
		}
	})
}
