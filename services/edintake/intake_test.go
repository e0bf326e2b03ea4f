package edintake_test

import (
	"context"
	"errors"
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
	if v.ClientID != "" || v.Identifier == nil || v.PatientKey != events.PatientKey(secret, stranger) {
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
		{"an unsupported trigger is refused", func() edintake.Message { return msg("A28", "1", client) }, edintake.ErrUnsupported},
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
