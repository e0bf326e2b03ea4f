package edintake_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/projections/clientindex"
	"github.com/relais-health/relais/services/edintake"
)

var secret = []byte("0123456789abcdef-test")

func setup(t *testing.T) (*edintake.Service, *clientindex.Index, *jstestLedger) {
	t.Helper()
	l := jstest.Ledger(t)
	idx := clientindex.New()
	reg := events.MustNew(&events.ClientRegistered{ClientID: "c42", GivenName: "Hélène", FamilyName: "Bélanger",
		Identifiers: []events.Identifier{{Authority: "RAMQ", Value: "BELH12345678"}}}, events.Actor{ID: "cm-1", Role: "case_manager"})
	if err := idx.Apply(context.Background(), reg); err != nil {
		t.Fatal(err)
	}
	svc, err := edintake.New(l, idx, edintake.Config{Facilities: []string{"HSTA"}, PatientSecret: secret, KeyAuthorities: []string{"RAMQ"}})
	if err != nil {
		t.Fatal(err)
	}
	return svc, idx, &jstestLedger{l}
}

type jstestLedger struct{ edintake.Ledger }

func msg(trigger, control string, ids ...events.Identifier) edintake.Message {
	return edintake.Message{SendingFacility: "HSTA", ControlID: control, Trigger: trigger, At: time.Date(2026, 11, 20, 14, 30, 0, 0, time.UTC),
		Identifiers: ids, VisitNumber: "V100", Reason: "Dyspnée"}
}

var client = events.Identifier{Authority: "RAMQ", Value: "BELH12345678"}
var stranger = events.Identifier{Authority: "MRN", Value: "999"}

func TestIntakeRecordsVisitsOfClientsAndStrangers(t *testing.T) {
	svc, _, l := setup(t)
	ctx := context.Background()
	out, err := svc.Record(ctx, msg("A04", "1001", stranger, client))
	if err != nil {
		t.Fatal(err)
	}
	if out.ClientID != "c42" || out.Duplicate {
		t.Fatalf("A04 of a client named by its second identifier: %+v", out)
	}
	again, err := svc.Record(ctx, msg("A04", "1001", stranger, client))
	if err != nil || !again.Duplicate || again.Position != out.Position {
		t.Fatalf("the same control id must be acknowledged again and recorded once: %+v %v", again, err)
	}
	if _, err := svc.Record(ctx, msg("A01", "1002", client)); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Record(ctx, msg("A03", "1003", client)); err != nil {
		t.Fatal(err)
	}
	evs, err := l.Read(ctx, out.Stream, 1)
	if err != nil {
		t.Fatal(err)
	}
	types := []string{}
	for _, e := range evs {
		types = append(types, e.Type)
	}
	want := []string{events.TypeEDVisitStarted, events.TypeHospitalAdmitted, events.TypeHospitalDischarged}
	if len(types) != len(want) {
		t.Fatalf("visit stream holds %v, want %v", types, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Fatalf("visit stream holds %v, want %v", types, want)
		}
	}

	s := msg("A04", "2001", stranger)
	s.VisitNumber = "V200"
	out2, err := svc.Record(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	evs, _ = l.Read(ctx, out2.Stream, 1)
	p, _ := evs[0].Payload()
	v := p.(*events.EDVisitStarted)
	if v.ClientID != "" || v.Identifier == nil || v.PatientKey != events.PatientKey(secret, events.Identifier{Authority: "HSTA/MRN", Value: "999"}) {
		t.Fatalf("a stranger's visit must carry the pseudonymous key and the identifier only: %+v", v)
	}
}

func TestIntakeRefusesWhatItCannotRecord(t *testing.T) {
	svc, _, _ := setup(t)
	tests := []struct {
		name string
		m    func() edintake.Message
		want error
	}{
		{"an unknown sending facility is refused", func() edintake.Message { m := msg("A04", "1", client); m.SendingFacility = "EVIL"; return m }, edintake.ErrRefused},
		{"a trigger that is not an ADT event is refused", func() edintake.Message { return msg("R01", "1", client) }, edintake.ErrUnsupported},
		{"a message without control id is malformed", func() edintake.Message { return msg("A04", "", client) }, edintake.ErrMalformed},
		{"a message without patient identifier is malformed", func() edintake.Message { return msg("A04", "1") }, edintake.ErrMalformed},
		{"a visit without visit number is malformed", func() edintake.Message { m := msg("A04", "1", client); m.VisitNumber = ""; return m }, edintake.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := svc.Record(context.Background(), tt.m()); !errors.Is(err, tt.want) {
				t.Fatalf("want %v, got %v", tt.want, err)
			}
		})
	}
}

