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

// fold appends each payload to its client's stream on a real ledger and
// folds what the ledger gives back.
func fold(t *testing.T, ps ...events.Payload) *clientindex.Index {
	t.Helper()
	ctx := context.Background()
	l := jstest.Ledger(t)
	for _, p := range ps {
		var stream string
		switch v := p.(type) {
		case *events.ClientRegistered:
			stream = events.ClientStream(v.ClientID)
		case *events.ClientMerged:
			stream = events.ClientStream(v.ClientID)
		case *events.ClientAbsorbed:
			stream = events.ClientStream(v.ClientID)
		}
		if _, err := l.Append(ctx, stream, ledger.Any, events.MustNew(p, cm)); err != nil {
			t.Fatal(err)
		}
	}
	x := clientindex.New()
	if err := l.Subscribe(ctx, 1, x.Apply, ledger.StopAtHead()); err != nil {
		t.Fatal(err)
	}
	return x
}

func reg(id string, keys []string, ids ...events.Identifier) *events.ClientRegistered {
	return &events.ClientRegistered{ClientID: id, GivenName: "G", FamilyName: "F", Identifiers: ids, PatientKeys: keys}
}

func TestIdentifiersStayWithTheirFirstClientUntilAMerge(t *testing.T) {
	mergeC2 := &events.ClientMerged{ClientID: "c2", Into: "c1", Reason: "même personne"}
	tests := []struct {
		name     string
		ledger   []events.Payload
		id       events.Identifier
		key      string
		want     string
		survivor map[string]string // client -> survivor, for the merged ones
	}{
		{"a later registration with a held identifier does not take it over (a ledger from before the refusal)",
			[]events.Payload{reg("c1", []string{"pk1"}, ramqHelene), reg("c2", []string{"pk1"}, ramqHelene)}, ramqHelene, "pk1", "c1", nil},
		{"a merge passes the duplicate's identifiers and keys to the survivor",
			[]events.Payload{reg("c1", []string{"pk1"}, ramqHelene), reg("c2", []string{"pk2"}, mrnHelene), mergeC2}, mrnHelene, "pk2", "c1", map[string]string{"c2": "c1"}},
		{"merges are followed to the last survivor",
			[]events.Payload{reg("c1", nil, ramqHelene), reg("c2", []string{"pk2"}, mrnHelene), reg("c3", nil, ramqMarc), mergeC2,
				&events.ClientMerged{ClientID: "c1", Into: "c3", Reason: "x"}}, mrnHelene, "pk2", "c3", map[string]string{"c2": "c3", "c1": "c3"}},
		{"a merge into a client already merged goes to where that one went",
			[]events.Payload{reg("c1", nil, ramqHelene), reg("c2", []string{"pk2"}, mrnHelene), reg("c3", nil, ramqMarc),
				&events.ClientMerged{ClientID: "c1", Into: "c3", Reason: "x"}, mergeC2}, mrnHelene, "pk2", "c3", map[string]string{"c2": "c3", "c1": "c3"}},
		{"a merge that would close a cycle is ignored",
			[]events.Payload{reg("c1", nil, ramqHelene), reg("c2", []string{"pk2"}, mrnHelene), mergeC2,
				&events.ClientMerged{ClientID: "c1", Into: "c2", Reason: "x"}}, mrnHelene, "pk2", "c1", map[string]string{"c2": "c1"}},
		{"the survivor's client.absorbed alone carries the identifiers",
			[]events.Payload{reg("c1", nil, ramqHelene), &events.ClientAbsorbed{ClientID: "c1", Merged: "c9", Identifiers: []events.Identifier{mrnHelene}, PatientKeys: []string{"pk9"}, Reason: "x"}},
			mrnHelene, "pk9", "c1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := fold(t, tt.ledger...)
			if got, _ := x.ClientByIdentifier(tt.id); got != tt.want {
				t.Errorf("ClientByIdentifier = %q, want %q", got, tt.want)
			}
			if got, _ := x.ClientByPatientKey(tt.key); got != tt.want {
				t.Errorf("ClientByPatientKey = %q, want %q", got, tt.want)
			}
			for c, want := range tt.survivor {
				if got, ok := x.Survivor(c); got != want || !ok {
					t.Errorf("Survivor(%s) = %q, %v; want %q, true", c, got, ok, want)
				}
			}
			if got, ok := x.Survivor(tt.want); got != tt.want || ok {
				t.Errorf("Survivor(%s) = %q, %v; want itself, false", tt.want, got, ok)
			}
		})
	}
}
