package events

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Canonical re-encodes JSON with object keys sorted, numbers kept as written
// and no insignificant whitespace, so equal documents give equal bytes.
// Documents already in that form (what encoding/json makes of the catalog's
// structs, which have no maps) are returned as they are after one cheap check.
func Canonical(raw []byte) ([]byte, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("empty JSON")
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if bytes.Equal(out, raw) {
		return raw, nil
	}
	return out, nil
}
