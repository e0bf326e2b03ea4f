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
	"time"

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
	// c3, enrolled 73 days before: follow-up too short, no rate.
	if err != nil || len(recs) != 4 || recs[0][0] != "client_id" || recs[3][0] != "c3" || recs[3][8] != "true" || recs[3][9] != "73" ||
		recs[3][10] != "0" || recs[0][14] != "follow_up_too_short" || recs[3][14] != "true" || recs[1][14] != "false" {
		t.Fatalf("outcomes csv %q (%v)", recs, err)
	}
	buf.Reset()
	if err := reports.WriteCohortsCSV(&buf, o); err != nil {
		t.Fatal(err)
	}
	recs, err = csv.NewReader(&buf).ReadAll()
	if err != nil || len(recs) != 4 || recs[3][0] != "all" || recs[3][1] != "Tous" || recs[3][8] != "-85.7" ||
		recs[0][14] != "followed" || recs[0][15] != "follow_up_too_short" || recs[3][14] != "2" || recs[3][15] != "1" {
		t.Fatalf("cohorts csv %q (%v)", recs, err)
	}
	b, err := json.Marshal(o)
	if err != nil || !strings.Contains(string(b), `"follow_up_too_short":true`) || !strings.Contains(string(b), `"prorated":true`) ||
		!strings.Contains(string(b), `"min_follow_up_days":90`) {
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
	p := newProjection(t, programme().evs)
	o := p.Outcomes(reports.OutcomeQuery{AsOf: end})
	rated := p.Outcomes(reports.OutcomeQuery{AsOf: end, MinFollowUp: 60 * 24 * time.Hour})
	tests := []struct {
		name   string
		o      reports.Outcomes
		metric reports.Metric
		opts   []reports.SVGOption
		bars   int
		texts  []string
		absent []string
		values map[string]string // "cohort/class" -> data-value
	}{
		{
			name: "in French by default, the cohort followed too short says so instead of bars",
			o:    o, metric: reports.MetricVisits, bars: 4,
			texts: []string{"Visites à l'urgence avant et après l'inscription", "Cohorte (semestre d'inscription)",
				"Après l'inscription : clients suivis au moins 90 jours", "Avant l'inscription (12 mois)",
				"Suivi insuffisant", "suivi insuffisant : 1", "S2 2023", "Tous", "n = 2 · -85.7 %"},
			absent: []string{"ED visits", "Before", "H2 2023"},
			values: map[string]string{"2023-H2/before": "14", "2023-H2/after": "2", "all/before": "14", "all/after": "2"},
		},
		{
			name: "in English when asked",
			o:    o, metric: reports.MetricVisits, opts: []reports.SVGOption{reports.InLanguage("en")}, bars: 4,
			texts: []string{"ED visits before and after enrolment", "Cohort (enrolment half-year)", "After enrolment: clients followed at least 90 days",
				"Before enrolment (12 months)", "Follow-up too short", "follow-up too short: 1", "H2 2023", "All", "n = 2 · -85.7%"},
			absent: []string{"Visites", "Avant", "S2 2023", "Tous"},
		},
		{
			name: "every client followed long enough: bars everywhere, annualized noted",
			o:    rated, metric: reports.MetricVisits, bars: 6,
			texts:  []string{"Après l'inscription : clients suivis au moins 60 jours", "annualisé si suivi < 1 an", "(1 annualisé)", "n = 3 · -65 %"},
			absent: []string{"Suivi insuffisant", "suivi insuffisant"},
			values: map[string]string{"2024-H2/after": "5", "all/before": "20", "all/after": "7"},
		},
		{
			name: "hours in the ED",
			o:    rated, metric: reports.MetricEDHours, bars: 6,
			texts:  []string{"Heures à l'urgence avant et après l'inscription"},
			values: map[string]string{"all/before": "58", "2024-H2/after": "20"},
		},
		{
			name: "no client yet still gives a valid chart that says so",
			o:    newProjection(t, nil).Outcomes(reports.OutcomeQuery{AsOf: end}), metric: reports.MetricVisits, bars: 2,
			texts: []string{"Aucun client inscrit"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := reports.WriteOutcomesSVG(&buf, tc.o, tc.metric, tc.opts...); err != nil {
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
			for _, w := range tc.absent {
				if strings.Contains(all.String(), w) {
					t.Errorf("chart has %q", w)
				}
			}
			if dir := os.Getenv("RELAIS_SVG_OUT"); dir != "" {
				os.WriteFile(filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".svg"), buf.Bytes(), 0o644) //nolint:errcheck
			}
		})
	}
}
