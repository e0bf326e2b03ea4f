package hl7

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger/jetstream"
)

// with sets field n (as the standard numbers it) of the first segment seg of raw (CR-separated, "|"
// fields) to v, adding empty fields as needed; v "-" drops the segment.
func with(raw string, seg string, n int, v string) string {
	segs := strings.Split(strings.TrimRight(raw, "\r"), "\r")
	for i, s := range segs {
		f := strings.Split(s, "|")
		if f[0] != seg {
			continue
		}
		if v == "-" {
			return strings.Join(slices.Delete(segs, i, i+1), "\r") + "\r"
		}
		if seg == "MSH" {
			n-- // MSH-1 is the separator itself, not between fields
		}
		for len(f) <= n {
			f = append(f, "")
		}
		f[n] = v
		segs[i] = strings.Join(f, "|")
		break
	}
	return strings.Join(segs, "\r") + "\r"
}

// answer is what an ACK says.
type answer struct{ code, control, text string }

func answerOf(t *testing.T, reply []byte) (answer, *Message) {
	t.Helper()
	ack, err := Parse(reply)
	if err != nil {
		t.Fatalf("the ACK does not parse: %v\n%q", err, reply)
	}
	return answer{ack.Get("MSA", 1, 0), ack.Get("MSA", 2, 0), ack.Get("MSA", 3, 0)}, ack
}

// recorded sends raw, wants AA, and returns the event it appended.
func recorded(t *testing.T, h *Intake, l *jetstream.Store, raw string) events.Event {
	t.Helper()
	ctx := context.Background()
	before, _ := l.Head(ctx)
	a, _ := answerOf(t, h.Handle(ctx, loopback, []byte(raw)))
	after, _ := l.Head(ctx)
	if a.code != AA || after != before+1 {
		t.Fatalf("MSA %+v, ledger %d → %d: want AA and one event", a, before, after)
	}
	return eventAt(t, l, after)
}

func visitOf(t *testing.T, e events.Event) events.Visit {
	t.Helper()
	p, err := e.Payload()
	if err != nil {
		t.Fatal(err)
	}
	switch v := p.(type) {
	case *events.EDVisitStarted:
		return v.Visit
	case *events.EDVisitEnded:
		return v.Visit
	case *events.EDVisitUpdated:
		return v.Visit
	case *events.HospitalAdmitted:
		return v.Visit
	case *events.HospitalDischarged:
		return v.Visit
	case *events.EDVisitCancelled:
		return v.Visit
	}
	t.Fatalf("%s is not a visit event", e.Type)
	return events.Visit{}
}

// Class 1: the visit is found by the facility's fallback order, and the
// event says which source it came from.
func TestVisitKeyFallsBackAndSaysWhichSourceItUsed(t *testing.T) {
	good := string(sample(t, "a04.hl7"))
	noVisit := with(good, "PV1", 19, "")
	tests := []struct {
		name, raw, source, number string
	}{
		{"PV1-19 is the visit number", good, "", "V100"},
		{"without PV1-19, PV1-50 (alternate visit id)", with(with(noVisit, "PV1", 50, "ALT7"), "MSH", 10, "c1-50"), "PV1-50", "PV1-50:ALT7"},
		{"without PV1-19 and PV1-50, PID-18 (account number)", with(with(noVisit, "PID", 18, "ACC9^^^HSTA^AN"), "MSH", 10, "c1-18"), "PID-18", "PID-18:ACC9"},
		{"with none of them, PV1-44 (admit time) and the patient", with(noVisit, "MSH", 10, "c1-44"), "PV1-44", "PV1-44:20261120192900/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, l := intakeOn(t)
			v := visitOf(t, recorded(t, h, l, tt.raw))
			if v.VisitKeySource != tt.source || !strings.HasPrefix(v.VisitNumber, tt.number) {
				t.Fatalf("visit %q from %q, want %q from %q", v.VisitNumber, v.VisitKeySource, tt.number, tt.source)
			}
		})
	}
	t.Run("a facility's own order is followed", func(t *testing.T) {
		h, l := intakeOn(t)
		fs, err := ParseFacilities(strings.NewReader("[HSTA]\nvisit-key = PID-18, PV1-19\n"), "test")
		if err != nil {
			t.Fatal(err)
		}
		h.Facilities = fs
		v := visitOf(t, recorded(t, h, l, with(good, "PID", 18, "ACC9")))
		if v.VisitKeySource != "PID-18" {
			t.Fatalf("visit key from %q, want PID-18 first", v.VisitKeySource)
		}
	})
	t.Run("no visit at all is AE naming the fields", func(t *testing.T) {
		h, _ := intakeOn(t)
		fs, _ := ParseFacilities(strings.NewReader("[HSTA]\nvisit-key = PV1-19, PID-18\n"), "test")
		h.Facilities = fs
		a, ack := answerOf(t, h.Handle(context.Background(), loopback, []byte(noVisit)))
		if a.code != AE || a.control != "1001" || !strings.Contains(a.text, "no visit can be identified: PV1-19, PID-18") {
			t.Fatalf("MSA %+v", a)
		}
		if got := ack.Get("ERR", 3, 1); got != "101" {
			t.Fatalf("ERR-3 %q, want 101 (required field missing)", got)
		}
	})
}

