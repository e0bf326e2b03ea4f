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

// SVGOption sets how WriteOutcomesSVG draws.
type SVGOption func(*svgOptions)

type svgOptions struct{ en bool }

// InLanguage writes the chart's text in lang: "en" (or "en-…") for
// English, anything else (the default) for French (fr-CA).
func InLanguage(lang string) SVGOption {
	return func(o *svgOptions) { o.en = lang == "en" || len(lang) > 3 && lang[:3] == "en-" }
}

// words is the chart's text in one language.
type words struct {
	visits, hours, title, asOf, minFollowUp, before, after, afterAnnualized, cohortAxis,
	annualized, annualizedMany, tooShort, tooShortCount, none, percent string
	label func(Label) string
}

var (
	wordsFR = words{visits: "Visites à l'urgence", hours: "Heures à l'urgence", title: "%s avant et après l'inscription",
		asOf: "Au %s · 12 mois avant et 12 mois après l'inscription", minFollowUp: "Après l'inscription : clients suivis au moins %s jours",
		before: "Avant l'inscription (12 mois)", after: "Après l'inscription (12 mois)",
		afterAnnualized: "Après l'inscription (12 mois, annualisé si suivi < 1 an)", cohortAxis: "Cohorte (semestre d'inscription)",
		annualized: "(%d annualisé)", annualizedMany: "(%d annualisés)", tooShort: "Suivi insuffisant",
		tooShortCount: "suivi insuffisant : %d", none: "Aucun client inscrit", percent: " %",
		label: func(l Label) string { return l.FR }}
	wordsEN = words{visits: "ED visits", hours: "Hours in the ED", title: "%s before and after enrolment",
		asOf: "As of %s · 12 months before and 12 months after enrolment", minFollowUp: "After enrolment: clients followed at least %s days",
		before: "Before enrolment (12 months)", after: "After enrolment (12 months)",
		afterAnnualized: "After enrolment (12 months, annualized if followed < 1 year)", cohortAxis: "Cohort (enrolment half-year)",
		annualized: "(%d annualized)", annualizedMany: "(%d annualized)", tooShort: "Follow-up too short",
		tooShortCount: "follow-up too short: %d", none: "No enrolled client", percent: "%",
		label: func(l Label) string { return l.EN }}
)

// WriteOutcomesSVG draws the outcomes as a standalone SVG bar chart: for
// each enrolment cohort and for all clients, the metric in the 12 months
// before enrolment next to the 12 months after (annualized for clients
// followed less than a year), over the clients followed at least the
// minimum; the others are counted under the cohort as "suivi insuffisant"
// (a cohort with none followed long enough shows that instead of bars).
// Title, axis labels, legend and values are in French unless InLanguage
// says English.
func WriteOutcomesSVG(w io.Writer, o Outcomes, m Metric, opts ...SVGOption) error {
	var opt svgOptions
	for _, f := range opts {
		f(&opt)
	}
	t := wordsFR
	if opt.en {
		t = wordsEN
	}
	what := t.visits
	if m == MetricEDHours {
		what = t.hours
	}
	groups := float64(max(len(o.Cohorts), 1))
	l := layout{width: max(minWidth, chartLeft+chartRight+minGroupWidth*groups), height: chartTop + chartHeight + chartBottom}
	l.groupWidth = (l.right() - chartLeft) / groups
	l.top = niceCeil(maxValue(o.Cohorts, m) * 1.1)

	s := &svg{t: t}
	s.f(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %[1]s %[2]s" font-family="system-ui, 'Segoe UI', Helvetica, Arial, sans-serif" role="img" lang="%s">`+"\n",
		n(l.width), n(l.height), map[bool]string{false: "fr-CA", true: "en-CA"}[opt.en])
	title := fmt.Sprintf(t.title, what)
	s.f("<title>%s</title>\n", esc(title))
	s.f(`<rect x="0" y="0" width="%s" height="%s" fill="#ffffff"/>`+"\n", n(l.width), n(l.height))
	mid := n(l.width / 2)
	s.f(`<text x="%s" y="32" text-anchor="middle" font-size="18" font-weight="bold">%s</text>`+"\n", mid, esc(title))
	s.f(`<text x="%s" y="56" text-anchor="middle" font-size="12" fill="#444">%s</text>`+"\n", mid,
		esc(fmt.Sprintf(t.asOf, o.AsOf.Format("2006-01-02"))))
	if o.MinFollowUpDays > 0 {
		s.f(`<text class="min-follow-up" x="%s" y="74" text-anchor="middle" font-size="12" fill="#444">%s</text>`+"\n", mid,
			esc(fmt.Sprintf(t.minFollowUp, n(o.MinFollowUpDays))))
	}
	s.legend(o.Cohorts)
	s.axes(l, what)
	for i, k := range o.Cohorts {
		s.group(l, i, k, m)
	}
	if len(o.Cohorts) == 0 || o.Cohorts[len(o.Cohorts)-1].Clients == 0 {
		s.f(`<text x="%s" y="%s" text-anchor="middle" font-size="14" fill="#666">%s</text>`+"\n", mid, n(chartTop+chartHeight/2), esc(t.none))
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
	t   words
}

func (s *svg) f(format string, args ...any) {
	if s.err == nil {
		_, s.err = fmt.Fprintf(&s.buf, format, args...)
	}
}

func (s *svg) legend(cohorts []Cohort) {
	after := s.t.after
	for _, k := range cohorts {
		if k.Prorated > 0 {
			after = s.t.afterAnnualized
		}
	}
	s.f(`<g class="legend" font-size="12">` + "\n")
	s.f(`<rect x="%s" y="104" width="14" height="12" fill="%s"/><text x="%s" y="115">%s</text>`+"\n",
		n(chartLeft), colourBefore, n(chartLeft+20), esc(s.t.before))
	s.f(`<rect x="%s" y="121" width="14" height="12" fill="%s"/><text x="%s" y="132">%s</text>`+"\n",
		n(chartLeft), colourAfter, n(chartLeft+20), esc(after))
	s.f("</g>\n")
}

func (s *svg) axes(l layout, what string) {
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
		n(chartTop+chartHeight/2), esc(what))
	s.f(`<text class="axis-label" x="%s" y="%s" text-anchor="middle" font-size="13">%s</text>`+"\n",
		n((chartLeft+l.right())/2), n(l.bottom()+92), esc(s.t.cohortAxis))
}

