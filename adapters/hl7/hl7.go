// Package hl7 is the HL7 v2 driving adapter. Intake, the handler behind the
// MLLP server, reads each ADT message once, maps it to an edintake.Message,
// records it through services/edintake and answers with an ACK built from
// the header it read: AA once the event is in the ledger, AE or AR naming
// what is wrong otherwise, always echoing MSH-10 when the MSH segment has
// one.
//
// The parser is small and tolerant, written for what hospital interface
// engines really send: a UTF-8 byte-order mark before MSH, segments ended by
// CR, LF or CRLF, separators taken from MSH-1/MSH-2, escape sequences in
// text, repetitions, Latin-1 declared in MSH-18. No maintained Go HL7 v2
// library was available from our module proxy, and the subset Relais needs
// is small enough to own and fuzz (FuzzParseADT).
package hl7

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Message is a parsed HL7 v2 message.
type Message struct {
	Segments []Segment
	sep      separators
}

// Segment is one segment: its id and its fields (index 0 is the id; for
// MSH, index 1 is the field separator itself, as in the standard's
// numbering).
type Segment struct {
	ID     string
	Fields []string
}

type separators struct {
	field, comp, rep, esc, sub byte
}

// str is one separator as a string: the byte itself, not the rune it
// would be converted to (a separator above 0x7f is one byte on the wire).
func (separators) str(b byte) string { return string([]byte{b}) }

// Parse splits raw into segments and fields. Text stays escaped until read
// through Get, which unescapes it.
func Parse(raw []byte) (*Message, error) {
	m, _, err := parse(raw)
	return m, err
}

// parse reads MSH once and then the other segments. The header comes back
// even when a later segment is malformed, so the message can be answered.
func parse(raw []byte) (*Message, Header, error) {
	m, rest, err := readMSH(raw)
	if m == nil {
		return nil, Header{}, err
	}
	h := m.header()
	if err != nil {
		return nil, h, err
	}
	decl := latin1(m.rawGet("MSH", 18))
	for _, line := range splitSegments(rest) {
		if len(line) == 0 {
			continue
		}
		if len(line) < 3 {
			return nil, h, fmt.Errorf("%w: segment %q is too short", ErrMalformed, line)
		}
		parts := strings.Split(string(line), m.sep.str(m.sep.field))
		seg := Segment{ID: parts[0], Fields: parts}
		if seg.ID == "MSH" {
			// A later MSH (a batch) is numbered like the first.
			seg.Fields = append([]string{"MSH", m.sep.str(m.sep.field)}, parts[1:]...)
		}
		for fi, f := range seg.Fields {
			switch {
			case decl:
				seg.Fields[fi] = fromLatin1(f)
			case !utf8.ValidString(f):
				return nil, h, fmt.Errorf("%w: %s: text is not UTF-8 and MSH-18 does not declare 8859/1", ErrMalformed, seg.ID)
			}
		}
		m.Segments = append(m.Segments, seg)
	}
	return m, h, nil
}

func splitSegments(raw []byte) [][]byte {
	raw = bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\r"))
	raw = bytes.ReplaceAll(raw, []byte("\n"), []byte("\r"))
	return bytes.Split(raw, []byte("\r"))
}

func latin1(charset string) bool {
	c := strings.ToUpper(strings.TrimSpace(charset))
	return c == "8859/1" || c == "ISO-8859-1" || c == "ISO_IR 100"
}

func fromLatin1(s string) string {
	if utf8.ValidString(s) && !hasHighBytes(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteRune(rune(s[i]))
	}
	return b.String()
}

func hasHighBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}

// Segment returns the first segment with this id.
func (m *Message) Segment(id string) (Segment, bool) {
	for _, s := range m.Segments {
		if s.ID == id {
			return s, true
		}
	}
	return Segment{}, false
}

// rawGet returns field n of the first segment id, still escaped.
func (m *Message) rawGet(id string, n int) string {
	s, ok := m.Segment(id)
	if !ok || n >= len(s.Fields) {
		return ""
	}
	return s.Fields[n]
}

