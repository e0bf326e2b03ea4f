package events

import (
	"bytes"
	"encoding/json"
	"time"
	"unsafe"
)

// decodeEnvelope parses b when it is laid out exactly as the ledger's
// encoder writes it (keys in their fixed order, strings without escapes):
// the replay hot path, several times faster than a general JSON decoder. It
// reports false for anything else, and Decode then uses the general one, so
// what it accepts it reads exactly as that decoder would — except that the
// payload is not checked for JSON validity here: Payload reports a payload
// that is not JSON when it is decoded.
//
// owned lets the event's strings share b instead of copying it.
func decodeEnvelope(b []byte, owned bool) (Event, bool) {
	var e Event
	r := reader{b: b, owned: owned}
	ok := r.lit(`{"id":`) && r.str(fID) &&
		r.lit(`,"type":`) && r.str(fType) &&
		r.lit(`,"schema_version":`) && r.int(&e.SchemaVersion) &&
		r.lit(`,"stream":`) && r.str(fStream) &&
		r.lit(`,"revision":`) && r.uint(&e.Revision) &&
		r.lit(`,"occurred_at":`) && r.time(&e.OccurredAt) &&
		r.lit(`,"recorded_at":`) && r.time(&e.RecordedAt) &&
		r.lit(`,"actor":{"id":`) && r.str(fActorID) &&
		r.lit(`,"role":`) && r.str(fActorRole) && r.lit(`}`)
	if !ok {
		return Event{}, false
	}
	if r.lit(`,"source":{`) && !r.source() {
		return Event{}, false
	}
	if r.lit(`,"correlation_id":`) && (!r.str(fCorrelation) || r.lastLen() == 0) {
		return Event{}, false
	}
	if r.lit(`,"causation_id":`) && (!r.str(fCausation) || r.lastLen() == 0) {
		return Event{}, false
	}
	if !r.lit(`,"prev_hash":`) || !r.str(fPrevHash) || !r.lit(`,"data":`) {
		return Event{}, false
	}
	r.cut(&e)
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

// source reads the members of a source after its opening brace, through
// its closing one. encoding/json writes them in their fixed order, omits the
// empty ones and never writes an empty source.
func (r *reader) source() bool {
	n := 0
	for _, m := range [...]struct {
		key string
		f   field
	}{{`"system":`, fSystem}, {`"message_id":`, fMessageID}, {`"remote":`, fRemote}, {`"certificate":`, fCertificate}} {
		if n > 0 {
			if !r.lit(`,` + m.key) {
				continue
			}
		} else if !r.lit(m.key) {
			continue
		}
		if !r.str(m.f) || r.lastLen() == 0 {
			return false
		}
		n++
	}
	return n > 0 && r.lit(`}`)
}

// reader walks the bytes of an envelope. The strings it reads are cut,
// once the envelope's fields are all read, from one copy of their bytes:
// one allocation instead of one per field.
type reader struct {
	b    []byte
	i    int
	strs [12]span
	n    int
	// owned: b belongs to the event; strings may share it.
	owned bool
}

// span is a string to cut from the envelope's bytes into a field.
type span struct {
	field      field
	start, end int
}

// field names a string field of the envelope.
type field uint8

const (
	fID field = iota
	fType
	fStream
	fActorID
	fActorRole
	fSystem
	fMessageID
	fRemote
	fCertificate
	fCorrelation
	fCausation
	fPrevHash
)

// lastLen is the length of the last string read.
func (r *reader) lastLen() int {
	if r.n == 0 {
		return 0
	}
	x := r.strs[r.n-1]
	return x.end - x.start
}

// cut copies the bytes read so far once (or, when they belong to the
// event, shares them) and points every string read at its part. (A switch,
// not a table of field accessors: with a table the event escapes to the
// heap, one more allocation per event.)
func (r *reader) cut(e *Event) {
	var s string
	if r.owned && r.i > 0 {
		s = unsafe.String(&r.b[0], r.i)
	} else {
		s = string(r.b[:r.i])
	}
	for _, x := range r.strs[:r.n] {
		v := s[x.start:x.end]
		switch x.field {
		case fID:
			e.ID = v
		case fType:
			e.Type = v
		case fStream:
			e.Stream = v
		case fActorID:
			e.Actor.ID = v
		case fActorRole:
			e.Actor.Role = v
		case fSystem:
			e.Source.System = v
		case fMessageID:
			e.Source.MessageID = v
		case fRemote:
			e.Source.Remote = v
		case fCertificate:
			e.Source.Certificate = v
		case fCorrelation:
			e.CorrelationID = v
		case fCausation:
			e.CausationID = v
		case fPrevHash:
			e.PrevHash = v
		}
	}
}

// lit consumes s if the input continues with it.
func (r *reader) lit(s string) bool {
	if len(r.b)-r.i < len(s) || string(r.b[r.i:r.i+len(s)]) != s {
		return false
	}
	r.i += len(s)
	return true
}

// str reads a string of printable ASCII without escapes for field f (set
// by cut).
func (r *reader) str(f field) bool {
	start, end, ok := r.quoted()
	if !ok || r.n == len(r.strs) {
		return false
	}
	r.strs[r.n] = span{f, start, end}
	r.n++
	return true
}

// quoted reads a string of printable ASCII without escapes and returns
// where its text starts and ends.
func (r *reader) quoted() (start, end int, ok bool) {
	if r.i >= len(r.b) || r.b[r.i] != '"' {
		return 0, 0, false
	}
	n := bytes.IndexByte(r.b[r.i+1:], '"')
	if n < 0 {
		return 0, 0, false
	}
	j := r.i + 1 + n
	for _, c := range r.b[r.i+1 : j] {
		if c < 0x20 || c > 0x7e || c == '\\' {
			return 0, 0, false
		}
	}
	start, end, r.i = r.i+1, j, j+1
	return start, end, true
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
	start, end, ok := r.quoted()
	if !ok {
		return false
	}
	if t, ok := parseUTC(r.b[start:end]); ok {
		*dst = t
		return true
	}
	return dst.UnmarshalJSON(r.b[start-1:end+1]) == nil
}

// parseUTC parses YYYY-MM-DDTHH:MM:SS[.fraction]Z with every field in
// range, as time.RFC3339Nano would; it reports false for anything else.
func parseUTC(s []byte) (time.Time, bool) {
	if len(s) < 20 || len(s) > 30 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[len(s)-1] != 'Z' {
		return time.Time{}, false
	}
	num := func(a, b int) int {
		n := 0
		for _, c := range s[a:b] {
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
	case len(frac) == 0:
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
