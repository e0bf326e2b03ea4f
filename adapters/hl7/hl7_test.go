package hl7

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var montreal, _ = time.LoadLocation("America/Montreal")

// configured is HSTA and HLAU with every default.
var configured = NewFacilities("HSTA", "HLAU")

func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseRealisticADT(t *testing.T) {
	a, err := ParseADT(sample(t, "a04.hl7"), configured)
	if err != nil {
		t.Fatal(err)
	}
	if a.Trigger != "A04" || a.ControlID != "1001" || a.SendingFacility.Namespace != "HSTA" || a.VisitKey != "V100" {
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
}

func TestParseToleratesLFAndLatin1AndShortMSH9(t *testing.T) {
	a, err := ParseADT(sample(t, "a03_latin1_lf.hl7"), configured)
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
	m, err := ParseADT(sample(t, "a40_crlf.hl7"), configured)
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
		{"no visit number nor admit time", strings.Replace(strings.Replace(good, "|V100|", "||", 1), "|20261120142900-0500\rPV2", "|\rPV2", 1),
			ErrMalformed, "PV1-19: no visit can be identified: PV1-19, PV1-50, PID-18, PV1-44 all empty"},
		{"an order message is unsupported", strings.Replace(good, "ADT^A04^ADT_A01", "ORM^O01", 1), ErrUnsupported, "MSH-9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseADT([]byte(tt.raw), configured)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("want %v naming %q, got %v", tt.want, tt.text, err)
			}
		})
	}
}

func TestReadHeaderReadsMSHWhateverFollows(t *testing.T) {
	good := string(sample(t, "a04.hl7"))
	tests := []struct {
		name    string
		raw     string
		control string
		sender  HD
		err     bool
	}{
		{"a well-formed message", good, "1001", HD{Namespace: "URGENCE"}, false},
		{"a truncated PV1 is not read", string(sample(t, "a04_pv1_truncated.hl7")), "1103", HD{Namespace: "URGENCE"}, false},
		{"a byte-order mark before MSH is skipped", string(sample(t, "a04_bom.hl7")), "1101", HD{Namespace: "URGENCE"}, false},
		{"a designator keeps its universal id", strings.Replace(good, "|URGENCE|", "|URGENCE^1.2.3^ISO|", 1), "1001",
			HD{Namespace: "URGENCE", UniversalID: "1.2.3", UniversalIDType: "ISO"}, false},
		{"other separators are read from MSH-1 and MSH-2", "MSH#$*/%#URG$OID#HSTA#RELAIS#CSSS#2026##ADT$A04#c/S/1#P\rPID#1", "c$1",
			HD{Namespace: "URG", UniversalID: "OID"}, false},
		{"MSH without encoding characters still names its control id", "MSH||URG|HSTA|RELAIS|CSSS|2026||ADT^A04|c9|P|2.5", "c9",
			HD{Namespace: "URG"}, true},
		{"a byte that is not UTF-8 in MSH does not hide the control id", "MSH|^~\\&|URG\xc9|HSTA|RELAIS|CSSS|2026||ADT^A04|c8|P", "c8",
			HD{Namespace: "URG\uFFFD"}, false},
		{"no MSH, no header", "PID|1||x", "", HD{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ReadHeader([]byte(tt.raw))
			if (err != nil) != tt.err {
				t.Fatalf("error %v, want error: %v", err, tt.err)
			}
			if h.ControlID != tt.control || h.SendingApplication != tt.sender {
				t.Fatalf("header %+v, want control id %q from %+v", h, tt.control, tt.sender)
			}
		})
	}
}

