package events

import (
	"bytes"
	"encoding/json"
	"time"
)

// decodeEnvelope parses b when it is laid out exactly as the ledger's
// encoder writes it (keys in their fixed order, strings without escapes):
// the replay hot path, several times faster than a general JSON decoder. It
// reports false for anything else, and Decode then uses the general one, so
// what it accepts it reads exactly as that decoder would — except that the
// payload is not checked for JSON validity here: Payload reports a payload
// that is not JSON when it is decoded.
func decodeEnvelope(b []byte) (Event, bool) {
	var e Event
	// Every string of the envelope is cut from one copy of its bytes: one
	// allocation instead of one per field.
	head := len(b)
	if i := bytes.Index(b, []byte(`,"data":`)); i > 0 {
		head = i
	}
	r := reader{b: b, s: string(b[:head])}
	ok := r.lit(`{"id":`) && r.str(&e.ID) &&
		r.lit(`,"type":`) && r.str(&e.Type) &&
		r.lit(`,"schema_version":`) && r.int(&e.SchemaVersion) &&
		r.lit(`,"stream":`) && r.str(&e.Stream) &&
		r.lit(`,"revision":`) && r.uint(&e.Revision) &&
		r.lit(`,"occurred_at":`) && r.time(&e.OccurredAt) &&
		r.lit(`,"recorded_at":`) && r.time(&e.RecordedAt) &&
		r.lit(`,"actor":{"id":`) && r.str(&e.Actor.ID) &&
		r.lit(`,"role":`) && r.str(&e.Actor.Role) && r.lit(`}`)
	if !ok {
		return Event{}, false
	}
	if r.lit(`,"source":{`) {
		if r.lit(`"system":`) {
			ok = r.str(&e.Source.System) && (r.lit(`}`) || r.lit(`,"message_id":`) && r.str(&e.Source.MessageID) && r.lit(`}`))
		} else {
			ok = r.lit(`"message_id":`) && r.str(&e.Source.MessageID) && r.lit(`}`)
		}
		if !ok || e.Source == (Source{}) {
			return Event{}, false
		}
	}
	if r.lit(`,"correlation_id":`) && (!r.str(&e.CorrelationID) || e.CorrelationID == "") {
		return Event{}, false
	}
	if r.lit(`,"causation_id":`) && (!r.str(&e.CausationID) || e.CausationID == "") {
		return Event{}, false
	}
	if !r.lit(`,"prev_hash":`) || !r.str(&e.PrevHash) || !r.lit(`,"data":`) {
		return Event{}, false
	}
	// The payload runs to the envelope's closing brace.
	data := bytes.TrimRight(r.b[r.i:], " \t\r\n")
	if len(data) < 3 || data[len(data)-1] != '}' {
		return Event{}, false
	}
	data = data[:len(data)-1]
	if data[0] != '{' || data[len(data)-1] != '}' {
		return Event{}, false
	}
	e.Data = json.RawMessage(data[:len(data):len(data)]) // shares b, as Raw does
	return e, true
}

// reader walks the bytes of an envelope; s holds a copy of its first
// bytes, where strings are cut from.
type reader struct {
	b []byte
	s string
	i int
}

// lit consumes s if the input continues with it.
func (r *reader) lit(s string) bool {
	if len(r.b)-r.i < len(s) || string(r.b[r.i:r.i+len(s)]) != s {
		return false
	}
	r.i += len(s)
	return true
}

// str reads a string of printable ASCII without escapes.
func (r *reader) str(dst *string) bool {
	if r.i >= len(r.b) || r.b[r.i] != '"' {
		return false
	}
	n := bytes.IndexByte(r.b[r.i+1:], '"')
	if n < 0 {
		return false
	}
	j := r.i + 1 + n
	for _, c := range r.b[r.i+1 : j] {
		if c < 0x20 || c > 0x7e || c == '\\' {
			return false
		}
	}
	if j <= len(r.s) {
		*dst = r.s[r.i+1 : j]
	} else {
		*dst = string(r.b[r.i+1 : j])
	}
	r.i = j + 1
	return true
}

// digits reads an unsigned decimal of up to 18 digits without leading zeros.
func (r *reader) digits() (uint64, bool) {
	j := r.i
	var n uint64
	for j < len(r.b) && r.b[j] >= '0' && r.b[j] <= '9' && j-r.i < 18 {
		n = n*10 + uint64(r.b[j]-'0')
		j++
	}
	if j == r.i || j < len(r.b) && r.b[j] >= '0' && r.b[j] <= '9' || r.b[r.i] == '0' && j-r.i > 1 {
		return 0, false
	}
	r.i = j
	return n, true
}

func (r *reader) uint(dst *uint64) bool {
	n, ok := r.digits()
	*dst = n
	return ok
}

func (r *reader) int(dst *int) bool {
	n, ok := r.digits()
	*dst = int(n)
	return ok
}

// time reads a quoted time as time.Time's own JSON decoding does; the
// ledger's own form (UTC, "Z") is parsed here, any other by time.
func (r *reader) time(dst *time.Time) bool {
	start := r.i
	var s string
	if !r.str(&s) {
		return false
	}
	if t, ok := parseUTC(s); ok {
		*dst = t
		return true
	}
	return dst.UnmarshalJSON(r.b[start:r.i]) == nil
}

// parseUTC parses YYYY-MM-DDTHH:MM:SS[.fraction]Z with every field in
// range, as time.RFC3339Nano would; it reports false for anything else.
func parseUTC(s string) (time.Time, bool) {
	if len(s) < 20 || len(s) > 30 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[len(s)-1] != 'Z' {
		return time.Time{}, false
	}
	num := func(a, b int) int {
		n := 0
		for _, c := range []byte(s[a:b]) {
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	y, mo, d, h, mi, sec := num(0, 4), num(5, 7), num(8, 10), num(11, 13), num(14, 16), num(17, 19)
	ns := 0
	switch frac := s[19 : len(s)-1]; {
	case frac == "":
	case len(frac) < 2 || frac[0] != '.' || len(frac) > 10:
		return time.Time{}, false
	default:
		if ns = num(20, len(s)-1); ns < 0 {
			return time.Time{}, false
		}
		for range 10 - len(frac) {
			ns *= 10
		}
	}
	if y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC)
	if t.Day() != d { // the 31st of a 30-day month, or a 29 February that is not
		return time.Time{}, false
	}
	return t, true
}
