package reports

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/relais-health/relais/internal/csvsafe"
)

// OutcomeQuery asks for the programme's outcomes.
type OutcomeQuery struct {
	// AsOf is the instant of the report (default Config.Now): clients
	// enrolled later are left out, and the period after enrolment stops
	// there.
	AsOf time.Time
	// Exclude is as in Query (nil: Config.Exclude).
	Exclude []string
	// Programme keeps only clients enrolled in it ("" keeps all).
	Programme string
	// MinFollowUp is how long after enrolment a client must have been
	// followed (to AsOf) before an after-enrolment rate is reported for
	// them (0: Config.MinFollowUp, by default DefaultMinFollowUp). A client
	// followed less is counted as "follow-up too short": their visits since
	// enrolment are listed, but they are left out of the cohort's
	// before/after comparison, so one visit two minutes after enrolment is
	// never annualized into thousands.
	MinFollowUp time.Duration
}

// DefaultMinFollowUp is the follow-up after enrolment below which no
// after-enrolment rate is reported (90 days).
const DefaultMinFollowUp = 90 * 24 * time.Hour

// Outcomes compares ED use before and after enrolment.
type Outcomes struct {
	AsOf time.Time `json:"as_of"`
	// MinFollowUpDays is the minimum follow-up applied (OutcomeQuery.MinFollowUp).
	MinFollowUpDays float64         `json:"min_follow_up_days"`
	Clients         []ClientOutcome `json:"clients"`
	// Cohorts are the enrolment half-years, oldest first, then "all".
	Cohorts []Cohort `json:"cohorts"`
}

// ClientOutcome is one enrolled client's ED use around their (first)
// enrolment.
type ClientOutcome struct {
	ClientID   string    `json:"client_id"`
	Programme  string    `json:"programme,omitempty"`
	EnrolledAt time.Time `json:"enrolled_at"`
	Cohort     string    `json:"cohort"`
	// Before is the 12 months before enrolment; After the 12 months from
	// enrolment, or the time since when AsOf comes sooner (Prorated).
	Before Period `json:"before"`
	After  Period `json:"after"`
	// FollowUpTooShort: the client was enrolled less than the minimum
	// follow-up before AsOf (Outcomes.MinFollowUpDays): After.Visits and
	// After.EDHours say what happened so far, but no rate is reported
	// (After.Visits12 and After.EDHours12 are 0) and the client is not in
	// the cohort's comparison.
	FollowUpTooShort bool `json:"follow_up_too_short"`
	ObjectivesMet    int  `json:"objectives_met"`
	Objectives       int  `json:"objectives"`
}

// Period is the ED use over [From, To).
type Period struct {
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Visits  int       `json:"visits"`
	EDHours float64   `json:"ed_hours"`
	// Prorated: the period is shorter than 12 months (CoveredDays long)
	// and Visits12, EDHours12 scale it to 12 months; otherwise they equal
	// Visits and EDHours.
	Prorated    bool    `json:"prorated"`
	CoveredDays float64 `json:"covered_days"`
	Visits12    float64 `json:"visits_12m"`
	EDHours12   float64 `json:"ed_hours_12m"`
}

// Cohort totals the clients enrolled in one half-year (or all of them).
type Cohort struct {
	// Cohort is the half-year ("2024-H1") or "all".
	Cohort string `json:"cohort"`
	Label  Label  `json:"label"`
	// Clients counts the cohort's clients; FollowUpTooShort those followed
	// less than the minimum ("suivi insuffisant"), Followed the others.
	// Every total below (visits, hours, objectives, the change) is over the
	// Followed clients only, so before and after compare the same people;
	// Prorated counts those of them followed less than 12 months so far.
	Clients          int `json:"clients"`
	Followed         int `json:"followed"`
	FollowUpTooShort int `json:"follow_up_too_short"`
	Prorated         int `json:"prorated"`
	BeforeVisits     int `json:"before_visits"`
	AfterVisits      int `json:"after_visits"`
	// AfterVisits12 adds each client's visits per 12 months after
	// enrolment (prorated ones scaled): what compares with BeforeVisits.
	AfterVisits12  float64 `json:"after_visits_12m"`
	BeforeEDHours  float64 `json:"before_ed_hours"`
	AfterEDHours   float64 `json:"after_ed_hours"`
	AfterEDHours12 float64 `json:"after_ed_hours_12m"`
	ObjectivesMet  int     `json:"objectives_met"`
	Objectives     int     `json:"objectives"`
	// ChangePercent is AfterVisits12 against BeforeVisits, in percent
	// (negative: fewer visits); 0 when there were no visits before.
	ChangePercent float64 `json:"change_percent"`
}

// Label is a short label, French first, English second.
type Label struct {
	FR string `json:"fr"`
	EN string `json:"en"`
}

// acc accumulates one client's visits in a period.
type acc struct {
	from, to       int64
	visits         int
	seconds, fullS int64
}

