// Package csvsafe writes CSV that is safe to open in a spreadsheet. A cell
// that starts with = + - @, a tab or a carriage return is read by Excel,
// LibreOffice and Google Sheets as a formula (=HYPERLINK(...), a DDE call):
// such a cell is neutralized by a leading single quote, as the OWASP "CSV
// injection" guidance recommends. Every CSV export of Relais goes through it,
// because cells carry what outside systems sent (a hospital's PID-3 value, a
// name), not only what Relais computed.
//
// A plain decimal number ("-3", "-12.5", "+4") is left as it is: a
// spreadsheet reads it as a number and never as a formula, and quoting it
// would turn every negative change in a report into text that no longer
// sums. Anything else that starts with a dangerous character is quoted,
// "-3+cmd|' /C calc'!A0" included.
package csvsafe

import (
	"encoding/csv"
	"io"
)

// Cell returns s as a spreadsheet will show it and never evaluate it: s
// itself, or s behind a single quote when it would start a formula.
func Cell(s string) string {
	if s == "" || !dangerous(s[0]) || isNumber(s) {
		return s
	}
	return "'" + s
}

// Record neutralizes every cell of rec (a new slice; rec is not changed).
func Record(rec []string) []string {
	out := make([]string, len(rec))
	for i, c := range rec {
		out[i] = Cell(c)
	}
	return out
}

// dangerous reports whether a cell starting with b is read as a formula.
func dangerous(b byte) bool {
	switch b {
	case '=', '+', '-', '@', '\t', '\r':
		return true
	}
	return false
}

// isNumber reports whether s is a plain decimal number: an optional sign,
// digits, and at most one decimal point followed by digits. No exponent, no
// "Inf" or "NaN": only what a spreadsheet can read as nothing but a number.
func isNumber(s string) bool {
	if s[0] == '-' || s[0] == '+' {
		s = s[1:]
	}
	digits, point := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !point && digits > 0 && i < len(s)-1:
			point = true
		default:
			return false
		}
	}
	return digits > 0
}

// Writer is an encoding/csv Writer whose every cell goes through Cell.
type Writer struct{ w *csv.Writer }

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: csv.NewWriter(w)} }

// Write writes one record, neutralized.
func (w *Writer) Write(rec []string) error { return w.w.Write(Record(rec)) }

// WriteAll writes every record, neutralized, and flushes.
func (w *Writer) WriteAll(recs [][]string) error {
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			return err
		}
	}
	w.w.Flush()
	return w.w.Error()
}

// Flush writes any buffered data to the underlying writer.
func (w *Writer) Flush() { w.w.Flush() }

// Error reports an error of a previous Write or Flush.
func (w *Writer) Error() error { return w.w.Error() }
