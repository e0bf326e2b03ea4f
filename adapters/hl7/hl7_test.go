package hl7

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var montreal, _ = time.LoadLocation("America/Toronto")

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseRealisticADT(t *testing.T) {
	a, err := ParseADT(sample(t, "a04.hl7"), montreal)
	if err != nil {
		t.Fatal(err)
	}
	if a.Trigger != "A04" || a.ControlID != "1001" || a.SendingFacility != "HSTA" || a.VisitNumber != "V100" {
		t.Fatalf("header: %+v", a)
	}
	if len(a.Identifiers) != 2 || a.Identifiers[1] != (CX{Value: "BELH12345678", Authority: "RAMQ", Type: "JHN"}) {
		t.Fatalf("repeated PID-3: %+v", a.Identifiers)
	}
	if a.FamilyName != "Bélanger" || a.GivenName != "Hélène" {
		t.Fatalf("non-ASCII name: %q %q", a.FamilyName, a.GivenName)
	}
	if a.ReasonText != "Dyspnée & toux|fi^vre" {
		t.Fatalf("escapes in text: %q", a.ReasonText)
	}
	want := time.Date(2026, 11, 20, 19, 29, 0, 0, time.UTC)
	if !a.AdmitTime.Equal(want) {
		t.Fatalf("admit time with offset: %v, want %v", a.AdmitTime, want)
	}
	if a.BirthDate != "1958-03-12" {
		t.Fatalf("birth date %q", a.BirthDate)
	}
}

func TestParseToleratesLFAndLatin1AndShortMSH9(t *testing.T) {
	a, err := ParseADT(sample(t, "a03_latin1_lf.hl7"), montreal)
	if err != nil {
		t.Fatal(err)
	}
	if a.Trigger != "A03" || a.FamilyName != "Bélanger" || a.GivenName != "Hélène" {
		t.Fatalf("%+v", a)
	}
	// No offset: local time in Montréal (EST, UTC-5 in November).
	if want := time.Date(2026, 11, 20, 23, 0, 0, 0, time.UTC); !a.DischargeTime.Equal(want) {
		t.Fatalf("discharge %v want %v", a.DischargeTime, want)
	}
	m, err := ParseADT(sample(t, "a40_crlf.hl7"), montreal)
	if err != nil {
		t.Fatal(err)
	}
	if m.Trigger != "A40" || len(m.Merged) != 1 || m.Merged[0].Value != "999" {
		t.Fatalf("A40: %+v", m)
	}
}

func TestParseNamesWhatIsWrong(t *testing.T) {
	good := string(sample(t, "a04.hl7"))
	tests := []struct {
		name string
		raw  string
		want error
		text string
	}{
		{"no MSH", "PID|1||x", ErrMalformed, "MSH"},
		{"no control id", strings.Replace(good, "|1001|", "||", 1), ErrMalformed, "MSH-10"},
		{"no identifier", strings.Replace(good, "123456^^^HSTA^MR~BELH12345678^^^RAMQ^JHN", "", 1), ErrMalformed, "PID-3"},
		{"no visit number", strings.Replace(good, "|V100|", "||", 1), ErrMalformed, "PV1-19"},
		{"bad time", strings.Replace(good, "20261120142900-0500\rPID", "2026-11-20\rPID", 1), ErrMalformed, "EVN-2"},
		{"an order message is unsupported", strings.Replace(good, "ADT^A04^ADT_A01", "ORM^O01", 1), ErrUnsupported, "MSH-9"},
		{"an A28 is unsupported", strings.Replace(good, "ADT^A04^ADT_A01", "ADT^A28", 1), ErrUnsupported, "A28"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseADT([]byte(tt.raw), montreal)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("want %v naming %q, got %v", tt.want, tt.text, err)
			}
		})
	}
}

func TestACK(t *testing.T) {
	now := time.Date(2026, 11, 20, 19, 30, 0, 0, time.UTC)
	ack := string(BuildACK(sample(t, "a04.hl7"), AA, "", now))
	if !strings.Contains(ack, "MSA|AA|1001") || !strings.HasPrefix(ack, "MSH|^~\\&|RELAIS|CSSS|URGENCE|HSTA|") || !strings.Contains(ack, "ACK^A04^ACK") {
		t.Fatalf("AA: %q", ack)
	}
	ae := string(BuildACK(sample(t, "a04.hl7"), AE, "PV1-19: visit number missing", now))
	if !strings.Contains(ae, "MSA|AE|1001|PV1-19: visit number missing") || !strings.Contains(ae, "\rERR|") {
		t.Fatalf("AE: %q", ae)
	}
	if min := string(BuildACK([]byte("garbage"), AR, "no MSH", now)); !strings.Contains(min, "MSA|AR||no MSH") {
		t.Fatalf("minimal AR: %q", min)
	}
	// An ACK is itself a parseable HL7 message.
	if _, err := Parse([]byte(ack)); err != nil {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	for _, n := range []string{"a01.hl7", "a03_latin1_lf.hl7", "a04.hl7", "a08.hl7", "a11.hl7", "a13.hl7", "a40_crlf.hl7"} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("MSH|"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := ParseADT(raw, time.UTC)
		if err == nil && (a.ControlID == "" || len(a.Identifiers) == 0) {
			t.Fatalf("accepted a message without control id or identifier: %+v", a)
		}
		ack := BuildACK(raw, AE, "x", time.Unix(0, 0))
		if _, err := Parse(ack); err != nil {
			t.Fatalf("ACK does not parse: %v\n%q", err, ack)
		}
	})
}
