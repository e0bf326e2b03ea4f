package clientindex

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/relais-health/relais/events"
)

func ixFold(t *testing.T, x *Index, ps ...events.Payload) {
	t.Helper()
	for _, p := range ps {
		e, err := events.New(p, events.Actor{ID: "cm-1", Role: events.RoleCaseManager})
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Apply(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

func ramq(v string) events.Identifier { return events.Identifier{Authority: "RAMQ", Value: v} }

// TestRestartFromSnapshotFindsClientsAsAFullReplay: an index restored from
// a snapshot holds what the one that folded the history holds, and after
// more registrations and a merge both find every identifier and key alike.
func TestRestartFromSnapshotFindsClientsAsAFullReplay(t *testing.T) {
	history := []events.Payload{
		&events.ClientRegistered{ClientID: "c1", GivenName: "A", FamilyName: "B", Identifiers: []events.Identifier{ramq("1")}, PatientKeys: []string{"k1"}},
		&events.ClientRegistered{ClientID: "c2", GivenName: "C", FamilyName: "D", Identifiers: []events.Identifier{ramq("2")}, PatientKeys: []string{"k2"}},
		&events.ClientRegistered{ClientID: "c3", GivenName: "E", FamilyName: "F", Identifiers: []events.Identifier{ramq("3")}},
		&events.ClientMerged{ClientID: "c3", Into: "c1", Reason: "duplicate"},
	}
	future := []events.Payload{
		// c3 was merged into c1: its later identifier goes to c1
		&events.ClientAbsorbed{ClientID: "c1", Merged: "c3", Reason: "duplicate", Identifiers: []events.Identifier{ramq("3b")}, PatientKeys: []string{"k3"}},
		&events.ClientMerged{ClientID: "c2", Into: "c3", Reason: "duplicate"},
		&events.ClientRegistered{ClientID: "c4", GivenName: "G", FamilyName: "H", Identifiers: []events.Identifier{ramq("1"), ramq("4")}},
	}
	first := New()
	ixFold(t, first, history...)
	snap, err := first.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored := New()
	if err := restored.Restore(snap); err != nil {
		t.Fatal(err)
	}
	same := func(what string, got, want *Index) {
		t.Helper()
		for name, pair := range map[string][2]any{
			"byID": {got.byID, want.byID}, "byKey": {got.byKey, want.byKey}, "client": {got.client, want.client}, "into": {got.into, want.into},
		} {
			if !reflect.DeepEqual(pair[0], pair[1]) {
				t.Errorf("%s: %s differs:\n got %+v\nwant %+v", what, name, pair[0], pair[1])
			}
		}
	}
	same("restored", restored, first)
	full := New()
	ixFold(t, full, append(append([]events.Payload(nil), history...), future...)...)
	ixFold(t, restored, future...)
	same("restored + new events vs full replay", restored, full)
	for _, v := range []string{"1", "2", "3", "3b", "4"} {
		g, gok := restored.ClientByIdentifier(ramq(v))
		w, wok := full.ClientByIdentifier(ramq(v))
		if g != w || gok != wok {
			t.Errorf("RAMQ %s: restored finds %q %v, full replay %q %v", v, g, gok, w, wok)
		}
	}
	if c, _ := restored.ClientByIdentifier(ramq("2")); c != "c1" {
		t.Errorf("c2 merged into c3, itself merged into c1: RAMQ 2 finds %q, want c1", c)
	}
}

// TestSnapshotHoldsEveryField fails when Index gains a field the snapshot
// does not hold.
func TestSnapshotHoldsEveryField(t *testing.T) {
	it, st := reflect.TypeOf(Index{}), reflect.TypeOf(snapState{})
	for i := range it.NumField() {
		f := it.Field(i)
		if f.Name == "mu" {
			continue
		}
		if _, ok := st.FieldByNameFunc(func(n string) bool { return strings.EqualFold(n, f.Name) }); !ok {
			t.Errorf("Index.%s has no field in the snapshot: a restart would lose it", f.Name)
		}
	}
}

func TestRestoreRefusesABadSnapshot(t *testing.T) {
	for _, c := range []struct{ name, snap, want string }{
		{"no version", `{}`, "snapshot version 0, want 1"},
		{"identifier twice", `{"version":1,"by_id":[{"authority":"RAMQ","value":"1","client":"a"},{"authority":"RAMQ","value":"1","client":"b"}]}`, "listed twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			x := New()
			ixFold(t, x, &events.ClientRegistered{ClientID: "c1", GivenName: "A", FamilyName: "B", Identifiers: []events.Identifier{ramq("9")}})
			if err := x.Restore([]byte(c.snap)); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Restore(%s) = %v, want %q", c.snap, err, c.want)
			}
			if got, ok := x.ClientByIdentifier(ramq("9")); !ok || got != "c1" {
				t.Fatal("a refused snapshot changed the index")
			}
		})
	}
}
