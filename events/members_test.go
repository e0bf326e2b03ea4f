package events

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"testing"
)

func TestVisitHashIsFNV1aOfFacilityZeroAndNumber(t *testing.T) {
	for _, c := range [][2]string{{"", ""}, {"HSTA", "V1-2"}, {"Hôpital", "0123456789"}} {
		h := fnv.New64a()
		h.Write([]byte(c[0] + "\x00" + c[1]))
		if got, want := VisitHash(c[0], c[1]), h.Sum64(); got != want || VisitHash([]byte(c[0]), []byte(c[1])) != want {
			t.Errorf("VisitHash(%q, %q) = %x, want %x", c[0], c[1], got, want)
		}
	}
}

// What Members reads of a valid object is what a decoder reads, member by
// member; what PlainString returns is the decoded string.
func FuzzMembers(f *testing.F) {
	f.Add(`{"a":"b","c":{"d":[1,"]"]},"e":null,"f":-1.5e3,"g":"é \"q\""}`)
	f.Add(`{}`)
	f.Add(`{"a":"x\u0041"}`)
	f.Fuzz(func(t *testing.T, data string) {
		var got [][2][]byte
		if !Members([]byte(data), func(k, v []byte) bool {
			got = append(got, [2][]byte{k, v})
			return true
		}) || !json.Valid([]byte(data)) {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if len(m) != len(got) {
			return // a key given twice: the decoder keeps the last
		}
		for _, kv := range got {
			want, ok := m[string(kv[0])]
			if !ok || !bytes.Equal(kv[1], want) {
				t.Fatalf("%s: member %q read as %s, decoded as %s", data, kv[0], kv[1], want)
			}
			if s, ok := PlainString(kv[1]); ok {
				var dec string
				if err := json.Unmarshal(kv[1], &dec); err != nil || dec != string(s) {
					t.Fatalf("%s: string %s read as %q, decoded as %q (%v)", data, kv[1], s, dec, err)
				}
			}
		}
	})
}
