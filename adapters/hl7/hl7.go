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
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
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
	// given is MSH-1 and MSH-2 as the sender wrote them.
	given string
}

// str is one separator as a string: the byte itself, not the rune it
// would be converted to (a separator above 0x7f is one byte on the wire).
func (separators) str(b byte) string { return string([]byte{b}) }

// Parse splits raw into segments and fields, text read as the default
// facility would (UTF-8, or Windows-1252 when it is not UTF-8). Text stays
// escaped until read through Get, which unescapes it.
func Parse(raw []byte) (*Message, error) {
	m, _, _, err := parse(raw, nil)
	return m, err
}

// parse reads the header once, picks the sending facility's configuration
// from it (its charset, time zone and visit keys), decodes the message with
// that charset and splits the other segments. The header comes back even
// when a later segment is malformed, so the message can be answered.
func parse(raw []byte, fs *Facilities) (*Message, Header, Facility, error) {
	head, _, err := readMSH(raw)
	if head == nil {
		f, _ := fs.For("")
		return nil, Header{}, f, err
	}
	h := head.header()
	f, _ := fs.For(h.SendingFacility.Namespace)
	if err != nil {
		return nil, h, f, err
	}
	if h.Batch != "" {
		return nil, h, f, &FieldError{Kind: ErrUnsupported, Segment: h.Batch, Code: CodeUnsupportedType,
			Text: "a batch is not taken over MLLP: send each message in its own frame"}
	}
	text := decode(trimLead(raw), head.rawGet("MSH", 18), f.Charset)
	m := &Message{sep: head.sep}
	for i, line := range splitSegments(text) {
		if len(line) == 0 {
			continue
		}
		if i == 0 {
			// The header, decoded with the facility's charset this time.
			hm, _ := headerSegment("MSH", line)
			m.Segments = append(m.Segments, hm.Segments[0])
			continue
		}
		if len(line) < 3 {
			return nil, h, f, malformed(line, 0, CodeSegmentSequence, "segment %q is too short", line)
		}
		parts := strings.Split(line, m.sep.str(m.sep.field))
		seg := Segment{ID: parts[0], Fields: parts}
		if seg.ID == "MSH" {
			return nil, h, f, malformed("MSH", 0, CodeSegmentSequence, "a second MSH in one frame: send each message in its own frame")
		}
		m.Segments = append(m.Segments, seg)
	}
	if i := strings.IndexFunc(text, stray); i >= 0 {
		what := fmt.Sprintf("byte 0x%02X", text[i])
		if text[i] == 0x0b {
			what = "an MLLP start block (0x0B)"
		}
		return nil, h, f, malformed(segmentAt(text, i), 0, CodeSegmentSequence, "%s inside the message, at byte %d", what, i)
	}
	return m, m.header(), f, nil
}

// stray is a control character that has no place in HL7 text (segments
// end with CR or LF; a tab is text).
func stray(r rune) bool { return r < 0x20 && r != '\r' && r != '\n' && r != '\t' }

// segmentAt names the segment holding byte i of text.
func segmentAt(text string, i int) string {
	start := strings.LastIndexAny(text[:i], "\r\n") + 1
	if i-start >= 3 {
		return text[start : start+3]
	}
	return "MSH"
}

func splitSegments(text string) []string {
	text = strings.ReplaceAll(text, "\r\n", "\r")
	text = strings.ReplaceAll(text, "\n", "\r")
	return strings.Split(text, "\r")
}

// decode reads raw as text: in the charset MSH-18 declares, else in the
// facility's (auto: UTF-8, or Windows-1252 when raw is not valid UTF-8).
// It never fails: a byte that is not text in the charset becomes U+FFFD,
// so a field Relais does not store cannot fail the message.
func decode(raw []byte, declared, charset string) string {
	switch c := strings.ToUpper(strings.TrimSpace(declared)); c {
	case "8859/1", "ISO-8859-1", "ISO_IR 100", "ISO IR100":
		charset = "iso-8859-1"
	case "UNICODE UTF-8", "UTF-8", "UTF8":
		charset = "utf-8"
	}
	var e *charmap.Charmap
	switch charset {
	case "iso-8859-1":
		e = charmap.ISO8859_1
	case "windows-1252":
		e = charmap.Windows1252
	case "utf-8":
		return strings.ToValidUTF8(string(raw), "\uFFFD")
	default: // auto
		if utf8.Valid(raw) {
			return string(raw)
		}
		e = charmap.Windows1252
	}
	if !hasHighBytes(raw) {
		return string(raw)
	}
	out, err := e.NewDecoder().Bytes(raw)
	if err != nil {
		return strings.ToValidUTF8(string(raw), "\uFFFD")
	}
	return string(out)
}

func hasHighBytes(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// null is the HL7 null: a field (or component) sent as two double quotes
// says "this value is now empty", which Relais reads as empty.
const null = `""`

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
		if p == null {
			parts[i] = ""
			continue
		}
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
		if reps[0] == null {
			return ""
		}
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