// Outcomes computes, for every client enrolled by AsOf, the ED visits and
// hours in the 12 months before their first enrolment and in the 12
// months after it (prorated when enrolled less than a year before AsOf),
// their objectives met, and the totals per enrolment half-year and for all.
func (p *Projection) Outcomes(q OutcomeQuery) Outcomes {
	if q.AsOf.IsZero() {
		q.AsOf = p.cfg.Now()
	}
	if q.Exclude == nil {
		q.Exclude = p.cfg.Exclude
	}
	if q.MinFollowUp <= 0 {
		q.MinFollowUp = p.cfg.MinFollowUp
	}
	var out Outcomes
	p.sh.View(func(st *state) { out = p.outcomes(st, q) })
	return out
}

func (p *Projection) outcomes(st *state, q OutcomeQuery) Outcomes {
	asOf := q.AsOf.Unix()
	wins := st.windows(asOf, q.Programme)
	st.tally(wins, st.excluded(q.Exclude))
	out := Outcomes{AsOf: q.AsOf.UTC(), MinFollowUpDays: days(int64(q.MinFollowUp / time.Second)),
		Clients: make([]ClientOutcome, 0, len(wins))}
	minS := int64(q.MinFollowUp / time.Second)
	for id, w := range wins {
		c := st.Clients[id]
		co := ClientOutcome{ClientID: id, Programme: c.Programme, EnrolledAt: time.Unix(w.after.from, 0).UTC(),
			Before: w.before.period(), After: w.after.period()}
		if asOf-w.after.from < minS {
			co.FollowUpTooShort = true
			co.After.Visits12, co.After.EDHours12 = 0, 0
		}
		co.Cohort = halfYear(co.EnrolledAt, p.cfg.Location)
		for _, o := range c.Objectives {
			if o.Added <= asOf {
				co.Objectives++
				if o.Met != 0 && o.Met <= asOf {
					co.ObjectivesMet++
				}
			}
		}
		out.Clients = append(out.Clients, co)
	}
	sort.Slice(out.Clients, func(i, j int) bool {
		a, b := out.Clients[i], out.Clients[j]
		if !a.EnrolledAt.Equal(b.EnrolledAt) {
			return a.EnrolledAt.Before(b.EnrolledAt)
		}
		return a.ClientID < b.ClientID
	})
	out.Cohorts = cohorts(out.Clients)
	return out
}

// window is a client's two periods around their first enrolment.
type window struct{ before, after acc }

// windows returns the periods of every client enrolled by asOf (in
// programme, unless it is "").
func (s *state) windows(asOf int64, programme string) map[string]*window {
	wins := map[string]*window{}
	for id, c := range s.Clients {
		if len(c.Enrolments) == 0 || c.Enrolments[0].From > asOf || (programme != "" && c.Programme != programme) {
			continue
		}
		enrol := time.Unix(c.Enrolments[0].From, 0).UTC()
		from, full := enrol.AddDate(-1, 0, 0).Unix(), enrol.AddDate(1, 0, 0).Unix()
		wins[id] = &window{
			before: acc{from: from, to: enrol.Unix(), fullS: enrol.Unix() - from},
			after:  acc{from: enrol.Unix(), to: min(full, asOf), fullS: full - enrol.Unix()},
		}
	}
	return wins
}

// tally counts the clients' visits (all their patient keys) in their
// periods.
func (s *state) tally(wins map[string]*window, skip func(*visit) bool) {
	for _, pt := range s.Patients {
		w := wins[pt.Client]
		if pt.Client == "" || w == nil {
			continue
		}
		for i := range pt.Visits {
			v := &pt.Visits[i]
			if !v.counted() || skip(v) {
				continue
			}
			for _, a := range []*acc{&w.before, &w.after} {
				if v.Arrived >= a.from && v.Arrived < a.to {
					a.visits++
					a.seconds += v.edSeconds()
				}
			}
		}
	}
}

