package hl7

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Acknowledgement codes (MSA-1).
const (
	AA = "AA" // accepted: the events are durably in the ledger
	AE = "AE" // error: the message is malformed; the sender must fix it
	AR = "AR" // rejected: sender or message type not accepted
)

// BuildACK answers the message whose header is h with code and text. It
// goes back the way the message came (MSH-3/4 and MSH-5/6 swapped) and
// MSA-2 is h.ControlID, so the sender can match it. It never parses
// anything: from a zero Header (no readable MSH) it still returns a minimal
// ACK so the sender is never left waiting. The ACK uses the standard
// separators; values are escaped so it always parses back to them.
func BuildACK(h Header, code, text string, now time.Time) []byte {
	version := h.Version
	if version == "" {
		version = "2.5.1"
	}
	processing := h.ProcessingID
	if processing == "" {
		processing = "P"
	}
	msh := []string{"MSH", `^~\&`, h.ReceivingApplication.encode(), h.ReceivingFacility.encode(),
		h.SendingApplication.encode(), h.SendingFacility.encode(), now.UTC().Format("20060102150405-0700"), "",
		"ACK^" + escape(h.Trigger) + "^ACK", "ACK" + escape(h.ControlID), escape(processing), escape(version)}
	segs := []string{
		strings.Join(msh, "|"),
		strings.Join([]string{"MSA", code, escape(h.ControlID), escape(text)}, "|"),
	}
	if code != AA {
		errCode := "207" // application internal error
		if code == AR {
			errCode = "200" // unsupported message type / not accepted
		}
		segs = append(segs, fmt.Sprintf("ERR||||E|%s^%s^HL70357|||%s", errCode, "Application error", escape(text)))
	}
	return []byte(strings.Join(segs, "\r") + "\r")
}

// encode writes the designator with the standard separators.
func (d HD) encode() string {
	return strings.TrimRight(escape(d.Namespace)+"^"+escape(d.UniversalID)+"^"+escape(d.UniversalIDType), "^")
}

// escape makes s safe in a field of a message with the standard
// separators: separators become \F\ \S\ \T\ \R\ \E\, and control bytes
// (CR would end the segment, 0x1c the MLLP frame) and bytes that are not
// UTF-8 become \Xhh\, which Get decodes back to the same bytes.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '|':
			b.WriteString(`\F\`)
		case r == '^':
			b.WriteString(`\S\`)
		case r == '&':
			b.WriteString(`\T\`)
		case r == '~':
			b.WriteString(`\R\`)
		case r == '\\':
			b.WriteString(`\E\`)
		case r < 0x20 || r == 0x7f || (r == utf8.RuneError && w == 1):
			fmt.Fprintf(&b, `\X%02X\`, s[i])
		default:
			b.WriteString(s[i : i+w])
		}
		i += w
	}
	return b.String()
}
