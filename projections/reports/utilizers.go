package reports

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/internal/csvsafe"
)

// ReasonPrefix marks an exclusion that matches the start of the reason text
// (case-insensitive) rather than the reason category: "reason:grossesse".
const ReasonPrefix = "reason:"

// Query asks for the high-utilizer list.
type Query struct {
	// N is how many rows (default 200).
	N int
	// Window is how far back from End visits count (default: the 12
	// calendar months before End).
	Window time.Duration
	// End is the instant the window ends, exclusive (default Config.Now).
	End time.Time
	// Exclude lists reason categories whose visits do not count (matched
	// case-insensitively), and reason-text prefixes written
	// ReasonPrefix+"text". Nil means Config.Exclude; an empty list
	// excludes nothing.
	Exclude []string
	// IncludeIdentifiers fills Row.Identifier for patients who are not
	// clients. Only the archivist's requests may set it.
	IncludeIdentifiers bool
}

// Row is one patient (or client) of the list.
type Row struct {
	Rank int `json:"rank"`
	// ClientID is set for a Relais client (all their patient keys
	// together); PatientKey otherwise.
	ClientID   string `json:"client_id,omitempty"`
	PatientKey string `json:"patient_key,omitempty"`
	Visits     int    `json:"visits"`
	// EDHours is the time spent in the ED over the counted visits (to
	// leaving or to admission), in hours to one decimal.
	EDHours   float64   `json:"ed_hours"`
	LastVisit time.Time `json:"last_visit"`
	// Enrolled: the client was enrolled in the programme at End.
	Enrolled bool `json:"enrolled"`
	// Identifier is the hospital's identifier of a non-client, for the
	// archivist only (Query.IncludeIdentifiers).
	Identifier *events.Identifier `json:"identifier,omitempty"`
}

// tally accumulates one row.
type tally struct {
	id        string
	client    bool
	visits    int
	seconds   int64
	last      int64
	ident     *events.Identifier
	enrolment *client
}

// HighUtilizers ranks patients by ED visits (registrations not cancelled,
// excluded reasons left out) whose arrival falls in [End-Window, End),
// grouping a client's patient keys together. Ties are broken by ED hours,
// then by the most recent visit, then by id, so the list is deterministic.
func (p *Projection) HighUtilizers(q Query) []Row {
	q = p.defaults(q)
	from := q.End.UTC().AddDate(-1, 0, 0)
	if q.Window > 0 {
		from = q.End.Add(-q.Window)
	}
	var rows []Row
	p.sh.View(func(st *state) { rows = rank(st.groups(from.Unix(), q.End.Unix(), q.Exclude), q) })
	return rows
}

// groups tallies the counted visits arriving in [lo, hi) per client, or
// per patient key for people who are not clients.
func (s *state) groups(lo, hi int64, exclude []string) map[string]*tally {
	skip := s.excluded(exclude)
	groups := map[string]*tally{}
	for key, pt := range s.Patients {
		var n int
		var secs, last int64
		for i := range pt.Visits {
			v := &pt.Visits[i]
			if !v.counted() || v.Arrived < lo || v.Arrived >= hi || skip(v) {
				continue
			}
			n++
			secs += v.edSeconds()
			last = max(last, v.Arrived)
		}
		if n == 0 {
			continue
		}
		gid := "k" + key // clients and patient keys never share a group
		if pt.Client != "" {
			gid = "c" + pt.Client
		}
		g := groups[gid]
		if g == nil {
			g = &tally{id: key, ident: pt.Ident}
			if pt.Client != "" {
				g.id, g.client, g.enrolment = pt.Client, true, s.Clients[pt.Client]
			}
			groups[gid] = g
		}
		g.visits += n
		g.seconds += secs
		g.last = max(g.last, last)
	}
	return groups
}

func rank(groups map[string]*tally, q Query) []Row {
	all := make([]*tally, 0, len(groups))
	for _, g := range groups {
		all = append(all, g)
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		switch {
		case a.visits != b.visits:
			return a.visits > b.visits
		case a.seconds != b.seconds:
			return a.seconds > b.seconds
		case a.last != b.last:
			return a.last > b.last
		case a.id != b.id:
			return a.id < b.id
		}
		return a.client && !b.client
	})
	all = all[:min(q.N, len(all))]
	end := q.End.Unix()
	rows := make([]Row, len(all))
	for i, g := range all {
		r := Row{Rank: i + 1, Visits: g.visits, EDHours: hours(g.seconds), LastVisit: time.Unix(g.last, 0).UTC()}
		if g.client {
			r.ClientID = g.id
			r.Enrolled = g.enrolment != nil && g.enrolment.enrolledAt(end)
		} else {
			r.PatientKey = g.id
			if q.IncludeIdentifiers && g.ident != nil {
				id := *g.ident
				r.Identifier = &id
			}
		}
		rows[i] = r
	}
	return rows
}

func (p *Projection) defaults(q Query) Query {
	if q.N <= 0 {
		q.N = 200
	}
	if q.End.IsZero() {
		q.End = p.cfg.Now()
	}
	if q.Exclude == nil {
		q.Exclude = p.cfg.Exclude
	}
	return q
}

// excluded compiles an exclusion list against the interned tables.
func (s *state) excluded(rules []string) func(*visit) bool {
	cats := make([]bool, len(s.Categories))
	reasons := make([]bool, len(s.Reasons))
	for _, r := range rules {
		if prefix, ok := strings.CutPrefix(r, ReasonPrefix); ok {
			prefix = strings.ToLower(strings.TrimSpace(prefix))
			for i, text := range s.Reasons {
				if i > 0 && prefix != "" && strings.HasPrefix(strings.ToLower(text), prefix) {
					reasons[i] = true
				}
			}
			continue
		}
		for i, c := range s.Categories {
			if i > 0 && strings.EqualFold(c, strings.TrimSpace(r)) {
				cats[i] = true
			}
		}
	}
	return func(v *visit) bool { return cats[v.Category] || reasons[v.Reason] }
}

func hours(seconds int64) float64 { return math.Round(float64(seconds)/360) / 10 }

// WriteHighUtilizersCSV writes the list as CSV with a header row; the
// identifier columns are empty unless the rows carry identifiers.
func WriteHighUtilizersCSV(w io.Writer, rows []Row) error {
	cw := csvsafe.NewWriter(w)
	if err := cw.Write([]string{"rank", "client_id", "patient_key", "visits", "ed_hours", "last_visit", "enrolled",
		"identifier_authority", "identifier_value"}); err != nil {
		return fmt.Errorf("write high utilizers csv: %w", err)
	}
	for _, r := range rows {
		var auth, val string
		if r.Identifier != nil {
			auth, val = r.Identifier.Authority, r.Identifier.Value
		}
		rec := []string{strconv.Itoa(r.Rank), r.ClientID, r.PatientKey, strconv.Itoa(r.Visits),
			strconv.FormatFloat(r.EDHours, 'f', 1, 64), r.LastVisit.Format(time.RFC3339), strconv.FormatBool(r.Enrolled), auth, val}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write high utilizers csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write high utilizers csv: %w", err)
	}
	return nil
}
