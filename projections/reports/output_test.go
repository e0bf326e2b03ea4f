package reports_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relais-health/relais/projections/reports"
)

func TestHighUtilizersCSVHasAHeaderAndOneLinePerRow(t *testing.T) {
	h := &history{}
	h.edVisit("", "pkA", 10, 2.25, "cardio").edVisit("", "pkA", 12, 1, "cardio").edVisit("c1", "pkC", 10, 2, "cardio")
	p := newProjection(t, h.evs)
	tests := []struct {
		name      string
		q         reports.Query
		wantIdent string
	}{
		{"the archivist's list names the non-client", reports.Query{IncludeIdentifiers: true}, "ID-pkA"},
		{"anyone else's list has no identifier", reports.Query{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := reports.WriteHighUtilizersCSV(&buf, p.HighUtilizers(tc.q)); err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(&buf).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 3 || strings.Join(recs[0], ",") != "rank,client_id,patient_key,visits,ed_hours,last_visit,enrolled,identifier_authority,identifier_value" {
				t.Fatalf("csv %q", recs)
			}
			if got := strings.Join(recs[1][:7], ","); got != "1,,pkA,2,3.3,2024-12-22T00:00:00Z,false" {
				t.Fatalf("first row %q", got)
			}
			if recs[1][8] != tc.wantIdent || recs[2][1] != "c1" || recs[2][8] != "" {
				t.Fatalf("rows %q", recs[1:])
			}
		})
	}
}

func TestOutcomesCSVAndJSON(t *testing.T) {
	o := newProjection(t, programme().evs).Outcomes(reports.OutcomeQuery{AsOf: end})
	var buf bytes.Buffer
	if err := reports.WriteOutcomesCSV(&buf, o); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(recs) != 4 || recs[0][0] != "client_id" || recs[3][0] != "c3" || recs[3][8] != "true" || recs[3][9] != "73" || recs[3][10] != "5" {
		t.Fatalf("outcomes csv %q (%v)", recs, err)
	}
	buf.Reset()
	if err := reports.WriteCohortsCSV(&buf, o); err != nil {
		t.Fatal(err)
	}
	recs, err = csv.NewReader(&buf).ReadAll()
	if err != nil || len(recs) != 4 || recs[3][0] != "all" || recs[3][1] != "Tous" || recs[3][8] != "-65" {
		t.Fatalf("cohorts csv %q (%v)", recs, err)
	}
	b, err := json.Marshal(o)
	if err != nil || !strings.Contains(string(b), `"visits_12m":5`) || !strings.Contains(string(b), `"prorated":true`) {
		t.Fatalf("json %s (%v)", b, err)
	}
}

// element is what the SVG test looks at in each element.
type element struct {
	name  string
	attrs map[string]string
	text  string
}

func parseSVG(t *testing.T, b []byte) []element {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	var out []element
	var stack []int
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch x := tok.(type) {
		case xml.StartElement:
			e := element{name: x.Name.Local, attrs: map[string]string{}}
			if len(out) == 0 && (x.Name.Space != "http://www.w3.org/2000/svg" || x.Name.Local != "svg") {
				t.Fatalf("root element is %v", x.Name)
			}
			for _, a := range x.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			out = append(out, e)
			stack = append(stack, len(out)-1)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				out[stack[len(stack)-1]].text += string(x)
			}
		}
	}
	return out
}

func TestOutcomesSVGIsAStandaloneChartWithBarsLabelsAndLegend(t *testing.T) {
	o := newProjection(t, programme().evs).Outcomes(reports.OutcomeQuery{AsOf: end})
	tests := []struct {
		name   string
		o      reports.Outcomes
		metric reports.Metric
		bars   int
		texts  []string
		values map[string]string // "cohort/class" -> data-value
	}{
		{
			name: "visits per cohort and for all, before next to after",
			o:    o, metric: reports.MetricVisits, bars: 6,
			texts: []string{"Visites à l'urgence avant et après l'inscription", "ED visits before and after enrolment",
				"Visites à l'urgence / ED visits", "Cohorte (semestre d'inscription) / Cohort (enrolment half-year)",
				"Avant l'inscription (12 mois) / Before enrolment (12 months)", "annualisé", "S2 2023", "H2 2023", "Tous", "All", "n = 3 · -65 %"},
			values: map[string]string{"2023-H2/before": "14", "2023-H2/after": "2", "2024-H2/after": "5", "all/before": "20", "all/after": "7"},
		},
		{
			name: "hours in the ED",
			o:    o, metric: reports.MetricEDHours, bars: 6,
			texts:  []string{"Heures à l'urgence avant et après l'inscription", "Hours in the ED before and after enrolment", "Heures à l'urgence / Hours in the ED"},
			values: map[string]string{"all/before": "58", "2024-H2/after": "20"},
		},
		{
			name: "no client yet still gives a valid chart that says so",
			o:    newProjection(t, nil).Outcomes(reports.OutcomeQuery{AsOf: end}), metric: reports.MetricVisits, bars: 2,
			texts: []string{"Aucun client inscrit / No enrolled client"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := reports.WriteOutcomesSVG(&buf, tc.o, tc.metric); err != nil {
				t.Fatal(err)
			}
			els := parseSVG(t, buf.Bytes())
			var all strings.Builder
			bars := 0
			cohort := ""
			for _, e := range els {
				all.WriteString(e.text + "\n")
				if e.name == "g" && e.attrs["data-cohort"] != "" {
					cohort = e.attrs["data-cohort"]
				}
				if e.name == "rect" && strings.HasPrefix(e.attrs["class"], "bar ") {
					bars++
					key := cohort + "/" + strings.TrimPrefix(e.attrs["class"], "bar ")
					if want, ok := tc.values[key]; ok && e.attrs["data-value"] != want {
						t.Errorf("bar %s is %s, want %s", key, e.attrs["data-value"], want)
					}
					if e.attrs["height"] == "" || strings.HasPrefix(e.attrs["height"], "-") {
						t.Errorf("bar %s has height %q", key, e.attrs["height"])
					}
				}
			}
			if bars != tc.bars {
				t.Fatalf("%d bars, want %d", bars, tc.bars)
			}
			for _, w := range tc.texts {
				if !strings.Contains(all.String(), w) {
					t.Errorf("chart lacks %q", w)
				}
			}
			if dir := os.Getenv("RELAIS_SVG_OUT"); dir != "" {
				os.WriteFile(filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".svg"), buf.Bytes(), 0o644) //nolint:errcheck
			}
		})
	}
}
