package events

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
	"unsafe"

	fastjson "github.com/goccy/go-json"
)

// The fast envelope reader must read what the ledger writes, and read it
// exactly as the general decoder does.
func TestDecodeReadsWhatEncodeWrites(t *testing.T) {
	base := MustNew(&ContactMade{ClientID: "c1", StaffID: "cm-1", Channel: "phone", At: time.Unix(1_700_000_000, 5).UTC(), Note: "Appel de suivi"}, cm)
	base.Stream, base.Revision, base.RecordedAt, base.PrevHash = "client-c1", 42, time.Unix(1_700_000_100, 123456789).UTC(), "ab12"
	tests := []struct {
		name   string
		mutate func(*Event)
		fast   bool
	}{
		{"a plain event", func(*Event) {}, true},
		{"with source, correlation and causation", func(e *Event) {
			e.Source, e.CorrelationID, e.CausationID = Source{System: "HSTA", MessageID: "M1"}, "corr", "cause"
		}, true},
		{"a source with only a message id", func(e *Event) { e.Source = Source{MessageID: "M1"} }, true},
		{"a source with only a system", func(e *Event) { e.Source = Source{System: "HSTA"} }, true},
		{"a source with its connection", func(e *Event) {
			e.Source = Source{System: "HSTA", MessageID: "M1", Remote: "10.0.0.7:50122", Certificate: "CN=HSTA,O=Hopital"}
		}, true},
		{"a source with a remote address only", func(e *Event) { e.Source = Source{Remote: "[::1]:50122"} }, true},
		{"a source with a system and a certificate", func(e *Event) { e.Source = Source{System: "HSTA", Certificate: "CN=HSTA"} }, true},
		{"a certificate subject with an accent (written by encoding/json)", func(e *Event) { e.Source.Certificate = "CN=HSTA,O=Hôpital" }, false},
		{"the first event of a stream", func(e *Event) { e.Revision, e.PrevHash = 1, "" }, true},
		{"a time with an offset", func(e *Event) { e.OccurredAt = time.Date(2026, 3, 1, 8, 0, 0, 0, time.FixedZone("EST", -5*3600)) }, true},
		{"a payload with HTML characters (escaped by encoding/json)", func(e *Event) { e.Data = json.RawMessage(`{"note":"a<b"}`) }, true},
		{"an actor with an accent (written by encoding/json)", func(e *Event) { e.Actor.ID = "gagné" }, false},
		{"a message id with a quote", func(e *Event) { e.Source.MessageID = `M"1` }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := base
			tt.mutate(&e)
			b, err := e.Encode()
			if err != nil {
				t.Fatal(err)
			}
			_, ok := decodeEnvelope(b, false)
			if ok != tt.fast {
				t.Errorf("fast path taken = %v, want %v", ok, tt.fast)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			assertSameAsGeneral(t, b, got)
			again, err := got.Encode()
			if err != nil || string(again) != string(b) {
				t.Fatalf("re-encoding changed the bytes (%v):\n%s\n%s", err, again, b)
			}
		})
	}
}

// assertSameAsGeneral checks that e is what the general decoder reads from b.
func assertSameAsGeneral(t *testing.T, b []byte, e Event) {
	t.Helper()
	var want Event
	if err := fastjson.Unmarshal(b, &want); err != nil {
		t.Fatalf("general decoder refuses what the fast path read (%v): %s", err, b)
	}
	got := e
	got.decoded, want.decoded = nil, nil
	if string(got.Data) != string(want.Data) {
		t.Fatalf("data %s, general decoder %s", got.Data, want.Data)
	}
	got.Data, want.Data = nil, nil
	if !got.OccurredAt.Equal(want.OccurredAt) || !got.RecordedAt.Equal(want.RecordedAt) {
		t.Fatalf("times %v %v, general decoder %v %v", got.OccurredAt, got.RecordedAt, want.OccurredAt, want.RecordedAt)
	}
	got.OccurredAt, want.OccurredAt, got.RecordedAt, want.RecordedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fast path read %+v, general decoder %+v", got, want)
	}
}