// A control id reused for another message never stores one event id at
// two positions: the id comes from the content, so each message is its own
// event and each AA is true; the same message sent again is still
// recorded once.
func TestAReusedControlIDWithOtherContentIsAnotherEvent(t *testing.T) {
	svc, _, l := setup(t)
	ctx := context.Background()
	first, err := svc.Record(ctx, msg("A04", "7001", client))
	if err != nil {
		t.Fatal(err)
	}
	otherVisit := msg("A04", "7001", stranger)
	otherVisit.VisitNumber = "V777"
	sameVisit := msg("A08", "7001", client)
	tests := []struct {
		name      string
		m         edintake.Message
		duplicate bool
	}{
		{"the same message sent again is a duplicate", msg("A04", "7001", client), true},
		{"the control id reused for a different visit is recorded", otherVisit, false},
		{"the control id reused for another message of the visit is recorded", sameVisit, false},
	}
	ids := map[string]uint64{}
	evs, _ := l.Read(ctx, first.Stream, 1)
	ids[evs[0].ID] = first.Position
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := svc.Record(ctx, tt.m)
			if err != nil {
				t.Fatal(err)
			}
			if out.Duplicate != tt.duplicate {
				t.Fatalf("duplicate = %v, want %v", out.Duplicate, tt.duplicate)
			}
			if tt.duplicate {
				if out.Position != first.Position {
					t.Fatalf("a duplicate answered position %d, want %d", out.Position, first.Position)
				}
				return
			}
			evs, err := l.Read(ctx, out.Stream, 1)
			if err != nil {
				t.Fatal(err)
			}
			e := evs[len(evs)-1]
			if e.Position != out.Position {
				t.Fatalf("the acknowledged position %d is not the last event's %d", out.Position, e.Position)
			}
			if at, seen := ids[e.ID]; seen {
				t.Fatalf("event id %s stored at positions %d and %d", e.ID, at, e.Position)
			}
			ids[e.ID] = e.Position
		})
	}
}

