package clientindex_test

import (
	"context"
	"testing"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/projections/clientindex"
)

var cm = events.Actor{ID: "cm-1", Role: events.RoleCaseManager}

var (
	ramqHelene = events.Identifier{Authority: "RAMQ", Value: "BELH12345678"}
	mrnHelene  = events.Identifier{Authority: "HSTA", Value: "MRN-0042"}
	ramqMarc   = events.Identifier{Authority: "RAMQ", Value: "TREM87654321"}
)

// fromLedger registers two clients on a real ledger, with a visit of a
// stranger between them, and folds what the ledger gives back.
func fromLedger(t *testing.T) *clientindex.Index {
	t.Helper()
	ctx := context.Background()
	l := jstest.Ledger(t)
	appends := []struct {
		stream string
		p      events.Payload
	}{
		{events.ClientStream("c1"), &events.ClientRegistered{ClientID: "c1", GivenName: "Hélène", FamilyName: "Bélanger",
			Identifiers: []events.Identifier{ramqHelene, mrnHelene}, PatientKeys: []string{"pk-helene-ramq", "pk-helene-mrn"}}},
		{events.StaffStream("cm-1"), &events.StaffRegistered{StaffID: "cm-1", Role: events.RoleCaseManager, Name: "Julie Gervais"}},
		{events.ClientStream("c2"), &events.ClientRegistered{ClientID: "c2", GivenName: "Marc", FamilyName: "Tremblay",
			Identifiers: []events.Identifier{ramqMarc}, PatientKeys: []string{"pk-marc"}}},
	}
	for _, a := range appends {
		if _, err := l.Append(ctx, a.stream, ledger.NoStream, events.MustNew(a.p, cm)); err != nil {
			t.Fatal(err)
		}
	}
	x := clientindex.New()
	if err := l.Subscribe(ctx, 1, x.Apply, ledger.StopAtHead()); err != nil {
		t.Fatal(err)
	}
	return x
}

func TestClientByIdentifier(t *testing.T) {
	x := fromLedger(t)
	tests := []struct {
		name string
		id   events.Identifier
		want string
		ok   bool
	}{
		{"a client is found by their health insurance number", ramqHelene, "c1", true},
		{"a client is found by a hospital record number too", mrnHelene, "c1", true},
		{"each client is found by their own identifier", ramqMarc, "c2", true},
		{"the same number from another authority is someone else", events.Identifier{Authority: "HSTA", Value: ramqHelene.Value}, "", false},
		{"a number nobody was registered with is not a client", events.Identifier{Authority: "RAMQ", Value: "NOBO00000000"}, "", false},
		{"an identifier is matched exactly, not by prefix", events.Identifier{Authority: "RAMQ", Value: "BELH1234567"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := x.ClientByIdentifier(tt.id)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("ClientByIdentifier(%+v) = %q, %v; want %q, %v", tt.id, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestClientByPatientKey(t *testing.T) {
	x := fromLedger(t)
	tests := []struct {
		name string
		key  string
		want string
		ok   bool
	}{
		{"a visit recorded under any of a client's keys is theirs", "pk-helene-mrn", "c1", true},
		{"another client's key leads to them", "pk-marc", "c2", true},
		{"the key of a patient who is not a client leads nowhere", "pk-stranger", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := x.ClientByPatientKey(tt.key)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("ClientByPatientKey(%q) = %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestExists(t *testing.T) {
	x := fromLedger(t)
	tests := []struct {
		name string
		id   string
		want bool
	}{
		{"a registered client exists", "c2", true},
		{"a staff member is not a client", "cm-1", false},
		{"an unknown id is not a client", "c3", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := x.Exists(tt.id); got != tt.want {
				t.Fatalf("Exists(%q) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}
