package hl7

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Header is what the MSH segment says about a message: who sent it to whom,
// what it is and its control id. It is all an acknowledgement needs, so it
// is read even when the rest of the message is not readable.
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

// readMSH returns a message holding only the MSH segment, and the bytes
// after it. When MSH is there but flawed, the message is returned with the
// error so the header can still be read; with no MSH the message is nil.
func readMSH(raw []byte) (*Message, []byte, error) {
	if onParse != nil {
		onParse()
	}
	raw = bytes.TrimLeft(raw, leading)
	raw = bytes.TrimLeft(bytes.TrimPrefix(raw, []byte(byteOrderMark)), leading)
	line, rest := raw, []byte(nil)
	if i := bytes.IndexAny(raw, "\r\n"); i >= 0 {
		line, rest = raw[:i], raw[i:]
	}
	if len(line) < 4 || !bytes.HasPrefix(line, []byte("MSH")) {
		return nil, nil, fmt.Errorf("%w: MSH: the message does not start with an MSH segment", ErrMalformed)
	}
	sep := separators{field: line[3], comp: '^', rep: '~', esc: '\\', sub: '&'}
	parts := strings.Split(string(line), sep.str(sep.field))
	var err error
	if enc := parts[1]; enc == "" {
		err = fmt.Errorf("%w: MSH-2: encoding characters missing", ErrMalformed)
	} else {
		for i, p := range []*byte{&sep.comp, &sep.rep, &sep.esc, &sep.sub} {
			if i < len(enc) {
				*p = enc[i]
			}
		}
	}
	// MSH-1 is the separator itself; MSH-2 the encoding characters.
	fields := append([]string{"MSH", sep.str(sep.field)}, parts[1:]...)
	m := &Message{sep: sep, Segments: []Segment{{ID: "MSH", Fields: fields}}}
	decl := latin1(m.rawGet("MSH", 18))
	for i, f := range fields {
		switch {
		case decl:
			fields[i] = fromLatin1(f)
		case !utf8.ValidString(f):
			fields[i] = strings.ToValidUTF8(f, "\uFFFD")
			if err == nil {
				err = fmt.Errorf("%w: MSH: text is not UTF-8 and MSH-18 does not declare 8859/1", ErrMalformed)
			}
		}
	}
	return m, rest, err
}

func (m *Message) header() Header {
	hd := func(n int) HD { return HD{m.Get("MSH", n, 1), m.Get("MSH", n, 2), m.Get("MSH", n, 3)} }
	return Header{
		SendingApplication: hd(3), SendingFacility: hd(4), ReceivingApplication: hd(5), ReceivingFacility: hd(6),
		MessageType: m.Get("MSH", 9, 1), Trigger: m.Get("MSH", 9, 2), Structure: m.Get("MSH", 9, 3),
		ControlID: m.Get("MSH", 10, 0), ProcessingID: m.Get("MSH", 11, 1), Version: m.Get("MSH", 12, 1),
	}
}
