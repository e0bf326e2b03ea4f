package events

import (
	"bytes"
	"unicode/utf8"
)

// Members calls fn with the key and raw value of each member of the JSON
// object data, in order, while fn returns true. It reads canonical JSON
// only (what Canonical writes: no whitespace; keys must be plain strings,
// see PlainString) and
// reports false for anything else, or when fn stopped it: the caller then
// decodes the payload the ordinary way. Projections use it to read the
// few fields they need of a stored payload without decoding it.
func Members(data []byte, fn func(key, val []byte) bool) bool {
	if len(data) < 2 || data[0] != '{' {
		return false
	}
	if len(data) == 2 {
		return data[1] == '}'
	}
	i := 1
	for {
		kend := stringEnd(data, i)
		if kend < 0 || kend >= len(data) || data[kend] != ':' {
			return false
		}
		key, plain := PlainString(data[i:kend])
		if !plain {
			return false
		}
		vend := valueEnd(data, kend+1)
		if vend < 0 || vend >= len(data) || !fn(key, data[kend+1:vend]) {
			return false
		}
		switch data[vend] {
		case ',':
			i = vend + 1
		case '}':
			return vend == len(data)-1
		default:
			return false
		}
	}
}

// stringEnd returns the index just past the JSON string starting at i, or
// -1.
func stringEnd(data []byte, i int) int {
	if i >= len(data) || data[i] != '"' {
		return -1
	}
	for j := i + 1; ; j++ {
		k := bytes.IndexByte(data[j:], '"')
		if k < 0 {
			return -1
		}
		j += k
		escaped := false
		for b := j - 1; b > i && data[b] == '\\'; b-- {
			escaped = !escaped
		}
		if !escaped {
			return j + 1
		}
	}
}

// valueEnd returns the index just past the JSON value starting at i (a
// string, an object or array with what it holds, or a scalar), or -1.
func valueEnd(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		return stringEnd(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				if j = stringEnd(data, j); j < 0 {
					return -1
				}
				j--
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(data) && data[j] != ',' && data[j] != '}' && data[j] != ']' {
		if c := data[j]; c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			return -1 // not canonical
		}
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// PlainString returns the text of a JSON string value that holds no
// escape, no control character and only valid UTF-8 (what a decoder would
// return unchanged); false otherwise.
func PlainString(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, false
	}
	v = v[1 : len(v)-1]
	var seen byte
	for _, c := range v {
		seen |= plainClass[c]
	}
	return v, seen&notPlain == 0 && (seen&nonASCII == 0 || utf8.Valid(v))
}

const (
	notPlain = 1 << iota // a control character, quote or backslash
	nonASCII
)

// plainClass classes each byte for PlainString.
var plainClass = func() (t [256]byte) {
	for c := range t {
		switch {
		case c < 0x20 || c == '"' || c == '\\':
			t[c] = notPlain
		case c >= 0x80:
			t[c] = nonASCII
		}
	}
	return t
}()

// VisitHash identifies an encounter: the 64-bit FNV-1a hash of facility,
// a zero byte and visit number, from strings or bytes without converting
// them. Projections key visits by it (and check the visit they find).
func VisitHash[T string | []byte](facility, number T) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for i := range len(facility) {
		h = (h ^ uint64(facility[i])) * prime
	}
	h *= prime // the zero byte
	for i := range len(number) {
		h = (h ^ uint64(number[i])) * prime
	}
	return h
}