// A message about a visit must name the visit's patient; a merge (A40) of
// the visit's patient into another makes the survivor the visit's patient.
func TestAMessageForAnotherPatientsVisitIsRefused(t *testing.T) {
	svc, _, l := setup(t)
	ctx := context.Background()
	start, err := svc.Record(ctx, msg("A04", "8001", client))
	if err != nil {
		t.Fatal(err)
	}
	unrelated := events.Identifier{Authority: "RAMQ", Value: "OTHR99999999"}
	tests := []struct {
		name string
		m    edintake.Message
		want error
	}{
		{"an A11 with an unrelated PID-3 is refused", msg("A11", "8002", unrelated), edintake.ErrPatientMismatch},
		{"an A13 with an unrelated PID-3 is refused", msg("A13", "8003", unrelated), edintake.ErrPatientMismatch},
		{"an A08 with an unrelated PID-3 is refused", msg("A08", "8004", unrelated), edintake.ErrPatientMismatch},
		{"an A03 with an unrelated PID-3 is refused", msg("A03", "8005", unrelated), edintake.ErrPatientMismatch},
		{"an A08 naming the patient by another of the client's identifiers is accepted", msg("A08", "8006", stranger, client), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.Record(ctx, tt.m)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Record = %v, want %v", err, tt.want)
			}
		})
	}
	evs, _ := l.Read(ctx, start.Stream, 1)
	if len(evs) != 2 {
		t.Fatalf("the visit holds %d events, want the A04 and the accepted A08", len(evs))
	}

	// A stranger's visit, then the hospital merges the stranger into another record.
	s := msg("A04", "8101", stranger)
	s.VisitNumber = "V300"
	if _, err := svc.Record(ctx, s); err != nil {
		t.Fatal(err)
	}
	survivor := events.Identifier{Authority: "MRN", Value: "555"}
	cancel := msg("A11", "8102", survivor)
	cancel.VisitNumber = "V300"
	if _, err := svc.Record(ctx, cancel); !errors.Is(err, edintake.ErrPatientMismatch) {
		t.Fatalf("before the merge, the survivor's A11 = %v, want a mismatch", err)
	}
	merge := msg("A40", "8103", survivor)
	merge.VisitNumber, merge.MergedIdentifiers = "", []events.Identifier{stranger}
	if _, err := svc.Record(ctx, merge); err != nil {
		t.Fatal(err)
	}
	cancel.ControlID = "8104"
	if _, err := svc.Record(ctx, cancel); err != nil {
		t.Fatalf("after the merge, the survivor's A11 = %v, want accepted", err)
	}
}

// The actor recorded is the caller; a system account speaks for its own
// facility only; the connection is kept in the source.
func TestTheCallerIsRecordedAndASystemAccountIsBoundToItsFacility(t *testing.T) {
	svc, _, l := setup(t)
	ctx := context.Background()
	hlau := events.Actor{ID: "hl7-hlau", Role: events.RoleSystem}
	if _, err := svc.Record(ctx, msg("A04", "9001", client), edintake.By(hlau)); !errors.Is(err, edintake.ErrRefused) {
		t.Fatalf("HLAU's account posting for HSTA = %v, want ErrRefused", err)
	}
	if _, err := svc.Record(ctx, msg("A04", "9001", client), edintake.By(events.Actor{ID: "interface", Role: events.RoleSystem})); !errors.Is(err, edintake.ErrRefused) {
		t.Fatalf("a system account bound to no facility = %v, want ErrRefused", err)
	}
	tests := []struct {
		name  string
		actor events.Actor
		m     edintake.Message
	}{
		{"HSTA's own account is recorded as the actor", events.Actor{ID: "hl7-hsta", Role: events.RoleSystem}, msg("A04", "9001", client)},
		{"an administrator is recorded as the actor", events.Actor{ID: "admin", Role: "admin"}, msg("A08", "9002", client)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := svc.Record(ctx, tt.m, edintake.By(tt.actor), edintake.Via("192.0.2.7:5555", "CN=HSTA"))
			if err != nil {
				t.Fatal(err)
			}
			evs, _ := l.Read(ctx, out.Stream, 1)
			e := evs[len(evs)-1]
			if e.Actor != tt.actor || e.Source.Remote != "192.0.2.7:5555" || e.Source.Certificate != "CN=HSTA" {
				t.Fatalf("recorded actor %+v source %+v", e.Actor, e.Source)
			}
		})
	}
}