// Classes 2, 4, 8, 9: what real feeds send and Relais used to refuse.
func TestWhatRealFeedsSendIsAccepted(t *testing.T) {
	good := string(sample(t, "a04.hl7"))
	tests := []struct {
		name  string
		raw   string
		check func(t *testing.T, e events.Event)
	}{
		{"a UTF-8 byte-order mark before MSH", string(sample(t, "a04_bom.hl7")), nil},
		{"the HL7 null \"\" in a time (PV1-45)", with(good, "PV1", 45, `""`), nil},
		{"the HL7 null \"\" in the reason", with(good, "PV2", 3, `""`), func(t *testing.T, e events.Event) {
			p, _ := e.Payload()
			if r := p.(*events.EDVisitStarted).Reason; r != "" {
				t.Fatalf("reason %q, want empty", r)
			}
		}},
		{"Windows-1252 without MSH-18 (É in a field not stored, ’ in one stored)",
			with(with(good, "PV1", 3, "URG\xc9^01"), "PV2", 3, "R06^Dyspn\xe9e l\x92urgence"), func(t *testing.T, e events.Event) {
				p, _ := e.Payload()
				if r := p.(*events.EDVisitStarted).Reason; r != "Dyspnée l’urgence" {
					t.Fatalf("reason %q", r)
				}
			}},
		{"a byte that is not text in an unstored field of a UTF-8 message", with(good, "PID", 11, "rue \xff"), nil},
		{"an impossible admit time (year 0001) is flagged, not stored", with(good, "PV1", 44, "00010101000000"), func(t *testing.T, e events.Event) {
			p, _ := e.Payload()
			v := p.(*events.EDVisitStarted)
			if v.ArrivedAt.Year() != 2026 || len(v.Flags) != 1 || !strings.Contains(v.Flags[0], "PV1-44") {
				t.Fatalf("arrived %v flags %q", v.ArrivedAt, v.Flags)
			}
		}},
		{"an admit time years ahead is flagged, not stored", with(good, "PV1", 44, "20991120142900"), func(t *testing.T, e events.Event) {
			p, _ := e.Payload()
			if v := p.(*events.EDVisitStarted); v.ArrivedAt.Year() != 2026 || len(v.Flags) != 1 {
				t.Fatalf("arrived %v flags %q", v.ArrivedAt, v.Flags)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, l := intakeOn(t)
			e := recorded(t, h, l, tt.raw)
			if tt.check != nil {
				tt.check(t, e)
			}
		})
	}
}

// Class 9: a time without offset is in the facility's zone (default
// America/Montreal).
func TestTimesWithoutOffsetAreInTheFacilitysZone(t *testing.T) {
	good := string(sample(t, "a04.hl7"))
	local := with(good, "PV1", 44, "20260701120000")
	tests := []struct {
		name, conf string
		want       time.Time
	}{
		{"the default zone is America/Montreal", "[HSTA]\n", time.Date(2026, 7, 1, 16, 0, 0, 0, time.UTC)},
		{"a facility in Paris", "[HSTA]\ntimezone = Europe/Paris\n", time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, l := intakeOn(t)
			fs, err := ParseFacilities(strings.NewReader(tt.conf), "test")
			if err != nil {
				t.Fatal(err)
			}
			h.Facilities = fs
			e := recorded(t, h, l, local)
			p, _ := e.Payload()
			if got := p.(*events.EDVisitStarted).ArrivedAt; !got.Equal(tt.want) {
				t.Fatalf("arrived %v, want %v", got, tt.want)
			}
		})
	}
}

