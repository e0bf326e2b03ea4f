package hl7

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrUnsupported: a message type or trigger Relais does not record.
var ErrUnsupported = errors.New("unsupported HL7 message")

// CX is a patient identifier (PID-3, MRG-1): value, assigning authority
// (first component of CX.4) and identifier type (CX.5).
type CX struct {
	Value     string
	Authority string
	Type      string
}

// ADT is what Relais reads from an ADT message.
type ADT struct {
	SendingApplication string // MSH-3
	SendingFacility    string // MSH-4
	MessageTime        time.Time
	MessageType        string // MSH-9.1, "ADT"
	Trigger            string // MSH-9.2 (or EVN-1)
	ControlID          string // MSH-10
	ProcessingID       string // MSH-11
	Version            string // MSH-12
	EventTime          time.Time
	Identifiers        []CX // PID-3, every repetition
	FamilyName         string
	GivenName          string
	BirthDate          string // YYYY-MM-DD
	PatientClass       string // PV1-2
	Location           string // PV1-3.1
	VisitNumber        string // PV1-19.1
	Disposition        string // PV1-36
	AdmitTime          time.Time
	DischargeTime      time.Time
	ReasonCode         string // PV2-3.1
	ReasonText         string // PV2-3.2
	Merged             []CX   // MRG-1 (A40)
}

// Triggers lists the ADT trigger events Relais records.
var Triggers = []string{"A01", "A03", "A04", "A08", "A11", "A13", "A40"}

// ParseADT parses raw and extracts an ADT; times without an offset are in
// loc. Errors wrap ErrMalformed (naming the field) or ErrUnsupported.
func ParseADT(raw []byte, loc *time.Location) (ADT, error) {
	m, err := Parse(raw)
	if err != nil {
		return ADT{}, err
	}
	var a ADT
	a.SendingApplication = m.Get("MSH", 3, 1)
	a.SendingFacility = m.Get("MSH", 4, 1)
	a.MessageType = m.Get("MSH", 9, 1)
	a.Trigger = m.Get("MSH", 9, 2)
	a.ControlID = m.Get("MSH", 10, 0)
	a.ProcessingID = m.Get("MSH", 11, 1)
	a.Version = m.Get("MSH", 12, 1)
	if a.Trigger == "" {
		a.Trigger = m.Get("EVN", 1, 1)
	}
	if a.ControlID == "" {
		return a, fmt.Errorf("%w: MSH-10: control id missing", ErrMalformed)
	}
	if a.SendingFacility == "" {
		return a, fmt.Errorf("%w: MSH-4: sending facility missing", ErrMalformed)
	}
	if a.MessageType != "ADT" {
		return a, fmt.Errorf("%w: MSH-9: message type %q, only ADT is recorded", ErrUnsupported, a.MessageType)
	}
	if !contains(Triggers, a.Trigger) {
		return a, fmt.Errorf("%w: MSH-9: trigger event %q; supported: %s", ErrUnsupported, a.Trigger, strings.Join(Triggers, " "))
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

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}