func TestACK(t *testing.T) {
	now := time.Date(2026, 11, 20, 19, 30, 0, 0, time.UTC)
	h, err := ReadHeader(sample(t, "a04.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		h      Header
		code   string
		text   string
		prefix string
		want   []string
	}{
		{"an accepted message is answered AA to its sender", h, AA, "", "MSH|^~\\&|RELAIS|CSSS|URGENCE|HSTA|",
			[]string{"|ACK^A04^ACK|ACK1001|P|2.5.1\r", "\rMSA|AA|1001|\r"}},
		{"an error names the field and adds ERR", h, AE, "PV1-19: visit number missing", "MSH|^~\\&|RELAIS|CSSS|URGENCE|HSTA|",
			[]string{"\rMSA|AE|1001|PV1-19: visit number missing\r", "\rERR||PV1^1^19|101^Required field missing^HL70357|E||||PV1-19: visit number missing\r"}},
		{"separators in the text are escaped", h, AE, `MSH-9: "ORM^O01"`, "MSH|",
			[]string{`MSA|AE|1001|MSH-9: "ORM\S\O01"`}},
		{"no header still gets a minimal ACK", Header{}, AR, "no MSH", "MSH|^~\\&|||||",
			[]string{"|ACK|ACK|P|2.5.1\r", "\rMSA|AR||no MSH\r", "\rERR|||207^Application internal error^HL70357|E|"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cause error
			switch {
			case tt.code == AA:
			case strings.HasPrefix(tt.text, "PV1-19"):
				cause = malformed("PV1", 19, CodeRequiredField, "visit number missing")
			default:
				cause = errors.New(tt.text)
			}
			ack := string(BuildACK(tt.h, tt.code, tt.text, cause, now))
			if !strings.HasPrefix(ack, tt.prefix) {
				t.Fatalf("ACK %q does not start with %q", ack, tt.prefix)
			}
			for _, w := range tt.want {
				if !strings.Contains(ack, w) {
					t.Fatalf("ACK %q lacks %q", ack, w)
				}
			}
			// An ACK is itself a parseable HL7 message.
			if _, err := Parse([]byte(ack)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// seeds are the samples in testdata and the public corpus, for the fuzz
// targets.
func seeds(f *testing.F) {
	f.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "*.hl7"))
	corpus, err2 := filepath.Glob(filepath.Join("testdata", "corpus", "*.hl7"))
	names = append(names, corpus...)
	if err != nil || err2 != nil || len(corpus) == 0 {
		f.Fatalf("no samples in testdata and testdata/corpus: %v %v", err, err2)
	}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("MSH|"))
	f.Add([]byte("MSH||A|B|C|D|||ADT^A04|c1"))
	f.Add([]byte("\xef\xbb\xbfMSH|^~\\&|A|B|C|D|||ADT^A04|c\\X0D\\1\rPV"))
}

func FuzzParseADT(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := ParseADT(raw, nil)
		if err == nil && (a.ControlID == "" || a.MessageType != "ADT") {
			t.Fatalf("accepted a message without control id or identifier: %+v", a)
		}
		h, _ := ReadHeader(raw)
		want := h
		if want.Trigger == "" {
			want.Trigger = a.Trigger // EVN-1
		}
		if utf8.Valid(raw) && a.Header != want {
			t.Fatalf("ParseADT read another header than ReadHeader:\n%+v\n%+v", a.Header, h)
		}
		ack := BuildACK(a.Header, AE, "x", err, time.Unix(0, 0))
		m, err := Parse(ack)
		if err != nil {
			t.Fatalf("ACK does not parse: %v\n%q", err, ack)
		}
		if got := m.Get("MSA", 2, 0); got != a.ControlID {
			t.Fatalf("MSA-2 %q, MSH-10 %q\n%q", got, a.ControlID, ack)
		}
		if got, _ := ReadHeader(ack); got.SendingApplication != a.ReceivingApplication || got.ReceivingFacility != a.SendingFacility {
			t.Fatalf("ACK not addressed back to the sender: %+v for %+v", got, a.Header)
		}
	})
}

// FuzzParse: any bytes either fail to parse or give segments whose fields
// all read back (Get never panics, whatever the separators).
func FuzzParse(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(raw)
		if err != nil {
			return
		}
		if len(m.Segments) == 0 || m.Segments[0].ID != "MSH" {
			t.Fatalf("parsed without MSH first: %+v", m.Segments)
		}
		for _, s := range m.Segments {
			for n := range s.Fields {
				m.Get(s.ID, n, 0)
				m.Get(s.ID, n, 2)
			}
		}
	})
}

// FuzzACK: whatever the message and the error text, the ACK parses, is
// written with the sender's separators when they are usable, and says
// back MSH-10 and the text exactly.
func FuzzACK(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		h, _ := ReadHeader(raw)
		text := string(raw[:min(len(raw), 40)])
		ack := BuildACK(h, AE, text, malformed("PV1", 19, CodeRequiredField, "x"), time.Unix(0, 0))
		m, err := Parse(ack)
		if err != nil {
			t.Fatalf("ACK does not parse: %v\n%q", err, ack)
		}
		if want := ackSeparators(h.Separators).given; string(ack[3:8]) != want {
			t.Fatalf("ACK separators %q, want %q", ack[3:8], want)
		}
		if got := m.Get("MSA", 2, 0); got != h.ControlID {
			t.Fatalf("MSA-2 %q, MSH-10 %q\n%q", got, h.ControlID, ack)
		}
		if got := m.Get("MSA", 3, 0); text != null && text != "" && got != text {
			t.Fatalf("MSA-3 %q, want %q\n%q", got, text, ack)
		}
		if got := m.Get("MSH", 10, 0); len(got) > maxControlID {
			t.Fatalf("ACK MSH-10 %q longer than %d", got, maxControlID)
		}
	})
}
