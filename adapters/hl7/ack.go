package hl7

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/relais-health/relais/services/edintake"
)

// Acknowledgement codes (MSA-1).
const (
	AA = "AA" // accepted: the events are durably in the ledger (or there is nothing to record)
	AE = "AE" // error: the message is malformed; the sender must fix it
	AR = "AR" // rejected: sender or message type not accepted
)

// maxControlID is the length of MSH-10 in HL7 2.3 to 2.6 (ST, 20): the
// ACK's own control id never exceeds it, whatever the sender's version.
const maxControlID = 20

// BuildACK answers the message whose header is h with code, text in MSA-3
// (the cause's message when text is empty) and, with a cause, an ERR
// segment naming its HL7 error code and location. It goes back the way the
// message came (MSH-3/4 and MSH-5/6 swapped) and MSA-2 is h.ControlID, so
// the sender can match it. It never parses anything: from a zero Header
// (no readable MSH) it still returns a minimal ACK so the sender is never
// left waiting. It is written with the sender's own separators, values
// escaped with them, so it parses back as the sender wrote it.
func BuildACK(h Header, code, text string, cause error, now time.Time) []byte {
	sep := ackSeparators(h.Separators)
	f, c := sep.str(sep.field), sep.str(sep.comp)
	esc := func(s string) string { return escape(s, sep) }
	version := h.Version
	if version == "" {
		version = "2.5.1"
	}
	processing := h.ProcessingID
	if processing == "" {
		processing = "P"
	}
	if text == "" && cause != nil {
		text = cause.Error()
	}
	trigger := esc(h.Trigger)
	if h.Batch != "" {
		trigger = ""
	}
	msh := []string{"MSH", sep.given[1:], h.ReceivingApplication.encode(sep), h.ReceivingFacility.encode(sep),
		h.SendingApplication.encode(sep), h.SendingFacility.encode(sep), now.UTC().Format("20060102150405-0700"), "",
		ackType(trigger, c), esc(ackControlID(h.ControlID)), esc(processing), esc(version)}
	segs := []string{
		strings.Join(msh, f),
		strings.Join([]string{"MSA", code, esc(h.ControlID), esc(text)}, f),
	}
	if cause != nil {
		segs = append(segs, errSegment(cause, version, text, sep))
	}
	return []byte(strings.Join(segs, "\r") + "\r")
}

// ackType is MSH-9 of the ACK: ACK^<trigger>^ACK, or ACK when the trigger
// is not known.
func ackType(trigger, c string) string {
	if trigger == "" {
		return "ACK"
	}
	return "ACK" + c + trigger + c + "ACK"
}

// ackSeparators are the sender's separators when they are usable (five
// distinct bytes, none a letter, digit or CR), the standard ones otherwise.
func ackSeparators(given string) separators {
	std := separators{field: '|', comp: '^', rep: '~', esc: '\\', sub: '&', given: `|^~\&`}
	if len(given) < 5 {
		return std
	}
	seen := map[byte]bool{}
	for i := 0; i < 5; i++ {
		b := given[i]
		if seen[b] || b == '\r' || b == '\n' || b < 0x20 || b >= 0x7f || ('0' <= b && b <= '9') || ('A' <= b && b <= 'Z') || ('a' <= b && b <= 'z') {
			return std
		}
		seen[b] = true
	}
	return separators{field: given[0], comp: given[1], rep: given[2], esc: given[3], sub: given[4], given: given[:5]}
}

// ackControlID is the ACK's MSH-10: "ACK" and the message's, or, when that
// would exceed 20 characters, "ACK" and a digest of it.
func ackControlID(id string) string {
	if len("ACK"+id) <= maxControlID {
		return "ACK" + id
	}
	sum := sha256.Sum256([]byte(id))
	return "ACK" + hex.EncodeToString(sum[:])[:maxControlID-3]
}

// errSegment names what is wrong: HL7 table 0357's code and the location
// (segment, sequence 1, field). From 2.5 on in ERR-2 (location), ERR-3
// (code), ERR-4 (severity) and ERR-8 (text); before, in ERR-1.
func errSegment(cause error, version, text string, sep separators) string {
	code, seg, field := errorCode(cause)
	label := codeText[code]
	seg = escape(seg, sep)
	f, c, s := sep.str(sep.field), sep.str(sep.comp), sep.str(sep.sub)
	esc := func(v string) string { return escape(v, sep) }
	if version < "2.5" {
		// ERR-1 (ELD): segment ^ sequence ^ field ^ code & text & table.
		seq, pos := "", ""
		if seg != "" {
			seq = "1"
		}
		if field > 0 {
			pos = fmt.Sprint(field)
		}
		return "ERR" + f + strings.Join([]string{seg, seq, pos, fmt.Sprint(code) + s + label + s + "HL70357"}, c)
	}
	loc := ""
	if seg != "" {
		loc = seg + c + "1"
		if field > 0 {
			loc += c + fmt.Sprint(field)
		}
	}
	return strings.Join([]string{"ERR", "", loc, fmt.Sprint(code) + c + label + c + "HL70357", "E", "", "", "", esc(text)}, f)
}

var codeText = map[int]string{
	CodeSegmentSequence: "Segment sequence error", CodeRequiredField: "Required field missing", CodeDataType: "Data type error",
	CodeUnsupportedType: "Unsupported message type", CodeUnsupportedCode: "Unsupported event code",
	CodeUnknownKey: "Unknown key identifier", CodeInternal: "Application internal error",
}

// errorCode maps a cause to its table 0357 code and location.
func errorCode(err error) (code int, seg string, field int) {
	var fe *FieldError
	switch {
	case errors.As(err, &fe):
		return fe.Code, fe.Segment, fe.Field
	case errors.Is(err, edintake.ErrPatientMismatch):
		return CodeUnknownKey, "PID", 3
	case errors.Is(err, edintake.ErrUnsupported):
		return CodeUnsupportedCode, "MSH", 9
	case errors.Is(err, edintake.ErrMalformed):
		return CodeRequiredField, "", 0
	}
	return CodeInternal, "", 0
}

// encode writes the designator with the given separators.
func (d HD) encode(sep separators) string {
	c := sep.str(sep.comp)
	return strings.TrimRight(escape(d.Namespace, sep)+c+escape(d.UniversalID, sep)+c+escape(d.UniversalIDType, sep), c)
}

// escape makes s safe in a field of a message with these separators:
// separators become \F\ \S\ \T\ \R\ \E\ (with the message's escape
// character), and control bytes (CR would end the segment, 0x1c the MLLP
// frame) and bytes that are not UTF-8 become \Xhh\, which Get decodes back
// to the same bytes.
func escape(s string, sep separators) string {
	e := sep.str(sep.esc)
	var b strings.Builder
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case w == 1 && s[i] == sep.field:
			b.WriteString(e + "F" + e)
		case w == 1 && s[i] == sep.comp:
			b.WriteString(e + "S" + e)
		case w == 1 && s[i] == sep.sub:
			b.WriteString(e + "T" + e)
		case w == 1 && s[i] == sep.rep:
			b.WriteString(e + "R" + e)
		case w == 1 && s[i] == sep.esc:
			b.WriteString(e + "E" + e)
		case r < 0x20 || r == 0x7f || (r == utf8.RuneError && w == 1):
			fmt.Fprintf(&b, "%sX%02X%s", e, s[i], e)
		default:
			b.WriteString(s[i : i+w])
		}
		i += w
	}
	return b.String()
}