func (s *svg) group(l layout, i int, k Cohort, m Metric) {
	before, after := float64(k.BeforeVisits), k.AfterVisits12
	if m == MetricEDHours {
		before, after = k.BeforeEDHours, k.AfterEDHours12
	}
	cx := chartLeft + l.groupWidth*(float64(i)+0.5)
	label := s.t.label(k.Label)
	s.f(`<g class="cohort" data-cohort="%s">`+"\n", esc(k.Cohort))
	if k.Followed == 0 && k.FollowUpTooShort > 0 {
		// Nobody to compare yet: say so where the bars would be.
		s.f(`<text class="too-short" x="%s" y="%s" text-anchor="middle" font-size="12" fill="#555">%s</text>`+"\n",
			n(cx), n(l.bottom()-chartHeight/4), esc(s.t.tooShort))
	} else {
		for j, b := range []struct {
			class, colour, name string
			v                   float64
		}{
			{"before", colourBefore, s.t.before, before},
			{"after", colourAfter, s.t.after, after},
		} {
			h := chartHeight * b.v / l.top
			x := cx - barWidth - barGap/2 + float64(j)*(barWidth+barGap)
			s.f(`<rect class="bar %s" data-value="%s" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>`+"\n",
				b.class, n(b.v), n(x), n(l.bottom()-h), n(barWidth), n(h), b.colour, esc(label+" — "+b.name+" : "+n(b.v)))
			s.f(`<text x="%s" y="%s" text-anchor="middle" font-size="11">%s</text>`+"\n", n(x+barWidth/2), n(l.bottom()-h-5), n(b.v))
		}
	}
	y := l.bottom()
	s.f(`<text x="%s" y="%s" text-anchor="middle" font-size="12" font-weight="bold">%s</text>`+"\n", n(cx), n(y+18), esc(label))
	note := "n = " + strconv.Itoa(k.Followed)
	if k.BeforeVisits > 0 && m == MetricVisits {
		note += " · " + n(k.ChangePercent) + s.t.percent
	}
	s.f(`<text x="%s" y="%s" text-anchor="middle" font-size="10" fill="#555">%s</text>`+"\n", n(cx), n(y+33), esc(note))
	line := y + 47
	if k.Prorated > 0 {
		f := s.t.annualized
		if k.Prorated > 1 {
			f = s.t.annualizedMany
		}
		s.f(`<text x="%s" y="%s" text-anchor="middle" font-size="10" fill="#555">%s</text>`+"\n", n(cx), n(line), esc(fmt.Sprintf(f, k.Prorated)))
		line += 14
	}
	if k.FollowUpTooShort > 0 {
		s.f(`<text class="too-short-count" x="%s" y="%s" text-anchor="middle" font-size="10" fill="#555">%s</text>`+"\n", n(cx), n(line),
			esc(fmt.Sprintf(s.t.tooShortCount, k.FollowUpTooShort)))
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
