package events

import (
	"encoding/json"
	"strconv"
	"time"
)

// appendEnvelope appends e exactly as encoding/json marshals it, without
// reflection: the ledger encodes every event on its commit path, and the
// reflective encoder was the largest part of the ledger's own CPU per
// append. It reports false, having appended nothing, when a field holds
// something encoding/json would escape or rewrite (non-ASCII or HTML
// characters, a year outside 0–9999, whitespace or HTML characters in the
// payload); the caller then uses encoding/json, so the stored bytes — and
// the hash chain over them — never depend on which path encoded them.
func (e *Event) appendEnvelope(b []byte) ([]byte, bool) {
	if !plain(e.ID) || !plain(e.Type) || !plain(e.Stream) || !plain(e.Actor.ID) || !plain(e.Actor.Role) ||
		!plain(e.Source.System) || !plain(e.Source.MessageID) || !plain(e.Source.Remote) ||
		!plain(e.Source.Certificate) || !plain(e.CorrelationID) ||
		!plain(e.CausationID) || !plain(e.PrevHash) || !plainTime(e.OccurredAt) || !plainTime(e.RecordedAt) ||
		!compactPlain(e.Data) {
		return b, false
	}
	b = append(b, `{"id":"`...)
	b = append(b, e.ID...)
	b = append(b, `","type":"`...)
	b = append(b, e.Type...)
	b = append(b, `","schema_version":`...)
	b = strconv.AppendInt(b, int64(e.SchemaVersion), 10)
	b = append(b, `,"stream":"`...)
	b = append(b, e.Stream...)
	b = append(b, `","revision":`...)
	b = strconv.AppendUint(b, e.Revision, 10)
	b = append(b, `,"occurred_at":"`...)
	b = e.OccurredAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","recorded_at":"`...)
	b = e.RecordedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","actor":{"id":"`...)
	b = append(b, e.Actor.ID...)
	b = append(b, `","role":"`...)
	b = append(b, e.Actor.Role...)
	b = append(b, `"}`...)
	if e.Source != (Source{}) {
		b = append(b, `,"source":{`...)
		first := true
		for _, m := range [...]struct{ key, v string }{
			{`"system":"`, e.Source.System}, {`"message_id":"`, e.Source.MessageID},
			{`"remote":"`, e.Source.Remote}, {`"certificate":"`, e.Source.Certificate},
		} {
			if m.v == "" {
				continue // omitempty
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, m.key...)
			b = append(b, m.v...)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	if e.CorrelationID != "" {
		b = append(b, `,"correlation_id":"`...)
		b = append(b, e.CorrelationID...)
		b = append(b, '"')
	}
	if e.CausationID != "" {
		b = append(b, `,"causation_id":"`...)
		b = append(b, e.CausationID...)
		b = append(b, '"')
	}
	b = append(b, `,"prev_hash":"`...)
	b = append(b, e.PrevHash...)
	b = append(b, `","data":`...)
	b = append(b, e.Data...)
	return append(b, '}'), true
}

// plain reports whether encoding/json writes s between quotes unchanged:
// printable ASCII other than the quote, the backslash and <, >, &.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// plainTime reports whether t marshals as its RFC 3339 form (encoding/json
// refuses years outside 0–9999).
func plainTime(t time.Time) bool {
	y := t.Year()
	if y < 0 || y > 9999 {
		return false
	}
	_, off := t.Zone()
	return off%60 == 0 && off > -24*3600 && off < 24*3600 // other offsets are refused too
}

// compactPlain reports whether encoding/json copies the raw payload
// unchanged: present, no whitespace outside strings (compaction would drop
// it), and no byte it escapes (<, >, & and the first byte of U+2028 and
// U+2029). Validity itself is Canonical's job, done before.
func compactPlain(d json.RawMessage) bool {
	if len(d) == 0 {
		return false
	}
	in := false
	for i := 0; i < len(d); i++ {
		switch c := d[i]; {
		case c == '<' || c == '>' || c == '&' || c == 0xe2:
			return false
		case in && c == '\\':
			i++
		case c == '"':
			in = !in
		case !in && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return false
		}
	}
	return !in
}
