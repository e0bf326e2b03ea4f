package reports

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
)

// Metric is what the outcomes chart compares.
type Metric int

// Metrics of the outcomes chart.
const (
	MetricVisits  Metric = iota // ED visits
	MetricEDHours               // hours spent in the ED
)

// Chart geometry, in SVG user units.
const (
	chartTop      = 150.0
	chartHeight   = 300.0
	chartLeft     = 90.0
	chartRight    = 30.0 // margin
	chartBottom   = 110.0
	minWidth      = 820.0
	minGroupWidth = 150.0
	barWidth      = 46.0
	barGap        = 8.0
	colourBefore  = "#9aa5b1"
	colourAfter   = "#1f6fb2"
)

// layout is the geometry of one chart.
type layout struct {
	width, height, groupWidth, top float64
}

func (l layout) bottom() float64 { return chartTop + chartHeight }
func (l layout) right() float64  { return l.width - chartRight }

// WriteOutcomesSVG draws the outcomes as a standalone SVG bar chart: for
// each enrolment cohort and for all clients, the metric in the 12 months
// before enrolment next to the 12 months after (annualized for clients
// followed less than a year), with title, axis labels, legend and values;
// every text French first, English second.
func WriteOutcomesSVG(w io.Writer, o Outcomes, m Metric) error {
	what := Label{"Visites à l'urgence", "ED visits"}
	if m == MetricEDHours {
		what = Label{"Heures à l'urgence", "Hours in the ED"}
	}
	groups := float64(max(len(o.Cohorts), 1))
	l := layout{width: max(minWidth, chartLeft+chartRight+minGroupWidth*groups), height: chartTop + chartHeight + chartBottom}
	l.groupWidth = (l.right() - chartLeft) / groups
	l.top = niceCeil(maxValue(o.Cohorts, m) * 1.1)

	s := &svg{}
	s.f(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %[1]s %[2]s" font-family="system-ui, 'Segoe UI', Helvetica, Arial, sans-serif" role="img">`+"\n",
		n(l.width), n(l.height))
	s.f("<title>%s</title>\n", esc(what.FR+" avant et après l'inscription / "+what.EN+" before and after enrolment"))
	s.f(`<rect x="0" y="0" width="%s" height="%s" fill="#ffffff"/>`+"\n", n(l.width), n(l.height))
	mid := n(l.width / 2)
	asOf := o.AsOf.Format("2006-01-02")
	s.f(`<text x="%s" y="30" text-anchor="middle" font-size="18" font-weight="bold">%s</text>`+"\n", mid, esc(what.FR+" avant et après l'inscription"))
	s.f(`<text x="%s" y="52" text-anchor="middle" font-size="15" font-style="italic">%s</text>`+"\n", mid, esc(what.EN+" before and after enrolment"))
	s.f(`<text x="%s" y="74" text-anchor="middle" font-size="12" fill="#444">%s</text>`+"\n", mid,
		esc("Au "+asOf+" · 12 mois avant et 12 mois après l'inscription"))
	s.f(`<text x="%s" y="90" text-anchor="middle" font-size="12" fill="#444" font-style="italic">%s</text>`+"\n", mid,
		esc("As of "+asOf+" · 12 months before and 12 months after enrolment"))
	s.legend(o.Cohorts)
	s.axes(l, what)
	for i, k := range o.Cohorts {
		s.group(l, i, k, m)
	}
	if len(o.Cohorts) == 0 || o.Cohorts[len(o.Cohorts)-1].Clients == 0 {
		s.f(`<text x="%s" y="%s" text-anchor="middle" font-size="14" fill="#666">%s</text>`+"\n", mid, n(chartTop+chartHeight/2),
			esc("Aucun client inscrit / No enrolled client"))
	}
	s.f("</svg>\n")
	if s.err != nil {
		return fmt.Errorf("write outcomes svg: %w", s.err)
	}
	if _, err := w.Write(s.buf.Bytes()); err != nil {
		return fmt.Errorf("write outcomes svg: %w", err)
	}
	return nil
}

type svg struct {
	buf bytes.Buffer
	err error
}

func (s *svg) f(format string, args ...any) {
	if s.err == nil {
		_, s.err = fmt.Fprintf(&s.buf, format, args...)
	}
}

func (s *svg) legend(cohorts []Cohort) {
	after := "Après l'inscription (12 mois) / After enrolment (12 months)"
	for _, k := range cohorts {
		if k.Prorated > 0 {
			after = "Après (12 mois, annualisé si suivi < 1 an) / After (12 months, annualized if followed < 1 year)"
		}
	}
	s.f(`<g class="legend" font-size="12">` + "\n")
	s.f(`<rect x="%s" y="104" width="14" height="12" fill="%s"/><text x="%s" y="115">%s</text>`+"\n",
		n(chartLeft), colourBefore, n(chartLeft+20), esc("Avant l'inscription (12 mois) / Before enrolment (12 months)"))
	s.f(`<rect x="%s" y="121" width="14" height="12" fill="%s"/><text x="%s" y="132">%s</text>`+"\n",
		n(chartLeft), colourAfter, n(chartLeft+20), esc(after))
	s.f("</g>\n")
}

