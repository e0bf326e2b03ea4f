package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/projections"
)

// state is everything the fold keeps. Its JSON (Snapshot) writes each
// visit as an array [id, arrived, ended, admitted, reason, category,
// flags] to stay compact over millions of encounters.
type state struct {
	projections.Checkpoint
	// Reasons and Categories are the interned texts; index 0 is "".
	Reasons    []string            `json:"reasons"`
	Categories []string            `json:"categories"`
	Patients   map[string]*patient `json:"patients"`
	// Aliases maps a merged patient key to the key that survived it.
	Aliases projections.Aliases `json:"aliases"`
	Clients map[string]*client  `json:"clients"`

	reasonIdx   map[string]uint32
	categoryIdx map[string]uint16
	strings     map[string]string
}

func newState() *state {
	s := &state{Reasons: []string{""}, Categories: []string{""},
		Patients: map[string]*patient{}, Aliases: projections.Aliases{}, Clients: map[string]*client{}}
	if err := s.Reindex(); err != nil {
		panic(err) // cannot happen on an empty state
	}
	return s
}

// Reindex rebuilds what is derived from the serialized state.
func (s *state) Reindex() error {
	if len(s.Reasons) == 0 || s.Reasons[0] != "" || len(s.Categories) == 0 || s.Categories[0] != "" {
		return fmt.Errorf("interned tables must start with the empty string")
	}
	if s.Patients == nil {
		s.Patients = map[string]*patient{}
	}
	if s.Aliases == nil {
		s.Aliases = projections.Aliases{}
	}
	if s.Clients == nil {
		s.Clients = map[string]*client{}
	}
	s.reasonIdx = make(map[string]uint32, len(s.Reasons))
	for i, r := range s.Reasons[1:] {
		s.reasonIdx[r] = uint32(i + 1)
	}
	s.categoryIdx = make(map[string]uint16, len(s.Categories))
	for i, c := range s.Categories[1:] {
		s.categoryIdx[c] = uint16(i + 1)
	}
	s.strings = map[string]string{}
	for _, pt := range s.Patients {
		if pt == nil {
			return fmt.Errorf("null patient")
		}
		if pt.Ident != nil {
			pt.Ident.Authority = s.intern(pt.Ident.Authority)
		}
		for _, v := range pt.Visits {
			if int(v.Reason) >= len(s.Reasons) || int(v.Category) >= len(s.Categories) {
				return fmt.Errorf("visit refers to an unknown reason or category")
			}
		}
	}
	return nil
}

// WriteJSON writes the state's canonical JSON: map keys sorted, lists in
// fold order, so equal states give equal bytes.
func (s *state) WriteJSON(w io.Writer) error {
	e := &encoder{w: w}
	e.raw(`{"version":`)
	e.raw(strconv.Itoa(s.Version))
	e.raw(`,"position":`)
	e.raw(strconv.FormatUint(s.Position, 10))
	e.raw(`,"reasons":`)
	e.json(s.Reasons)
	e.raw(`,"categories":`)
	e.json(s.Categories)
	e.raw(`,"aliases":`)
	e.json(s.Aliases)
	e.raw(`,"clients":`)
	e.json(s.Clients)
	e.raw(`,"patients":{`)
	keys := make([]string, 0, len(s.Patients))
	for k := range s.Patients {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			e.raw(",")
		}
		e.json(k)
		e.raw(":")
		e.patient(s.Patients[k])
	}
	e.raw("}}")
	return e.err
}

type encoder struct {
	w   io.Writer
	buf []byte
	err error
}

func (e *encoder) raw(s string) {
	if e.err == nil {
		_, e.err = io.WriteString(e.w, s)
	}
}

func (e *encoder) json(v any) {
	if e.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		e.err = err
		return
	}
	_, e.err = e.w.Write(b)
}

func (e *encoder) patient(p *patient) {
	e.raw("{")
	sep := ""
	if p.Client != "" {
		e.raw(`"c":`)
		e.json(p.Client)
		sep = ","
	}
	if p.Ident != nil {
		e.raw(sep + `"i":`)
		e.json(p.Ident)
		sep = ","
	}
	if len(p.Visits) > 0 {
		e.raw(sep + `"v":[`)
		for i := range p.Visits {
			if i > 0 {
				e.raw(",")
			}
			e.visit(&p.Visits[i])
		}
		e.raw("]")
	}
	e.raw("}")
}

func (e *encoder) visit(v *visit) {
	b := append(e.buf[:0], '[')
	b = strconv.AppendUint(b, v.ID, 10)
	for _, n := range []int64{v.Arrived, v.Ended, v.Admitted, int64(v.Reason), int64(v.Category), int64(v.Flags)} {
		b = append(b, ',')
		b = strconv.AppendInt(b, n, 10)
	}
	b = append(b, ']')
	e.buf = b
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

// patientJSON is the wire shape of a patient in a snapshot.
type patientJSON struct {
	Client string             `json:"c,omitempty"`
	Ident  *events.Identifier `json:"i,omitempty"`
	Visits [][7]json.Number   `json:"v,omitempty"`
}

// UnmarshalJSON reads a patient written by encode.
func (p *patient) UnmarshalJSON(b []byte) error {
	var w patientJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	p.Client, p.Ident = w.Client, w.Ident
	p.Visits = make([]visit, len(w.Visits))
	for i, a := range w.Visits {
		var n [6]int64
		id, err := strconv.ParseUint(a[0].String(), 10, 64)
		for j := range n {
			if err != nil {
				break
			}
			n[j], err = strconv.ParseInt(a[j+1].String(), 10, 64)
		}
		if err != nil {
			return fmt.Errorf("visit %d: %w", i, err)
		}
		if n[3] < 0 || n[3] > 1<<32-1 || n[4] < 0 || n[4] > 1<<16-1 || n[5] < 0 || n[5] > 255 {
			return fmt.Errorf("visit %d: index or flags out of range", i)
		}
		p.Visits[i] = visit{ID: id, Arrived: n[0], Ended: n[1], Admitted: n[2], Reason: uint32(n[3]),
			Category: uint16(n[4]), Flags: uint8(n[5])}
	}
	return nil
}