func FuzzDecodeEnvelopeMatchesGeneralDecoder(f *testing.F) {
	e := MustNew(&ClientFlagged{ClientID: "c1", Programme: "defi-sante"}, cm, WithSource("HSTA", "M1"), WithCorrelation("a", "b"))
	e.Stream, e.Revision, e.PrevHash = "client-c1", 3, "ff"
	b, _ := e.Encode()
	f.Add(b)
	e.Source = Source{System: "HSTA", MessageID: "M1", Remote: "10.0.0.7:50122", Certificate: "CN=HSTA"}
	b, _ = e.Encode()
	f.Add(b)
	e.Source = Source{MessageID: "M1", Certificate: "CN=HSTA"}
	b, _ = e.Encode()
	f.Add(b)
	f.Add([]byte(`{"id":"x","type":"t","schema_version":01,"stream":"s","revision":1,"occurred_at":"2026-01-01T00:00:00Z","recorded_at":"2026-01-01T00:00:00Z","actor":{"id":"a","role":"r"},"prev_hash":"","data":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, ok := decodeEnvelope(b, false)
		if !ok {
			return
		}
		if shared, _ := decodeEnvelope(bytes.Clone(b), true); !reflect.DeepEqual(stringsOf(shared), stringsOf(e)) {
			t.Fatalf("sharing the bytes read %+v, copying them %+v", shared, e)
		}
		var want Event
		if err := fastjson.Unmarshal(b, &want); err != nil {
			// The one difference allowed: the payload is checked when it
			// is decoded, not here.
			if json.Valid(e.Data) && json.Valid(b) {
				t.Fatalf("fast path read what the general decoder refuses (%v): %s", err, b)
			}
			return
		}
		assertSameAsGeneral(t, b, e)
	})
}

// stringsOf is the envelope's string fields.
func stringsOf(e Event) []string {
	return []string{e.ID, e.Type, e.Stream, e.Actor.ID, e.Actor.Role, e.Source.System, e.Source.MessageID, e.Source.Remote, e.Source.Certificate, e.CorrelationID, e.CausationID, e.PrevHash}
}

// Decode copies what it keeps: a caller may reuse its buffer. DecodeStored
// shares the bytes it is given (they belong to the event) and still reads
// the same event.
func TestDecodeCopiesAndDecodeStoredShares(t *testing.T) {
	e := MustNew(&ClientFlagged{ClientID: "c1", Programme: "defi-sante"}, cm, WithSource("HSTA", "M1"))
	e.Stream, e.Revision, e.PrevHash = "client-c1", 3, "ff"
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	within := func(s string, b []byte) bool {
		p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(&b[0]))
		return p >= lo && p < lo+uintptr(len(b))
	}

	buf := bytes.Clone(b)
	copied, err := Decode(buf)
	if err != nil {
		t.Fatal(err)
	}
	if within(copied.ID, buf) {
		t.Fatal("Decode shares the caller's buffer")
	}
	clear(buf[:len(buf)/2])
	if copied.ID != e.ID || copied.Stream != "client-c1" || copied.Source.MessageID != "M1" {
		t.Fatalf("reusing the buffer changed the event: %+v", copied)
	}

	owned := bytes.Clone(b)
	var cache PayloadCache
	shared, err := DecodeStored(owned, &cache)
	if err != nil {
		t.Fatal(err)
	}
	if !within(shared.ID, owned) || !within(shared.Stream, owned) {
		t.Fatal("DecodeStored copied the stored bytes")
	}
	// A type of the catalog is the catalog's string: a projection keeping
	// the types of the events it saw keeps no message alive.
	if within(shared.Type, owned) || shared.Type != TypeClientFlagged {
		t.Fatalf("type %q shares the stored bytes", shared.Type)
	}
	if !reflect.DeepEqual(stringsOf(shared), stringsOf(copied)) {
		t.Fatalf("DecodeStored read %v, Decode %v", stringsOf(shared), stringsOf(copied))
	}
	p1, err := shared.Payload()
	if err != nil {
		t.Fatal(err)
	}
	again := shared // a copy handed to another projection
	p2, _ := again.Payload()
	if p1 != p2 || cache.d.v.Load() == nil {
		t.Fatal("the copies of a stored event do not share its decoded payload")
	}
}

// Validation refuses a payload field the type does not have; reading a
// stored event does not check it again (it was checked when written).
func TestUnknownPayloadFieldIsRefusedOnWriteNotOnRead(t *testing.T) {
	e := MustNew(&ClientFlagged{ClientID: "c1", Programme: "defi-sante"}, cm)
	e.Stream, e.Revision = "client-c1", 1
	e.Data = json.RawMessage(`{"client_id":"c1","colour":"red","programme":"defi-sante"}`)
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	read, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := read.Validate(); err == nil {
		t.Fatal("validation accepted an unknown payload field")
	}
	p, err := read.Payload()
	if err != nil {
		t.Fatalf("reading a stored event: %v", err)
	}
	if f := p.(*ClientFlagged); f.ClientID != "c1" || f.Programme != "defi-sante" {
		t.Fatalf("read %+v", f)
	}
}