func (s *svg) axes(l layout, what Label) {
	s.f(`<g class="axes" font-size="11" fill="#333">` + "\n")
	for i := 0; i <= 5; i++ {
		y := l.bottom() - chartHeight*float64(i)/5
		s.f(`<line x1="%s" y1="%s" x2="%s" y2="%[2]s" stroke="#e3e6ea"/>`+"\n", n(chartLeft), n(y), n(l.right()))
		s.f(`<text x="%s" y="%s" text-anchor="end">%s</text>`+"\n", n(chartLeft-8), n(y+4), n(l.top*float64(i)/5))
	}
	s.f(`<line x1="%s" y1="%s" x2="%[1]s" y2="%s" stroke="#333"/>`+"\n", n(chartLeft), n(chartTop), n(l.bottom()))
	s.f(`<line x1="%s" y1="%s" x2="%s" y2="%[2]s" stroke="#333"/>`+"\n", n(chartLeft), n(l.bottom()), n(l.right()))
	s.f("</g>\n")
	s.f(`<text class="axis-label" x="0" y="0" transform="translate(28 %s) rotate(-90)" text-anchor="middle" font-size="13">%s</text>`+"\n",
		n(chartTop+chartHeight/2), esc(what.FR+" / "+what.EN))
	s.f(`<text class="axis-label" x="%s" y="%s" text-anchor="middle" font-size="13">%s</text>`+"\n",
		n((chartLeft+l.right())/2), n(l.bottom()+92), esc("Cohorte (semestre d'inscription) / Cohort (enrolment half-year)"))
}

func (s *svg) group(l layout, i int, k Cohort, m Metric) {
	before, after := float64(k.BeforeVisits), k.AfterVisits12
	if m == MetricEDHours {
		before, after = k.BeforeEDHours, k.AfterEDHours12
	}
	cx := chartLeft + l.groupWidth*(float64(i)+0.5)
	s.f(`<g class="cohort" data-cohort="%s">`+"\n", esc(k.Cohort))
	for j, b := range []struct {
		class, colour, fr, en string
		v                     float64
	}{
		{"before", colourBefore, "Avant", "Before", before},
		{"after", colourAfter, "Après", "After", after},
	} {
		h := chartHeight * b.v / l.top
		x := cx - barWidth - barGap/2 + float64(j)*(barWidth+barGap)
		s.f(`<rect class="bar %s" data-value="%s" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>`+"\n",
			b.class, n(b.v), n(x), n(l.bottom()-h), n(barWidth), n(h), b.colour,
			esc(k.Label.FR+" — "+b.fr+" : "+n(b.v)+" / "+k.Label.EN+" — "+b.en+": "+n(b.v)))
		s.f(`<text x="%s" y="%s" text-anchor="middle" font-size="11">%s</text>`+"\n", n(x+barWidth/2), n(l.bottom()-h-5), n(b.v))
	}
	y := l.bottom()
	s.f(`<text x="%s" y="%s" text-anchor="middle" font-size="12" font-weight="bold">%s</text>`+"\n", n(cx), n(y+18), esc(k.Label.FR))
	s.f(`<text x="%s" y="%s" text-anchor="middle" font-size="11" font-style="italic">%s</text>`+"\n", n(cx), n(y+33), esc(k.Label.EN))
	note := "n = " + strconv.Itoa(k.Clients)
	if k.BeforeVisits > 0 && m == MetricVisits {
		note += " · " + n(k.ChangePercent) + " %"
	}
	s.f(`<text x="%s" y="%s" text-anchor="middle" font-size="10" fill="#555">%s</text>`+"\n", n(cx), n(y+49), esc(note))
	if k.Prorated > 0 {
		fr := " annualisé"
		if k.Prorated > 1 {
			fr += "s"
		}
		s.f(`<text x="%s" y="%s" text-anchor="middle" font-size="10" fill="#555">%s</text>`+"\n", n(cx), n(y+62),
			esc("("+strconv.Itoa(k.Prorated)+fr+" / annualized)"))
	}
	s.f("</g>\n")
}

func maxValue(cs []Cohort, m Metric) float64 {
	top := 0.0
	for _, k := range cs {
		if m == MetricEDHours {
			top = max(top, k.BeforeEDHours, k.AfterEDHours12)
		} else {
			top = max(top, float64(k.BeforeVisits), k.AfterVisits12)
		}
	}
	return top
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten (at least 5),
// so the five gridlines fall on round values.
func niceCeil(v float64) float64 {
	if v <= 5 {
		return 5
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, f := range []float64{1, 2, 2.5, 5} {
		if f*p >= v {
			return f * p
		}
	}
	return 10 * p
}

// n formats a number for SVG: at most two decimals, no trailing zeros.
func n(x float64) string {
	return strconv.FormatFloat(math.Round(x*100)/100, 'f', -1, 64)
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