// Class 5: a merge from a facility whose MSH-4 has spaces or punctuation
// is recorded on a stream whose name it cannot break.
func TestAMergeFromAFacilityWithSpacesIsRecorded(t *testing.T) {
	for _, fac := range []string{"GOOD HEALTH HOSPITAL", "Joe's Lab"} {
		t.Run(fac, func(t *testing.T) {
			h, l := intakeOn(t)
			h.Facilities = NewFacilities(fac)
			h.S = newService(t, l, h.Facilities)
			raw := strings.Replace(string(sample(t, "a40_crlf.hl7")), "|HSTA|", "|"+fac+"|", 1)
			e := recorded(t, h, l, raw)
			if e.Type != events.TypePatientMerged || e.Stream != events.FeedStream(fac) || !events.ValidStreamName(e.Stream) {
				t.Fatalf("%s on %q", e.Type, e.Stream)
			}
		})
	}
	if got := events.FeedStream("HSTA"); got != "feed-HSTA" {
		t.Fatalf("a plain facility's feed stream changed name: %q", got)
	}
}

// Class 6: a control id reused for other content is recorded as the other
// message it is: AA always means recorded.
func TestAReusedControlIDIsRecordedNotDropped(t *testing.T) {
	h, l := intakeOn(t)
	good := string(sample(t, "a04.hl7"))
	first := recorded(t, h, l, good)
	other := recorded(t, h, l, with(strings.Replace(good, "ADT^A04^ADT_A01", "ADT^A08", 1), "EVN", 1, "A08"))
	if first.ID == other.ID || other.Source.MessageID != "1001" {
		t.Fatalf("ids %s %s", first.ID, other.ID)
	}
}

// Class 10: identifiers of a hospital's own authority are scoped by the
// facility; a territory-wide one (RAMQ) names the same person everywhere.
func TestPatientKeysAreScopedByFacilityUnlessTerritoryWide(t *testing.T) {
	h, l := intakeOn(t)
	good := string(sample(t, "a04.hl7"))
	key := func(fac, visit, id string) string {
		raw := with(with(with(good, "MSH", 4, fac), "PV1", 19, visit), "PID", 3, id)
		return visitOf(t, recorded(t, h, l, raw)).PatientKey
	}
	if a, b := key("HSTA", "V1", "123^^^^MR"), key("HLAU", "V2", "123^^^^MR"); a == b {
		t.Fatal("MR 123 at HSTA and MR 123 at HLAU got one patient key")
	}
	if a, b := key("HSTA", "V3", "X1^^^RAMQ^JHN"), key("HLAU", "V4", "X1^^^RAMQ^JHN"); a != b {
		t.Fatal("one RAMQ number got two patient keys")
	}
}

// Class 11: every ADT trigger gets AA; what coordination needs is
// recorded, the rest is "received, nothing to do" and counted; only a
// message that is not ADT gets AR.
func TestEveryADTTriggerGetsAnHonestAA(t *testing.T) {
	good := string(sample(t, "a04.hl7"))
	trigger := func(tr, control string) string {
		return with(with(strings.Replace(good, "ADT^A04^ADT_A01", "ADT^"+tr, 1), "EVN", 1, tr), "MSH", 10, control)
	}
	h, l := intakeOn(t)
	h.Metrics = NewMetrics()
	recorded(t, h, l, good)
	end := recorded(t, h, l, with(trigger("A02", "c-a02"), "PV1", 2, "I"))
	if p, _ := end.Payload(); end.Type != events.TypeEDVisitEnded || p.(*events.EDVisitEnded).Disposition != "transfer" {
		t.Fatalf("a transfer out of the ED recorded %s", end.Type)
	}
	if e := recorded(t, h, l, trigger("A06", "c-a06")); e.Type != events.TypeHospitalAdmitted {
		t.Fatalf("A06 recorded %s", e.Type)
	}
	if e := recorded(t, h, l, with(trigger("A34", "c-a34"), "MRG", 1, "999^^^HSTA^MR")+"MRG|999^^^HSTA^MR\r"); e.Type != events.TypePatientMerged {
		t.Fatalf("A34 recorded %s", e.Type)
	}
	ctx := context.Background()
	for _, tr := range []string{"A05", "A07", "A12", "A16", "A25", "A28", "A31", "A35", "A02"} {
		t.Run(tr+" is received with nothing to do", func(t *testing.T) {
			before, _ := l.Head(ctx)
			a, _ := answerOf(t, h.Handle(ctx, loopback, []byte(trigger(tr, "n-"+tr))))
			after, _ := l.Head(ctx)
			if a.code != AA || a.text != NothingToDo || after != before {
				t.Fatalf("MSA %+v, ledger %d → %d", a, before, after)
			}
			if n := testutil.ToFloat64(h.Metrics.answered.WithLabelValues(tr, AA, "nothing_to_do")); n != 1 {
				t.Fatalf("counted %v times", n)
			}
		})
	}
	a, _ := answerOf(t, h.Handle(ctx, loopback, []byte(strings.Replace(good, "ADT^A04^ADT_A01", "ORU^R01", 1))))
	if a.code != AR || a.control != "1001" {
		t.Fatalf("an ORU got %+v, want AR echoing MSH-10", a)
	}
}

