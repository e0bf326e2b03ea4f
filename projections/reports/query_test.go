package reports

import (
	"errors"
	"testing"
	"time"
)

func TestParseQuery(t *testing.T) {
	end := "2026-12-02T00:00:00Z"
	endT, _ := time.Parse(time.RFC3339, end)
	tests := []struct {
		name           string
		n, window, end string
		exclude        []string
		wantN          int
		wantWindow     time.Duration
		wantExclude    []string
		wantErr        bool
	}{
		{name: "nothing given keeps the defaults", wantExclude: nil},
		{name: "twelve calendar months back from the end", n: "200", window: "12m", end: end, wantN: 200, wantWindow: endT.Sub(endT.AddDate(-1, 0, 0))},
		{name: "a window as a duration", window: "4380h", wantWindow: 4380 * time.Hour},
		{name: "exclusion none means no exclusion", exclude: []string{"none"}, wantExclude: []string{}},
		{name: "exclusions are kept", exclude: []string{"obstetric", ""}, wantExclude: []string{"obstetric"}},
		{name: "a count that is not a positive number is refused", n: "-3", wantErr: true},
		{name: "a window that is neither months nor a duration is refused", window: "a year", wantErr: true},
		{name: "zero months is refused", window: "0m", wantErr: true},
		{name: "an end that is not RFC 3339 is refused", end: "2026-12-02", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := ParseQuery(tt.n, tt.window, tt.end, tt.exclude)
			if tt.wantErr {
				if !errors.Is(err, ErrBadQuery) {
					t.Fatalf("err = %v, want ErrBadQuery", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if q.N != tt.wantN || q.Window != tt.wantWindow || len(q.Exclude) != len(tt.wantExclude) || (tt.wantExclude == nil) != (q.Exclude == nil) {
				t.Fatalf("query %+v, want n %d window %v exclude %v", q, tt.wantN, tt.wantWindow, tt.wantExclude)
			}
			for i := range q.Exclude {
				if q.Exclude[i] != tt.wantExclude[i] {
					t.Fatalf("exclude %v, want %v", q.Exclude, tt.wantExclude)
				}
			}
		})
	}
}

func TestParseMinFollowUp(t *testing.T) {
	tests := []struct {
		name, in string
		want     time.Duration
		wantErr  bool
	}{
		{name: "nothing given is the default", in: "", want: 0},
		{name: "days", in: "90d", want: 90 * 24 * time.Hour},
		{name: "a duration", in: "36h", want: 36 * time.Hour},
		{name: "zero days is refused", in: "0d", wantErr: true},
		{name: "a negative duration is refused", in: "-5h", wantErr: true},
		{name: "words are refused", in: "three months", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMinFollowUp(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrBadQuery) {
					t.Fatalf("ParseMinFollowUp(%q) = %v, %v; want ErrBadQuery", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseMinFollowUp(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}
