package clientfile

import (
	"bytes"
	"unicode/utf8"
)

// members calls fn with the key and raw value of each member of the JSON
// object data, in order, while fn returns true. It reads canonical JSON
// only (no whitespace, keys without escapes) and reports false for
// anything else, or when fn stopped it: the caller then decodes the
// payload the ordinary way.
func members(data []byte, fn func(key, val []byte) bool) bool {
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
		key := data[i+1 : kend-1]
		if bytes.IndexByte(key, '\\') >= 0 {
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
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// plainString returns the text of a JSON string value that holds no
// escape, no control character and only valid UTF-8 (what a decoder would
// return unchanged).
func plainString(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, false
	}
	v = v[1 : len(v)-1]
	ascii := true
	for _, c := range v {
		switch {
		case c < 0x20 || c == '\\' || c == '"':
			return nil, false
		case c >= 0x80:
			ascii = false
		}
	}
	return v, ascii || utf8.Valid(v)
}
