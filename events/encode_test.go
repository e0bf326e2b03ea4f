package events

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"
)

// The hand-written encoder must give exactly the bytes encoding/json gives:
// the hash chain of every stored event depends on them.
func TestEncodeMatchesEncodingJSON(t *testing.T) {
	base := MustNew(&ContactMade{ClientID: "c1", StaffID: "cm-1", Channel: "phone", At: time.Unix(1_700_000_000, 5).UTC(), Note: "Appel de suivi"}, cm,
		WithSource("HSTA", "MSG00042"), WithCorrelation("corr-1", "cause-1"))
	base.Stream, base.Revision, base.RecordedAt, base.PrevHash = "client-c1", 42, time.Unix(1_700_000_100, 123456789).UTC(), "ab12"
	montreal := time.FixedZone("EST", -5*3600)
	tests := []struct {
		name   string
		mutate func(*Event)
		fast   bool
	}{
		{"a plain event", func(*Event) {}, true},
		{"no source, correlation or causation", func(e *Event) { e.Source, e.CorrelationID, e.CausationID = Source{}, "", "" }, true},
		{"a source with only a system", func(e *Event) { e.Source = Source{System: "HSTA"} }, true},
		{"a source with only a message id", func(e *Event) { e.Source = Source{MessageID: "M1"} }, true},
		{"a source with its connection", func(e *Event) {
			e.Source = Source{System: "HSTA", MessageID: "M1", Remote: "10.0.0.7:50122", Certificate: "CN=HSTA,O=Hopital"}
		}, true},
		{"a source with a remote address only", func(e *Event) { e.Source = Source{Remote: "[::1]:50122"} }, true},
		{"a source with a message id and a certificate", func(e *Event) { e.Source = Source{MessageID: "M1", Certificate: "CN=HSTA"} }, true},
		{"a certificate subject with an accent", func(e *Event) { e.Source.Certificate = "CN=HSTA,O=Hôpital" }, false},
		{"a remote address with a quote", func(e *Event) { e.Source.Remote = `a"b` }, false},
		{"times with an offset and whole seconds", func(e *Event) { e.OccurredAt, e.RecordedAt = time.Date(2026, 3, 1, 8, 0, 0, 0, montreal), time.Time{} }, true},
		{"an empty previous hash (first event)", func(e *Event) { e.PrevHash = "" }, true},
		{"a payload with <, > and &", func(e *Event) { e.Data = json.RawMessage(`{"note":"a<b && c>d"}`) }, false},
		{"a payload with U+2028", func(e *Event) { e.Data = json.RawMessage("{\"note\":\"a\u2028b\"}") }, false},
		{"a payload with non-ASCII letters", func(e *Event) { e.Data = json.RawMessage(`{"note":"Gagné, MPOC"}`) }, true},
		{"a payload with escaped quotes", func(e *Event) { e.Data = json.RawMessage(`{"note":"il a dit \"non\" \\ ok"}`) }, true},
		{"a payload with spaces between tokens", func(e *Event) { e.Data = json.RawMessage(`{"a": 1}`) }, false},
		{"an actor with an accent", func(e *Event) { e.Actor.ID = "gagné" }, false},
		{"a message id with a quote", func(e *Event) { e.Source.MessageID = `M"1` }, false},
		{"a control character", func(e *Event) { e.CorrelationID = "a\tb" }, false},
		{"a year past 9999", func(e *Event) { e.OccurredAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, false},
		{"an offset with seconds", func(e *Event) { e.OccurredAt = time.Date(1900, 1, 1, 0, 0, 0, 0, time.FixedZone("LMT", -17762)) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := base
			tt.mutate(&e)
			assertEncodesLikeJSON(t, &e, tt.fast)
		})
	}
}

func assertEncodesLikeJSON(t *testing.T, e *Event, wantFast bool) {
	t.Helper()
	want, wantErr := json.Marshal(e)
	fast, ok := e.appendEnvelope(nil)
	if ok != wantFast {
		t.Errorf("fast path taken = %v, want %v", ok, wantFast)
	}
	if ok && (wantErr != nil || string(fast) != string(want)) {
		t.Fatalf("fast encoding differs from encoding/json (err %v):\n got %s\nwant %s", wantErr, fast, want)
	}
	got, err := e.Encode()
	if (err != nil) != (wantErr != nil) || err == nil && string(got) != string(want) {
		t.Fatalf("Encode = %s, %v; encoding/json = %s, %v", got, err, want, wantErr)
	}
}

func FuzzEncodeMatchesEncodingJSON(f *testing.F) {
	f.Add("client-c1", "cm-1", "HSTA", "MSG1", "10.0.0.7:50122", "CN=HSTA", "corr", `{"a":"b c"}`, int64(1_700_000_000), int64(0))
	f.Add("s", "gagné", "", "", "", "", "", `{"a": "<"}`, int64(-62135596800), int64(-18000))
	f.Add("s", "a", "", "M1", "", "CN=Hôpital", "", `{}`, int64(0), int64(0))
	f.Fuzz(func(t *testing.T, stream, actor, system, msgID, remote, cert, corr, data string, unix, offset int64) {
		e := Event{ID: "0190a000-0000-7000-8000-000000000001", Type: TypeContactMade, SchemaVersion: 1, Stream: stream, Revision: 3,
			OccurredAt: time.Unix(unix, 0).In(time.FixedZone("z", int(offset%(30*3600)))), RecordedAt: time.Unix(unix, 999).UTC(),
			Actor: Actor{ID: actor, Role: "case-manager"}, Source: Source{System: system, MessageID: msgID, Remote: remote, Certificate: cert}, CorrelationID: corr,
			PrevHash: "00ff", Data: json.RawMessage(data)}
		if !json.Valid(e.Data) {
			return // Validate refuses it before any encoding
		}
		want, wantErr := json.Marshal(&e)
		if fast, ok := e.appendEnvelope(nil); ok && (wantErr != nil || string(fast) != string(want)) {
			t.Fatalf("fast encoding differs (err %v):\n got %s\nwant %s", wantErr, fast, want)
		}
	})
}

// The hand-written name checks accept exactly what the documented regular
// expressions accept.
func TestNameChecksMatchTheirRegularExpressions(t *testing.T) {
	stream := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,199}$`)
	role := regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)
	long := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = 'a'
		}
		return string(b)
	}
	for _, s := range []string{"", "a", "A", "0", "-a", "_a", "client-c1", "client_C1", "a.b", "a b", "é", "case-manager", "Admin",
		"a-", "9lives", long(64), long(65), long(200), long(201), "a\x00", "a/b", "a>b"} {
		if got, want := ValidStreamName(s), stream.MatchString(s); got != want {
			t.Errorf("ValidStreamName(%q) = %v, regexp says %v", s, got, want)
		}
		if got, want := validRole(s), role.MatchString(s); got != want {
			t.Errorf("validRole(%q) = %v, regexp says %v", s, got, want)
		}
	}
}