// Patient keys (issue 12): a hospital's own numbers are scoped by the
// facility that sent them; RAMQ and the facility's own authority are not.
func TestPatientKeysAreScopedByFacility(t *testing.T) {
	svc, _, l := setup2(t)
	ctx := context.Background()
	key := func(fac, visit string, id events.Identifier) string {
		m := msg("A04", "k-"+visit, id)
		m.SendingFacility, m.VisitNumber = fac, visit
		out, err := svc.Record(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		evs, _ := l.Read(ctx, out.Stream, 1)
		p, _ := evs[0].Payload()
		return p.(*events.EDVisitStarted).PatientKey
	}
	mr := events.Identifier{Authority: "MR", Value: "123"}
	tests := []struct {
		name  string
		same  bool
		a, b  string
		ia    events.Identifier
		ib    events.Identifier
		wantA events.Identifier
	}{
		{"MR 123 at two hospitals is two patients", false, "HSTA", "HLAU", mr, mr, events.Identifier{Authority: "HSTA/MR", Value: "123"}},
		{"a RAMQ number is one patient everywhere", true, "HSTA", "HLAU", client, client, client},
		{"HSTA's own authority is kept as it is", false, "HSTA", "HLAU", events.Identifier{Authority: "HSTA", Value: "9"}, events.Identifier{Authority: "HSTA", Value: "9"},
			events.Identifier{Authority: "HSTA", Value: "9"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka, kb := key(tt.a, fmt.Sprintf("A%d", i), tt.ia), key(tt.b, fmt.Sprintf("B%d", i), tt.ib)
			if (ka == kb) != tt.same {
				t.Fatalf("keys %s %s, same = %v, want %v", ka, kb, ka == kb, tt.same)
			}
			if ka != events.PatientKey(secret, tt.wantA) {
				t.Fatalf("key at %s is not that of %+v", tt.a, tt.wantA)
			}
		})
	}
}

// Triggers (issue 12): A02 out of the ED ends the stay, A06 admits, A34
// merges, and the other ADT triggers are received with nothing recorded.
func TestOtherADTTriggers(t *testing.T) {
	svc, _, l := setup2(t)
	ctx := context.Background()
	if _, err := svc.Record(ctx, msg("A04", "t1", client)); err != nil {
		t.Fatal(err)
	}
	inED := msg("A02", "t2", client)
	inED.PatientClass = "E"
	out, err := svc.Record(ctx, inED)
	if err != nil || !out.Ignored {
		t.Fatalf("a transfer inside the ED: %+v %v, want ignored", out, err)
	}
	toWard := msg("A02", "t3", client)
	toWard.PatientClass = "I"
	if out, err = svc.Record(ctx, toWard); err != nil || out.Ignored {
		t.Fatalf("a transfer out of the ED: %+v %v", out, err)
	}
	again := msg("A02", "t4", client)
	again.PatientClass = "I"
	if out, err = svc.Record(ctx, again); err != nil || !out.Ignored {
		t.Fatalf("a transfer after the ED stay ended: %+v %v, want ignored", out, err)
	}
	evs, _ := l.Read(ctx, out.Stream, 1)
	if len(evs) != 2 || evs[1].Type != events.TypeEDVisitEnded {
		t.Fatalf("the visit holds %d events, the last %s", len(evs), evs[len(evs)-1].Type)
	}
	for _, tr := range []string{"A05", "A07", "A12", "A16", "A25", "A28", "A31", "A35"} {
		if out, err := svc.Record(ctx, msg(tr, "n"+tr)); err != nil || !out.Ignored {
			t.Fatalf("%s: %+v %v, want received with nothing to do (even without identifiers)", tr, out, err)
		}
	}
	if e, err := svc.Record(ctx, msg("A06", "t5", client)); err != nil || e.Ignored {
		t.Fatalf("A06: %+v %v", e, err)
	}
	merge := msg("A34", "t6", client)
	merge.VisitNumber, merge.MergedIdentifiers = "", []events.Identifier{stranger}
	if out, err := svc.Record(ctx, merge); err != nil || out.Stream != events.FeedStream("HSTA") {
		t.Fatalf("A34: %+v %v", out, err)
	}
}

// setup2 is setup with HSTA and HLAU accepted.
func setup2(t *testing.T) (*edintake.Service, *clientindex.Index, *jstestLedger) {
	t.Helper()
	l := jstest.Ledger(t)
	idx := clientindex.New()
	svc, err := edintake.New(l, idx, edintake.Config{Facilities: []string{"HSTA", "HLAU"}, PatientSecret: secret, KeyAuthorities: []string{"RAMQ"}})
	if err != nil {
		t.Fatal(err)
	}
	return svc, idx, &jstestLedger{l}
}
