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
	MessageTime   time.Time // MSH-7
	EventTime     time.Time // EVN-2
	Identifiers   []CX      // PID-3, every repetition
	FamilyName    string
	GivenName     string
	BirthDate     string // YYYY-MM-DD
	PatientClass  string // PV1-2
	Location      string // PV1-3.1
	VisitNumber   string // PV1-19.1
	Disposition   string // PV1-36
	AdmitTime     time.Time
	DischargeTime time.Time
	ReasonCode    string // PV2-3.1
	ReasonText    string // PV2-3.2
	Merged        []CX   // MRG-1 (A40)
}

// ParseADT parses raw and extracts an ADT; times without an offset are in
// loc. Errors wrap ErrMalformed (naming the field) or ErrUnsupported. The
// returned ADT carries the header even with an error, as far as MSH could
// be read, so the message can be answered without being parsed again.
func ParseADT(raw []byte, loc *time.Location) (ADT, error) {
	m, h, err := parse(raw)
	a := ADT{Header: h}
	if err != nil {
		return a, err
	}
	if a.Trigger == "" {
		a.Trigger = m.Get("EVN", 1, 1)
	}
	if a.ControlID == "" {
		return a, fmt.Errorf("%w: MSH-10: control id missing", ErrMalformed)
	}
	if a.SendingFacility.Namespace == "" {
		return a, fmt.Errorf("%w: MSH-4: sending facility missing", ErrMalformed)
	}
	if a.MessageType != "ADT" {
		return a, fmt.Errorf("%w: MSH-9: message type %q, only ADT is recorded", ErrUnsupported, a.MessageType)
	}
	if !slices.Contains(edintake.Supported, a.Trigger) {
		return a, fmt.Errorf("%w: MSH-9: trigger event %q; supported: %s", ErrUnsupported, a.Trigger, strings.Join(edintake.Supported, " "))
	}
	if a.MessageTime, err = ParseTime(m.Get("MSH", 7, 1), loc); err != nil {
		return a, fmt.Errorf("%w: MSH-7: %v", ErrMalformed, err)
	}
	if a.EventTime, err = ParseTime(m.Get("EVN", 2, 1), loc); err != nil {
		return a, fmt.Errorf("%w: EVN-2: %v", ErrMalformed, err)
	}
	if _, ok := m.Segment("PID"); !ok {
		return a, fmt.Errorf("%w: PID: segment missing", ErrMalformed)
	}
	a.Identifiers = identifiers(m, "PID", 3)
	if len(a.Identifiers) == 0 {
		return a, fmt.Errorf("%w: PID-3: no patient identifier", ErrMalformed)
	}
	a.FamilyName = m.Get("PID", 5, 1)
	a.GivenName = m.Get("PID", 5, 2)
	if b := m.Get("PID", 7, 1); len(b) >= 8 {
		if t, err := ParseTime(b[:8], loc); err == nil {
			a.BirthDate = t.Format(time.DateOnly)
		}
	}
	if a.Trigger == "A40" {
		a.Merged = identifiers(m, "MRG", 1)
		if len(a.Merged) == 0 {
			return a, fmt.Errorf("%w: MRG-1: merged patient identifier missing", ErrMalformed)
		}
		return a, nil
	}
	if _, ok := m.Segment("PV1"); !ok {
		return a, fmt.Errorf("%w: PV1: segment missing", ErrMalformed)
	}
	a.PatientClass = m.Get("PV1", 2, 1)
	a.Location = m.Get("PV1", 3, 1)
	a.VisitNumber = m.Get("PV1", 19, 1)
	a.Disposition = m.Get("PV1", 36, 1)
	if a.VisitNumber == "" {
		return a, fmt.Errorf("%w: PV1-19: visit number missing", ErrMalformed)
	}
	if a.AdmitTime, err = ParseTime(m.Get("PV1", 44, 1), loc); err != nil {
		return a, fmt.Errorf("%w: PV1-44: %v", ErrMalformed, err)
	}
	if a.DischargeTime, err = ParseTime(m.Get("PV1", 45, 1), loc); err != nil {
		return a, fmt.Errorf("%w: PV1-45: %v", ErrMalformed, err)
	}
	a.ReasonCode = m.Get("PV2", 3, 1)
	a.ReasonText = m.Get("PV2", 3, 2)
	return a, nil
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
