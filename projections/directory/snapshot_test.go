package directory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
)

func hashOf(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

func dirEvent(t *testing.T, stream string, p events.Payload) events.Event {
	t.Helper()
	e, err := events.New(p, events.Actor{ID: "admin", Role: events.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	e.Stream = stream
	return e
}

func fold(t *testing.T, d *Directory, evs []events.Event) {
	t.Helper()
	for _, e := range evs {
		if err := d.Apply(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRestartFromSnapshotAuthenticatesAsAFullReplay: a directory restored
// from a snapshot holds the same entries and token index as the one that
// folded the history, and after more rotations, revocations and NATS keys
// both answer every token and key the same.
func TestRestartFromSnapshotAuthenticatesAsAFullReplay(t *testing.T) {
	later := time.Now().Add(time.Hour)
	h := func(tok string) string { return hashOf(tok) }
	history := []events.Event{
		dirEvent(t, "staff-cm-1", &events.StaffRegistered{StaffID: "cm-1", Role: events.RoleCaseManager, Name: "CM", TokenHash: h("tok-cm")}),
		dirEvent(t, "staff-pm-1", &events.StaffRegistered{StaffID: "pm-1", Role: events.RoleProgrammeManager, Name: "PM", TokenHash: h("tok-pm"), TokenExpiresAt: &later}),
		dirEvent(t, "partner-doc-1", &events.PartnerRegistered{PartnerID: "doc-1", Category: "doctor", Name: "Dre", TokenHash: h("tok-doc"), WebhookURL: "https://doc.example/hook"}),
		dirEvent(t, "partner-ph-1", &events.PartnerRegistered{PartnerID: "ph-1", Category: "pharmacy", Name: "Ph", TokenHash: h("tok-ph")}),
		dirEvent(t, "partner-doc-1", &events.NATSKeyIssued{PartnerID: "doc-1", PublicKey: "UDOC"}),
		dirEvent(t, "staff-cm-1", &events.TokenRotated{ID: "cm-1", TokenHash: h("tok-cm-2")}),
	}
	future := []events.Event{
		dirEvent(t, "partner-doc-1", &events.TokenRotated{ID: "doc-1", TokenHash: h("tok-doc-2"), ExpiresAt: &later}),
		dirEvent(t, "partner-ph-1", &events.TokenRevoked{ID: "ph-1"}),
		dirEvent(t, "partner-ph-1", &events.NATSKeyIssued{PartnerID: "ph-1", PublicKey: "UPH"}),
		dirEvent(t, "partner-doc-1", &events.NATSKeyRevoked{PartnerID: "doc-1"}),
		// a partner registration racing for a staff id changes nothing
		dirEvent(t, "partner-cm-1", &events.PartnerRegistered{PartnerID: "cm-1", Category: "doctor", Name: "X", TokenHash: h("tok-x")}),
	}
	first := New()
	fold(t, first, history)
	snap, err := first.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored := New()
	if err := restored.Restore(snap); err != nil {
		t.Fatal(err)
	}
	select {
	case <-restored.NATSChanged():
	default:
		t.Error("a restore did not signal the NATS keys changed")
	}
	same := func(what string, got, want *Directory) {
		t.Helper()
		if !reflect.DeepEqual(got.byID, want.byID) {
			t.Errorf("%s: entries differ:\n got %+v\nwant %+v", what, got.byID, want.byID)
		}
		if !reflect.DeepEqual(got.byToken, want.byToken) {
			t.Errorf("%s: token index differs:\n got %+v\nwant %+v", what, got.byToken, want.byToken)
		}
	}
	same("restored", restored, first)
	full := New()
	fold(t, full, append(append([]events.Event(nil), history...), future...))
	fold(t, restored, future)
	same("restored + new events vs full replay", restored, full)
	for _, tok := range []string{"tok-cm", "tok-cm-2", "tok-pm", "tok-doc", "tok-doc-2", "tok-ph", "tok-x"} {
		ge, gerr := restored.Resolve(tok, time.Now())
		we, werr := full.Resolve(tok, time.Now())
		if !reflect.DeepEqual(ge, we) || gerr != werr {
			t.Errorf("token %s: restored resolves (%+v, %v), full replay (%+v, %v)", tok, ge, gerr, we, werr)
		}
	}
	if got, want := restored.NATSKeys(), full.NATSKeys(); !reflect.DeepEqual(got, want) || len(got) != 1 {
		t.Errorf("NATS keys after the restart %v, full replay %v", got, want)
	}
	if e, err := restored.Resolve("tok-cm-2", time.Now()); err != nil || e.ID != "cm-1" {
		t.Errorf("the rotated token after the restart: %+v, %v", e, err)
	}
}

// TestSnapshotHoldsEveryField fails when Directory or Entry gains a field
// the snapshot does not hold.
func TestSnapshotHoldsEveryField(t *testing.T) {
	for _, c := range []struct {
		internal, snap any
		skip           map[string]bool
	}{
		{Directory{}, snapState{}, map[string]bool{"mu": true, "natsChanged": true}},
		{Entry{}, snapEntry{}, nil},
	} {
		it, st := reflect.TypeOf(c.internal), reflect.TypeOf(c.snap)
		for i := range it.NumField() {
			f := it.Field(i)
			if c.skip[f.Name] {
				continue
			}
			if _, ok := st.FieldByNameFunc(func(n string) bool { return strings.EqualFold(n, f.Name) }); !ok {
				t.Errorf("%s.%s has no field in %s: a restart from a snapshot would lose it", it.Name(), f.Name, st.Name())
			}
		}
	}
}

func TestRestoreRefusesABadSnapshot(t *testing.T) {
	for _, c := range []struct{ name, snap, want string }{
		{"no version", `{}`, "snapshot version 0, want 1"},
		{"token of nobody", `{"version":1,"by_id":{},"by_token":{"abc":"cm-1"}}`, `the token index names "cm-1"`},
		{"entry under another id", `{"version":1,"by_id":{"a":{"id":"b"}}}`, `entry "a" holds id "b"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := New()
			fold(t, d, []events.Event{dirEvent(t, "staff-cm-1", &events.StaffRegistered{StaffID: "cm-1", Role: events.RoleCaseManager, Name: "CM", TokenHash: hashOf("t")})})
			if err := d.Restore([]byte(c.snap)); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Restore(%s) = %v, want %q", c.snap, err, c.want)
			}
			if _, ok := d.Authenticate("t"); !ok {
				t.Fatal("a refused snapshot changed the directory")
			}
		})
	}
}
