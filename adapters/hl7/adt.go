package hl7

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/relais-health/relais/services/edintake"
)

// CX is a patient identifier (PID-3, MRG-1): value, assigning authority
// (first component of CX.4) and identifier type (CX.5).
type CX struct {
	Value     string
	Authority string
	Type      string
}

// ADT is what Relais reads from an ADT message.
type ADT struct {
	Header                  // Trigger is MSH-9.2, or EVN-1 when MSH-9 has none
	Facility      Facility  // the sending facility's configuration
	MessageTime   time.Time // MSH-7
	EventTime     time.Time // EVN-2
	Identifiers   []CX      // PID-3, every repetition (PID-2 when PID-3 is empty)
	FamilyName    string
	GivenName     string
	PatientClass  string // PV1-2
	Location      string // PV1-3.1
	Disposition   string // PV1-36
	AdmitTime     time.Time
	DischargeTime time.Time
	ReasonCode    string // PV2-3.1
	ReasonText    string // PV2-3.2
	Merged        []CX   // MRG-1 (A34, A40)
	// VisitKey identifies the visit: PV1-19 as it is, or another source's
	// value prefixed by its name ("PID-18:..."); VisitKeySource names the
	// source the facility's fallback order found first.
	VisitKey       string
	VisitKeySource string
	// Flags say what was read but not used, and why (a time that is not a
	// time, or impossible): the message is recorded without it.
	Flags []string
}

// ParseADT parses raw once and extracts an ADT, with the sending
// facility's configuration from fs (nil: the defaults). Errors are
// *FieldError wrapping ErrMalformed or ErrUnsupported and naming the
// segment and field. The returned ADT carries the header even with an
// error, as far as MSH could be read, so the message can be answered
// without being parsed again. An ADT trigger Relais does not record is
// returned without error after its header is checked: the caller answers
// it "received, nothing to do".
func ParseADT(raw []byte, fs *Facilities) (ADT, error) {
	m, h, f, err := parse(raw, fs)
	a := ADT{Header: h, Facility: f}
	if err != nil {
		return a, err
	}
	if a.Trigger == "" {
		a.Trigger = m.Get("EVN", 1, 1)
	}
	switch {
	case a.ControlID == "":
		return a, malformed("MSH", 10, CodeRequiredField, "control id missing")
	case a.SendingFacility.Namespace == "":
		return a, malformed("MSH", 4, CodeRequiredField, "sending facility missing")
	case a.MessageType != "ADT":
		return a, &FieldError{Kind: ErrUnsupported, Segment: "MSH", Field: 9, Code: CodeUnsupportedType,
			Text: fmt.Sprintf("message type %q, only ADT is taken", a.MessageType)}
	case a.Trigger == "":
		return a, malformed("MSH", 9, CodeRequiredField, "trigger event missing (MSH-9.2 and EVN-1)")
	}
	now := fs.now()
	a.MessageTime = a.time(m, "MSH", 7, now)
	a.EventTime = a.time(m, "EVN", 2, now)
	visit, merge := slices.Contains(edintake.VisitTriggers, a.Trigger), slices.Contains(edintake.MergeTriggers, a.Trigger)
	if !visit && !merge {
		return a, nil
	}
	if _, ok := m.Segment("PID"); !ok {
		return a, malformed("PID", 0, CodeSegmentSequence, "segment missing")
	}
	if a.Identifiers = identifiers(m, "PID", 3); len(a.Identifiers) == 0 {
		// Before 2.3.1 many feeds put the patient id in PID-2 only.
		if a.Identifiers = identifiers(m, "PID", 2); len(a.Identifiers) == 0 {
			return a, malformed("PID", 3, CodeRequiredField, "no patient identifier (PID-3 and PID-2 empty)")
		}
	}
	a.FamilyName = m.Get("PID", 5, 1)
	a.GivenName = m.Get("PID", 5, 2)
	if merge {
		if _, ok := m.Segment("MRG"); !ok {
			return a, malformed("MRG", 0, CodeSegmentSequence, "segment missing: %s merges the MRG-1 patient into PID-3's", a.Trigger)
		}
		if a.Merged = identifiers(m, "MRG", 1); len(a.Merged) == 0 {
			return a, malformed("MRG", 1, CodeRequiredField, "merged patient identifier missing")
		}
		return a, nil
	}
	a.PatientClass = m.Get("PV1", 2, 1)
	a.Location = m.Get("PV1", 3, 1)
	a.Disposition = m.Get("PV1", 36, 1)
	a.ReasonCode = m.Get("PV2", 3, 1)
	a.ReasonText = m.Get("PV2", 3, 2)
	a.DischargeTime = a.time(m, "PV1", 45, now)
	// The admit time may be the visit key (PV1-44 in the fallback order):
	// one that is not readable then identifies nothing.
	a.AdmitTime = a.time(m, "PV1", 44, now)
	return a, a.visitKey(m)
}

// visitKey finds the visit by the facility's fallback order.
func (a *ADT) visitKey(m *Message) error {
	for _, k := range a.Facility.VisitKeys {
		v := ""
		switch k {
		case KeyVisitNumber:
			v = m.Get("PV1", 19, 1)
		case KeyAlternateVisit:
			v = m.Get("PV1", 50, 1)
		case KeyAccountNumber:
			v = m.Get("PID", 18, 1)
		case KeyAdmitTime:
			if !a.AdmitTime.IsZero() {
				v = a.AdmitTime.UTC().Format("20060102150405")
			}
		}
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		a.VisitKeySource, a.VisitKey = k, v
		if k != KeyVisitNumber {
			a.VisitKey = k + ":" + v
		}
		return nil
	}
	first := "PV1"
	if len(a.Facility.VisitKeys) > 0 && a.Facility.VisitKeys[0] == KeyAccountNumber {
		first = "PID"
	}
	return malformed(first, 19, CodeRequiredField, "no visit can be identified: %s all empty", strings.Join(a.Facility.VisitKeys, ", "))
}

// time reads a time Relais stores if it is good: one that is not a time,
// or is impossible, is flagged and left out, never a reason to refuse.
func (a *ADT) time(m *Message, seg string, field int, now time.Time) time.Time {
	t, err := readTime(m.Get(seg, field, 1), a.Facility.Location, now)
	if err != nil {
		a.Flags = append(a.Flags, fmt.Sprintf("%s-%d: %v, not used", seg, field, err))
	}
	return t
}

// readTime reads an HL7 time and refuses an impossible one: before 1900
// (year 0001 is an engine's zero value) or more than two days ahead.
func readTime(v string, loc *time.Location, now time.Time) (time.Time, error) {
	t, err := ParseTime(v, loc)
	if err != nil || t.IsZero() {
		return time.Time{}, err
	}
	if t.Year() < 1900 || t.After(now.Add(48*time.Hour)) {
		return time.Time{}, fmt.Errorf("%s is not a possible time", t.UTC().Format(time.RFC3339))
	}
	return t, nil
}

func (fs *Facilities) now() time.Time {
	if fs == nil || fs.Now == nil {
		return time.Now()
	}
	return fs.Now()
}

func identifiers(m *Message, seg string, field int) []CX {
	var out []CX
	for _, rep := range m.Repetitions(seg, field) {
		c := m.Components(rep)
		cx := CX{Value: strings.TrimSpace(c[0])}
		if len(c) > 3 {
			cx.Authority = strings.TrimSpace(c[3])
		}
		if len(c) > 4 {
			cx.Type = strings.TrimSpace(c[4])
		}
		if cx.Value != "" {
			out = append(out, cx)
		}
	}
	return out
}