func (a acc) period() Period {
	p := Period{From: time.Unix(a.from, 0).UTC(), To: time.Unix(a.to, 0).UTC(), Visits: a.visits, EDHours: hours(a.seconds)}
	covered := max(a.to-a.from, 0)
	p.CoveredDays = days(covered)
	p.Visits12, p.EDHours12 = float64(a.visits), p.EDHours
	if covered < a.fullS {
		p.Prorated = true
		if covered > 0 {
			f := float64(a.fullS) / float64(covered)
			p.Visits12 = round2(float64(a.visits) * f)
			p.EDHours12 = round2(float64(a.seconds) * f / 3600)
		}
	}
	return p
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

// days is seconds as days, to a tenth.
func days(seconds int64) float64 { return math.Round(float64(seconds)/8640) / 10 }

// cohorts totals the clients (sorted by enrolment) per half-year, then all.
func cohorts(clients []ClientOutcome) []Cohort {
	var out []Cohort
	idx := map[string]int{}
	all := Cohort{Cohort: "all", Label: Label{FR: "Tous", EN: "All"}}
	for _, c := range clients {
		i, ok := idx[c.Cohort]
		if !ok {
			i = len(out)
			idx[c.Cohort] = i
			out = append(out, Cohort{Cohort: c.Cohort, Label: halfYearLabel(c.Cohort)})
		}
		out[i].add(c)
		all.add(c)
	}
	out = append(out, all)
	for i := range out {
		k := &out[i]
		k.AfterVisits12, k.AfterEDHours12 = round2(k.AfterVisits12), round2(k.AfterEDHours12)
		k.BeforeEDHours, k.AfterEDHours = round2(k.BeforeEDHours), round2(k.AfterEDHours)
		if k.BeforeVisits > 0 {
			k.ChangePercent = math.Round((k.AfterVisits12-float64(k.BeforeVisits))/float64(k.BeforeVisits)*1000) / 10
		}
	}
	return out
}

func (k *Cohort) add(c ClientOutcome) {
	k.Clients++
	if c.FollowUpTooShort {
		k.FollowUpTooShort++
		return
	}
	k.Followed++
	if c.After.Prorated {
		k.Prorated++
	}
	k.BeforeVisits += c.Before.Visits
	k.AfterVisits += c.After.Visits
	k.AfterVisits12 += c.After.Visits12
	k.BeforeEDHours += c.Before.EDHours
	k.AfterEDHours += c.After.EDHours
	k.AfterEDHours12 += c.After.EDHours12
	k.ObjectivesMet += c.ObjectivesMet
	k.Objectives += c.Objectives
}

// halfYear names the half-year holding t in loc: "2024-H1" or "2024-H2".
func halfYear(t time.Time, loc *time.Location) string {
	t = t.In(loc)
	h := 1
	if t.Month() >= time.July {
		h = 2
	}
	return fmt.Sprintf("%d-H%d", t.Year(), h)
}

// halfYearLabel labels "2024-H1" as "S1 2024" (semestre) / "H1 2024".
func halfYearLabel(c string) Label {
	if len(c) == 7 && c[4] == '-' && c[5] == 'H' {
		return Label{FR: "S" + c[6:] + " " + c[:4], EN: "H" + c[6:] + " " + c[:4]}
	}
	return Label{FR: c, EN: c}
}

// WriteOutcomesCSV writes one row per client with a header row.
func WriteOutcomesCSV(w io.Writer, o Outcomes) error {
	cw := csvsafe.NewWriter(w)
	cw.Write([]string{"client_id", "programme", "enrolled_at", "cohort", "before_visits", "before_ed_hours", //nolint:errcheck // checked by cw.Error
		"after_visits", "after_ed_hours", "after_prorated", "after_covered_days", "after_visits_12m", "after_ed_hours_12m",
		"objectives_met", "objectives", "follow_up_too_short"})
	for _, c := range o.Clients {
		cw.Write([]string{c.ClientID, c.Programme, c.EnrolledAt.Format(time.RFC3339), c.Cohort, //nolint:errcheck
			strconv.Itoa(c.Before.Visits), num(c.Before.EDHours), strconv.Itoa(c.After.Visits), num(c.After.EDHours),
			strconv.FormatBool(c.After.Prorated), num(c.After.CoveredDays), num(c.After.Visits12), num(c.After.EDHours12),
			strconv.Itoa(c.ObjectivesMet), strconv.Itoa(c.Objectives), strconv.FormatBool(c.FollowUpTooShort)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write outcomes csv: %w", err)
	}
	return nil
}

// WriteCohortsCSV writes one row per cohort (and "all") with a header row.
func WriteCohortsCSV(w io.Writer, o Outcomes) error {
	cw := csvsafe.NewWriter(w)
	cw.Write([]string{"cohort", "label_fr", "label_en", "clients", "prorated", "before_visits", "after_visits", //nolint:errcheck
		"after_visits_12m", "change_percent", "before_ed_hours", "after_ed_hours", "after_ed_hours_12m", "objectives_met", "objectives",
		"followed", "follow_up_too_short"})
	for _, k := range o.Cohorts {
		cw.Write([]string{k.Cohort, k.Label.FR, k.Label.EN, strconv.Itoa(k.Clients), strconv.Itoa(k.Prorated), //nolint:errcheck
			strconv.Itoa(k.BeforeVisits), strconv.Itoa(k.AfterVisits), num(k.AfterVisits12), num(k.ChangePercent),
			num(k.BeforeEDHours), num(k.AfterEDHours), num(k.AfterEDHours12), strconv.Itoa(k.ObjectivesMet), strconv.Itoa(k.Objectives),
			strconv.Itoa(k.Followed), strconv.Itoa(k.FollowUpTooShort)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write cohorts csv: %w", err)
	}
	return nil
}

func num(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