// Class 11: a batch over MLLP gets a clean AR naming the batch, never a
// silent drop.
func TestABatchGetsACleanAR(t *testing.T) {
	h, _ := intakeOn(t)
	raw := "BHS|^~\\&|URGENCE|HSTA|RELAIS|CSSS|20261120||||B77\r" + string(sample(t, "a04.hl7")) + "BTS|1\r"
	a, ack := answerOf(t, h.Handle(context.Background(), loopback, []byte(raw)))
	if a.code != AR || a.control != "B77" || !strings.Contains(a.text, "batch") {
		t.Fatalf("MSA %+v", a)
	}
	if ack.Get("MSH", 5, 1) != "URGENCE" || ack.Get("MSH", 6, 1) != "HSTA" {
		t.Fatalf("the AR is not addressed to the batch's sender")
	}
}

// Class 12 and the ACK's fields: the ACK is written with the sender's own
// separators and escapes with them; its MSH-10 fits in 20 characters; ERR
// names the error by table 0357 where the version puts it.
func TestTheACKSpeaksTheSendersHL7(t *testing.T) {
	h, _ := intakeOn(t)
	ctx := context.Background()
	t.Run("other separators", func(t *testing.T) {
		raw := "MSH#$*/%#URG#HSTA#RELAIS#CSSS#20261120##ADT$A04#c/S/1#P#2.5.1\rEVN#A04\rPID#1##x#y\r"
		reply := h.Handle(ctx, loopback, []byte(raw))
		if !strings.HasPrefix(string(reply), "MSH#$*/%#RELAIS#CSSS#URG#HSTA#") {
			t.Fatalf("ACK %q is not written with the sender's separators", reply)
		}
		a, _ := answerOf(t, reply)
		if a.code != AE || a.control != "c$1" || !strings.Contains(a.text, "PV1-19") {
			t.Fatalf("MSA %+v", a)
		}
	})
	t.Run("a long control id", func(t *testing.T) {
		long := strings.Repeat("9", 40)
		reply := h.Handle(ctx, loopback, []byte(with(string(sample(t, "a04.hl7")), "MSH", 10, long)))
		a, ack := answerOf(t, reply)
		if a.control != long || len(ack.Get("MSH", 10, 0)) > 20 {
			t.Fatalf("MSA-2 %q, ACK MSH-10 %q", a.control, ack.Get("MSH", 10, 0))
		}
	})
	tests := []struct {
		name, version, field, want string
	}{
		{"2.5 and later: ERR-3 the code, ERR-2 the location", "2.5.1", "", "ERR||PID^1^3|101^Required field missing^HL70357|E||||"},
		{"before 2.5: ERR-1", "2.3", "", "ERR|PID^1^3^101&Required field missing&HL70357\r"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := with(with(string(sample(t, "a04.hl7")), "MSH", 12, tt.version), "PID", 3, "")
			if reply := string(h.Handle(ctx, loopback, []byte(raw))); !strings.Contains(reply, tt.want) {
				t.Fatalf("ACK %q lacks %q", reply, tt.want)
			}
		})
	}
}

// Class 7 (handler side): a stray start block inside a frame is AE for the
// frame, echoing MSH-10.
func TestAStrayStartBlockIsAnsweredAE(t *testing.T) {
	h, _ := intakeOn(t)
	raw := strings.Replace(string(sample(t, "a04.hl7")), "PV1|", "PV1|\x0b", 1)
	a, _ := answerOf(t, h.Handle(context.Background(), loopback, []byte(raw)))
	if a.code != AE || a.control != "1001" || !strings.Contains(a.text, "start block") {
		t.Fatalf("MSA %+v", a)
	}
}