// Repetitions returns the repetitions of a field, each still escaped.
func (m *Message) Repetitions(id string, n int) []string {
	f := m.rawGet(id, n)
	if f == "" {
		return nil
	}
	if id == "MSH" && n <= 2 {
		return []string{f}
	}
	return strings.Split(f, m.sep.str(m.sep.rep))
}

// Components splits one (repetition of a) field into unescaped components.
func (m *Message) Components(field string) []string {
	parts := strings.Split(field, m.sep.str(m.sep.comp))
	for i, p := range parts {
		if j := strings.IndexByte(p, m.sep.sub); j >= 0 {
			p = p[:j] // first subcomponent (e.g. HD namespace id)
		}
		parts[i] = m.unescape(p)
	}
	return parts
}

// Get returns component c (1-based; 0 = whole field, unescaped) of the first
// repetition of field n of segment id.
func (m *Message) Get(id string, n, c int) string {
	reps := m.Repetitions(id, n)
	if len(reps) == 0 {
		return ""
	}
	if c == 0 {
		return m.unescape(reps[0])
	}
	comps := m.Components(reps[0])
	if c > len(comps) {
		return ""
	}
	return comps[c-1]
}

// unescape decodes \F\ \S\ \T\ \R\ \E\ and \Xhh..\ ; other escapes (e.g.
// formatting \.br\) are dropped.
func (m *Message) unescape(s string) string {
	e := m.sep.esc
	if strings.IndexByte(s, e) < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != e {
			b.WriteByte(s[i])
			continue
		}
		j := strings.IndexByte(s[i+1:], e)
		if j < 0 {
			b.WriteString(s[i:])
			break
		}
		seq := s[i+1 : i+1+j]
		i += j + 1
		switch {
		case seq == "F":
			b.WriteByte(m.sep.field)
		case seq == "S":
			b.WriteByte(m.sep.comp)
		case seq == "T":
			b.WriteByte(m.sep.sub)
		case seq == "R":
			b.WriteByte(m.sep.rep)
		case seq == "E":
			b.WriteByte(e)
		case strings.HasPrefix(seq, "X"):
			for k := 1; k+1 < len(seq); k += 2 {
				if v, err := strconv.ParseUint(seq[k:k+2], 16, 8); err == nil {
					b.WriteByte(byte(v))
				}
			}
		}
	}
	return b.String()
}

// ParseTime reads an HL7 DTM: YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+/-ZZZZ]. A
// value without offset is in loc.
func ParseTime(v string, loc *time.Location) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	zone := ""
	if i := strings.IndexAny(v, "+-"); i >= 0 {
		v, zone = v[:i], v[i:]
	}
	frac := ""
	if i := strings.IndexByte(v, '.'); i >= 0 {
		v, frac = v[:i], v[i+1:]
	}
	layouts := map[int]string{4: "2006", 6: "200601", 8: "20060102", 10: "2006010215", 12: "200601021504", 14: "20060102150405"}
	layout, ok := layouts[len(v)]
	if !ok {
		return time.Time{}, fmt.Errorf("%q is not an HL7 date/time", v)
	}
	for _, r := range v + frac {
		if r < '0' || r > '9' {
			return time.Time{}, fmt.Errorf("%q is not an HL7 date/time", v)
		}
	}
	if zone != "" {
		if len(zone) != 5 {
			return time.Time{}, fmt.Errorf("time zone %q is not +/-HHMM", zone)
		}
		t, err := time.Parse(layout+"-0700", v+zone)
		if err != nil {
			return time.Time{}, err
		}
		return addFrac(t, frac), nil
	}
	t, err := time.ParseInLocation(layout, v, loc)
	if err != nil {
		return time.Time{}, err
	}
	return addFrac(t, frac), nil
}

func addFrac(t time.Time, frac string) time.Time {
	if frac == "" {
		return t
	}
	for len(frac) < 9 {
		frac += "0"
	}
	ns, _ := strconv.Atoi(frac[:9])
	return t.Add(time.Duration(ns))
}
