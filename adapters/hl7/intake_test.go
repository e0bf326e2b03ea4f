package hl7

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger/jetstream"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/projections/clientindex"
	"github.com/relais-health/relais/services/edintake"
)

var ackTime = time.Date(2026, 11, 20, 19, 30, 0, 0, time.UTC)

// loopback is a peer on this machine, accepted for every facility
// without a configured source.
var loopback = Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40001}}

// intake is the MLLP handler on a real ledger (an in-process JetStream).
func intake(t *testing.T) *Intake {
	t.Helper()
	h, _ := intakeOn(t)
	return h
}

// intakeOn is intake and its ledger.
func intakeOn(t *testing.T) (*Intake, *jetstream.Store) {
	t.Helper()
	l := jstest.Ledger(t)
	idx := clientindex.New()
	reg := events.MustNew(&events.ClientRegistered{ClientID: "c42", GivenName: "Hélène", FamilyName: "Bélanger",
		Identifiers: []events.Identifier{{Authority: "RAMQ", Value: "BELH12345678"}}}, events.Actor{ID: "cm-1", Role: "case_manager"})
	if err := idx.Apply(context.Background(), reg); err != nil {
		t.Fatal(err)
	}
	svc, err := edintake.New(l, idx, edintake.Config{Facilities: []string{"HSTA", "HLAU"},
		PatientSecret: []byte("0123456789abcdef-test"), KeyAuthorities: []string{"RAMQ"}})
	if err != nil {
		t.Fatal(err)
	}
	return &Intake{S: svc, Facilities: configured, Log: zap.NewNop(), Now: func() time.Time { return ackTime }}, l
}

func TestHandleAnswersWithTheHeaderItRead(t *testing.T) {
	h := intake(t)
	tests := []struct {
		name    string
		file    string
		code    string
		control string
	}{
		{"a well-formed A04 is accepted", "a04.hl7", AA, "1001"},
		{"a message behind a UTF-8 byte-order mark is accepted", "a04_bom.hl7", AA, "1101"},
		{"a PV1 in undeclared Latin-1 is read as Windows-1252 and accepted", "a04_pv1_latin1_undeclared.hl7", AA, "1102"},
		{"a truncated PV1 segment is refused with the control id echoed", "a04_pv1_truncated.hl7", AE, "1103"},
		{"a PV1 with a bad admit time is accepted without it (flagged)", "a04_pv1_bad_admit_time.hl7", AA, "1104"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply := h.Handle(context.Background(), loopback, sample(t, tt.file))
			ack, err := Parse(reply)
			if err != nil {
				t.Fatalf("the ACK does not parse: %v\n%q", err, reply)
			}
			if got := ack.Get("MSA", 1, 0); got != tt.code {
				t.Errorf("MSA-1 = %q, want %q (%q)", got, tt.code, ack.Get("MSA", 3, 0))
			}
			if got := ack.Get("MSA", 2, 0); got != tt.control {
				t.Errorf("MSA-2 = %q, want MSH-10 %q", got, tt.control)
			}
			// The ACK goes back the way the message came: its sender is the
			// message's receiver (RELAIS at CSSS) and the other way round.
			for n, want := range map[int]string{3: "RELAIS", 4: "CSSS", 5: "URGENCE", 6: "HSTA"} {
				if got := ack.Get("MSH", n, 1); got != want {
					t.Errorf("ACK MSH-%d = %q, want %q", n, got, want)
				}
			}
			if got := ack.Get("MSH", 9, 0); got != "ACK^A04^ACK" {
				t.Errorf("ACK MSH-9 = %q, want ACK^A04^ACK", got)
			}
		})
	}
}

func TestHandleParsesEachMessageOnce(t *testing.T) {
	h := intake(t)
	parses := 0
	onParse = func() { parses++ }
	t.Cleanup(func() { onParse = nil })
	names, err := filepath.Glob(filepath.Join("testdata", "*.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	corpus, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*.hl7"))
	names = append(names, corpus...)
	tests := []struct {
		name string
		raw  []byte
	}{
		{"garbage without MSH", []byte("garbage")},
		{"an MSH and nothing else", []byte("MSH|^~\\&|URGENCE|HSTA|RELAIS|CSSS|2026||ADT^A04|9|P|2.5.1")},
		{"an order message", []byte("MSH|^~\\&|URGENCE|HSTA|RELAIS|CSSS|2026||ORM^O01|9|P|2.5.1\rPID|1||x")},
	}
	for _, n := range names {
		tests = append(tests, struct {
			name string
			raw  []byte
		}{filepath.Base(n), sample(t, strings.TrimPrefix(n, "testdata/"))})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parses = 0
			h.Handle(context.Background(), loopback, tt.raw)
			if parses != 1 {
				t.Fatalf("the message was parsed %d times, want once", parses)
			}
		})
	}
}

// newService is intake's service accepting every facility of fs.
func newService(t testing.TB, l *jetstream.Store, fs *Facilities) *edintake.Service {
	t.Helper()
	svc, err := edintake.New(l, clientindex.New(), edintake.Config{Facilities: fs.IDs(),
		PatientSecret: []byte("0123456789abcdef-test"), KeyAuthorities: []string{"RAMQ"}, TerritoryAuthorities: fs.TerritoryAuthorities})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}
