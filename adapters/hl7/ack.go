package hl7

import (
	"fmt"
	"strings"
	"time"
)

// Acknowledgement codes (MSA-1).
const (
	AA = "AA" // accepted: the events are durably in the ledger
	AE = "AE" // error: the message is malformed; the sender must fix it
	AR = "AR" // rejected: sender or message type not accepted
)

// BuildACK answers the message raw with code and text. It works from as
// little as a readable MSH; with no usable MSH it still returns a minimal
// ACK so the sender is never left waiting.
func BuildACK(raw []byte, code, text string, now time.Time) []byte {
	m, err := Parse(raw)
	get := func(n int) string { return "" }
	if err == nil {
		get = func(n int) string { return m.rawGet("MSH", n) }
	}
	clean := func(s string) string {
		return strings.NewReplacer("|", " ", "^", " ", "~", " ", "\\", " ", "&", " ", "\r", " ", "\n", " ").Replace(s)
	}
	version := get(12)
	if version == "" {
		version = "2.5.1"
	}
	controlID := get(10)
	segs := []string{
		strings.Join([]string{"MSH", "^~\\&", get(5), get(6), get(3), get(4), now.UTC().Format("20060102150405-0700"), "",
			"ACK^" + triggerOf(get(9)) + "^ACK", "ACK" + controlID, orDefault(get(11), "P"), version}, "|"),
		strings.Join([]string{"MSA", code, controlID, clean(text)}, "|"),
	}
	if code != AA {
		errCode := "207" // application internal error
		if code == AR {
			errCode = "200" // unsupported message type / not accepted
		}
		segs = append(segs, fmt.Sprintf("ERR||||E|%s^%s^HL70357|||%s", errCode, "Application error", clean(text)))
	}
	return []byte(strings.Join(segs, "\r") + "\r")
}

func triggerOf(msh9 string) string {
	parts := strings.Split(msh9, "^")
	if len(parts) >= 2 {
		return parts[1]
	}
	return ""
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}
