package hl7

import (
	"bytes"
	"strings"
)

// Header is what the MSH segment says about a message: who sent it to whom,
// what it is and its control id. It is all an acknowledgement needs, so it
// is read even when the rest of the message is not readable. For a batch
// (FHS or BHS first) it is the batch header's: the same fields, and the
// batch control id (FHS-11/BHS-11) as ControlID.
type Header struct {
	SendingApplication   HD     // MSH-3
	SendingFacility      HD     // MSH-4
	ReceivingApplication HD     // MSH-5
	ReceivingFacility    HD     // MSH-6
	MessageType          string // MSH-9.1
	Trigger              string // MSH-9.2; ParseADT falls back to EVN-1
	Structure            string // MSH-9.3
	ControlID            string // MSH-10
	ProcessingID         string // MSH-11.1
	Version              string // MSH-12.1
	// Separators are MSH-1 and MSH-2 as the sender wrote them (e.g.
	// "|^~\&"): the ACK is written with them.
	Separators string
	// Batch is the segment a batch started with (FHS or BHS), empty for a
	// message.
	Batch string
}

// HD is a hierarchic designator (MSH-3 to MSH-6): a namespace id, or a
// universal id and its type, or both.
type HD struct {
	Namespace       string
	UniversalID     string
	UniversalIDType string
}

// ReadHeader reads the MSH segment of raw and nothing after it. The header
// is filled as far as MSH could be read even when the error is not nil: an
// MSH without encoding characters or with a byte that is not UTF-8 still
// names its sender and control id.
func ReadHeader(raw []byte) (Header, error) {
	m, _, err := readMSH(raw)
	if m == nil {
		return Header{}, err
	}
	return m.header(), err
}

// onParse, when a test sets it, is called each time message bytes are
// parsed: every parse (Parse, ParseADT, ReadHeader) starts in readMSH.
var onParse func()

// byteOrderMark is the UTF-8 BOM some interface engines put before MSH.
const byteOrderMark = "\xef\xbb\xbf"

const leading = "\r\n\t \x0b"

// trimLead drops what comes before the first segment: blank lines, a stray
// start block, a byte-order mark.
func trimLead(raw []byte) []byte {
	raw = bytes.TrimLeft(raw, leading)
	return bytes.TrimLeft(bytes.TrimPrefix(raw, []byte(byteOrderMark)), leading)
}

// readMSH returns a message holding only the header segment (MSH, or FHS
// or BHS for a batch) decoded as UTF-8 with bad bytes replaced, and the
// bytes after it. When the header is there but flawed, the message is
// returned with the error so the header can still be read; with no header
// the message is nil.
func readMSH(raw []byte) (*Message, []byte, error) {
	if onParse != nil {
		onParse()
	}
	raw = trimLead(raw)
	line, rest := raw, []byte(nil)
	if i := bytes.IndexAny(raw, "\r\n"); i >= 0 {
		line, rest = raw[:i], raw[i:]
	}
	id := ""
	if len(line) >= 4 {
		id = string(line[:3])
	}
	if id != "MSH" && id != "FHS" && id != "BHS" {
		return nil, nil, malformed("MSH", 0, CodeSegmentSequence, "the message does not start with an MSH segment")
	}
	m, err := headerSegment(id, strings.ToValidUTF8(string(line), "\uFFFD"))
	return m, rest, err
}

// headerSegment reads an MSH (FHS, BHS) line: its separators from MSH-1
// and MSH-2, its fields numbered as the standard does.
func headerSegment(id, line string) (*Message, error) {
	sep := separators{field: line[3], comp: '^', rep: '~', esc: '\\', sub: '&'}
	parts := strings.Split(line, sep.str(sep.field))
	var err error
	enc := parts[1]
	if enc == "" {
		err = malformed(id, 2, CodeRequiredField, "encoding characters missing")
	}
	// MSH-2 is 4 characters (5 from 2.7 with the truncation character); a
	// longer field is a sender that left MSH-2 out and wrote MSH-3 there.
	if len(enc) > 5 {
		err = malformed(id, 2, CodeDataType, "encoding characters %q are not 4 or 5 characters", enc)
		enc = ""
	}
	for i, p := range []*byte{&sep.comp, &sep.rep, &sep.esc, &sep.sub} {
		if i < len(enc) {
			*p = enc[i]
		}
	}
	sep.given = sep.str(sep.field) + enc
	// MSH-1 is the separator itself; MSH-2 the encoding characters.
	fields := append([]string{id, sep.str(sep.field)}, parts[1:]...)
	return &Message{sep: sep, Segments: []Segment{{ID: id, Fields: fields}}}, err
}

func (m *Message) header() Header {
	id := m.Segments[0].ID
	hd := func(n int) HD { return HD{m.Get(id, n, 1), m.Get(id, n, 2), m.Get(id, n, 3)} }
	h := Header{
		SendingApplication: hd(3), SendingFacility: hd(4), ReceivingApplication: hd(5), ReceivingFacility: hd(6),
		Separators: m.sep.given,
	}
	if id != "MSH" {
		h.Batch, h.ControlID = id, m.Get(id, 11, 0)
		return h
	}
	h.MessageType, h.Trigger, h.Structure = m.Get("MSH", 9, 1), m.Get("MSH", 9, 2), m.Get("MSH", 9, 3)
	h.ControlID, h.ProcessingID, h.Version = m.Get("MSH", 10, 0), m.Get("MSH", 11, 1), m.Get("MSH", 12, 1)
	return h
}
