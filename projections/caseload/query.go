package caseload

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"
)

// Caseload is one case manager's load at an instant.
type Caseload struct {
	StaffID string    `json:"staff_id"`
	AsOf    time.Time `json:"as_of"`
	// Active counts the clients assigned to the case manager whose case is
	// not closed; Clients lists them, those not reached for the longest
	// first.
	Active  int          `json:"active"`
	Clients []ClientLoad `json:"clients"`
	// NewByPeriod counts the clients first assigned to the case manager in
	// each half-year, from their first to the one holding AsOf.
	NewByPeriod          []PeriodCount `json:"new_by_period"`
	OpenObjectives       int           `json:"open_objectives"`
	UnacknowledgedAlerts int           `json:"unacknowledged_alerts"`
	NeverContacted       int           `json:"never_contacted"`
}

// ClientLoad is one active client in a caseload.
type ClientLoad struct {
	ClientID    string    `json:"client_id"`
	AssignedAt  time.Time `json:"assigned_at"`
	PivotWorker string    `json:"pivot_worker,omitempty"`
	Enrolled    bool      `json:"enrolled"`
	EnrolledAt  time.Time `json:"enrolled_at,omitzero"`
	// LastContact is the last time any staff member reached the client.
	LastContact    time.Time `json:"last_contact,omitzero"`
	NeverContacted bool      `json:"never_contacted,omitempty"`
	// SinceContact is AsOf minus LastContact (zero if never contacted);
	// DaysSinceContact the same in whole days. In JSON days_since_contact
	// is null when never contacted (MarshalJSON): 0 would read "today".
	SinceContact         time.Duration `json:"-"`
	DaysSinceContact     int           `json:"days_since_contact"`
	OpenObjectives       int           `json:"open_objectives"`
	UnacknowledgedAlerts int           `json:"unacknowledged_alerts"`
}

// MarshalJSON writes days_since_contact as null for a client never
// contacted.
func (l ClientLoad) MarshalJSON() ([]byte, error) {
	type plain ClientLoad
	out := struct {
		plain
		DaysSinceContact *int `json:"days_since_contact"`
	}{plain: plain(l)}
	if !l.NeverContacted {
		out.DaysSinceContact = &l.DaysSinceContact
	}
	return json.Marshal(out)
}

// PeriodCount is a count for a half-year, labelled like "2025-H1".
type PeriodCount struct {
	Period string    `json:"period"`
	Start  time.Time `json:"start"`
	Count  int       `json:"count"`
}

// Caseload returns staffID's caseload as of now (an unknown staff member
// has an empty one).
func (p *Projection) Caseload(staffID string, now time.Time) (cl Caseload) {
	p.sh.View(func(st *state) { cl = p.caseload(st, staffID, now, st.alertsByStaff()) })
	return cl
}

// Has reports whether staffID is a case manager the caseload knows:
// registered with that role, or ever assigned a client.
func (p *Projection) Has(staffID string) (known bool) {
	p.sh.View(func(st *state) { known = st.CaseManagers[staffID] || len(st.Taken[staffID]) > 0 })
	return known
}

// All returns the caseload of every case manager (registered with that
// role or ever assigned a client), by staff id.
func (p *Projection) All(now time.Time) (out []Caseload) {
	p.sh.View(func(st *state) {
		ids := map[string]bool{}
		for id := range st.CaseManagers {
			ids[id] = true
		}
		for id := range st.Taken {
			ids[id] = true
		}
		byStaff := st.alertsByStaff()
		out = make([]Caseload, 0, len(ids))
		for _, id := range sortedKeys(ids) {
			out = append(out, p.caseload(st, id, now, byStaff))
		}
	})
	return out
}

// alertsByStaff counts pending alerts per staff member (the recipient and
// anyone it was escalated to) and per client of theirs.
func (s *state) alertsByStaff() map[string]map[string]int {
	out := map[string]map[string]int{}
	for _, a := range s.Pending {
		for i, who := range append([]string{a.Recipient}, a.EscalatedTo...) {
			if i > 0 && who == a.Recipient {
				continue
			}
			m := out[who]
			if m == nil {
				m = map[string]int{}
				out[who] = m
			}
			m[""]++
			if a.ClientID != "" {
				m[a.ClientID]++
			}
		}
	}
	return out
}

func (p *Projection) caseload(st *state, staffID string, now time.Time, alerts map[string]map[string]int) Caseload {
	cl := Caseload{StaffID: staffID, AsOf: now, Clients: []ClientLoad{}, UnacknowledgedAlerts: alerts[staffID][""]}
	for id, c := range st.Clients {
		if c.CaseManager != staffID || c.Closed {
			continue
		}
		l := ClientLoad{ClientID: id, AssignedAt: c.AssignedAt, PivotWorker: c.PivotWorker,
			Enrolled: !c.EnrolledAt.IsZero(), EnrolledAt: c.EnrolledAt, LastContact: c.LastContact,
			OpenObjectives: len(c.Open), UnacknowledgedAlerts: alerts[staffID][id]}
		if c.LastContact.IsZero() {
			l.NeverContacted = true
			cl.NeverContacted++
		} else if d := now.Sub(c.LastContact); d > 0 {
			l.SinceContact, l.DaysSinceContact = d, int(d/(24*time.Hour))
		}
		cl.Clients = append(cl.Clients, l)
		cl.OpenObjectives += l.OpenObjectives
	}
	cl.Active = len(cl.Clients)
	sort.Slice(cl.Clients, func(i, j int) bool {
		a, b := cl.Clients[i], cl.Clients[j]
		if a.NeverContacted != b.NeverContacted {
			return a.NeverContacted
		}
		if !a.LastContact.Equal(b.LastContact) {
			return a.LastContact.Before(b.LastContact)
		}
		return a.ClientID < b.ClientID
	})
	cl.NewByPeriod = p.periods(st.Taken[staffID], now)
	return cl
}

// periods counts first assignments per half-year, with every half-year
// from the first one to the one holding now (or the last one, if later).
func (p *Projection) periods(taken map[string]time.Time, now time.Time) []PeriodCount {
	if len(taken) == 0 {
		return []PeriodCount{}
	}
	counts := map[time.Time]int{}
	var first, last time.Time
	for _, at := range taken {
		s := halfStart(at, p.cfg.Location)
		counts[s]++
		if first.IsZero() || s.Before(first) {
			first = s
		}
		if s.After(last) {
			last = s
		}
	}
	if n := halfStart(now, p.cfg.Location); n.After(last) {
		last = n
	}
	var out []PeriodCount
	for s := first; !s.After(last); s = s.AddDate(0, 6, 0) {
		out = append(out, PeriodCount{Period: halfLabel(s), Start: s, Count: counts[s]})
	}
	return out
}

// halfStart is the start of the half-year (1 January or 1 July, local
// midnight) holding t.
func halfStart(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	m := time.January
	if t.Month() >= time.July {
		m = time.July
	}
	return time.Date(t.Year(), m, 1, 0, 0, 0, 0, loc)
}

func halfLabel(s time.Time) string {
	h := 1
	if s.Month() >= time.July {
		h = 2
	}
	return fmt.Sprintf("%d-H%d", s.Year(), h)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
