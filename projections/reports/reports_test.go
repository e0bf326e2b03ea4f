package reports_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/projections/reports"
)

var (
	feed = events.Actor{ID: "hl7-HSTA", Role: events.RoleSystem}
	cm   = events.Actor{ID: "cm-1", Role: events.RoleCaseManager}
	// end is the instant the test reports end at.
	end = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
)

func daysBefore(d float64) time.Time { return end.Add(-time.Duration(d * float64(24*time.Hour))) }

// history builds events in order, positions from 1; times come from the
// payloads (or now, for facts without a time of their own).
type history struct {
	evs []events.Event
	n   int
}

func (h *history) add(p events.Payload, at time.Time) *history {
	actor := cm
	if strings.HasPrefix(p.EventType(), "ed.") || strings.HasPrefix(p.EventType(), "hospital.") {
		actor = feed
	}
	e := events.MustNew(p, actor, events.WithOccurredAt(at))
	e.Position = uint64(len(h.evs) + 1)
	h.evs = append(h.evs, e)
	return h
}

// edVisit adds an ED visit of hours hours, d days before end.
func (h *history) edVisit(client, key string, d, hrs float64, category string) *history {
	h.n++
	v := events.Visit{ClientID: client, PatientKey: key, Facility: "HSTA", VisitNumber: fmt.Sprintf("V%d", h.n)}
	if client == "" {
		v.Identifier = &events.Identifier{Authority: "RAMQ", Value: "ID-" + key}
	}
	arrived := daysBefore(d)
	h.add(&events.EDVisitStarted{Visit: v, ArrivedAt: arrived, Reason: "Motif " + category, ReasonCategory: category}, arrived)
	left := arrived.Add(time.Duration(hrs * float64(time.Hour)))
	return h.add(&events.EDVisitEnded{Visit: v, EndedAt: left, Disposition: "home"}, left)
}

func (h *history) lastVisit() events.Visit {
	for i := len(h.evs) - 1; i >= 0; i-- {
		if p, err := h.evs[i].Payload(); err == nil {
			if s, ok := p.(*events.EDVisitStarted); ok {
				return s.Visit
			}
		}
	}
	panic("no visit")
}

func newProjection(t *testing.T, evs []events.Event) *reports.Projection {
	t.Helper()
	p := reports.New(reports.Config{Now: func() time.Time { return end }, Location: time.UTC})
	apply(t, p, evs)
	return p
}

func apply(t *testing.T, p *reports.Projection, evs []events.Event) {
	t.Helper()
	for _, e := range evs {
		if err := p.Apply(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

// ids lists each row as "id:visits".
func ids(rows []reports.Row) []string {
	var out []string
	for _, r := range rows {
		id := r.ClientID
		if id == "" {
			id = r.PatientKey
		}
		out = append(out, fmt.Sprintf("%s:%d", id, r.Visits))
	}
	return out
}

func TestHighUtilizers(t *testing.T) {
	tests := []struct {
		name  string
		build func(h *history)
		q     reports.Query
		want  []string
		check func(t *testing.T, rows []reports.Row)
	}{
		{
			name: "visits count only inside the trailing twelve months",
			build: func(h *history) {
				h.edVisit("", "pkA", 10, 2, "cardio").edVisit("", "pkA", 364, 2, "cardio").edVisit("", "pkA", 367, 2, "cardio")
				h.edVisit("", "pkB", 1, 2, "cardio")
			},
			want: []string{"pkA:2", "pkB:1"},
		},
		{
			name: "a window and an end of the caller's choosing",
			build: func(h *history) {
				h.edVisit("", "pkA", 10, 2, "cardio").edVisit("", "pkA", 40, 2, "cardio").edVisit("", "pkB", 45, 2, "cardio")
			},
			q:    reports.Query{End: daysBefore(20), Window: 30 * 24 * time.Hour},
			want: []string{"pkA:1", "pkB:1"},
		},
		{
			name: "pregnancy-related visits are excluded by default",
			build: func(h *history) {
				h.edVisit("", "pkA", 10, 2, "obstetric").edVisit("", "pkA", 20, 2, "obstetric").edVisit("", "pkA", 30, 2, "cardio")
				h.edVisit("", "pkB", 10, 2, "respiratory").edVisit("", "pkB", 12, 2, "respiratory")
			},
			want: []string{"pkB:2", "pkA:1"},
		},
		{
			name: "an empty exclusion list counts every visit",
			build: func(h *history) {
				h.edVisit("", "pkA", 10, 2, "obstetric").edVisit("", "pkA", 20, 2, "obstetric")
			},
			q:    reports.Query{Exclude: []string{}},
			want: []string{"pkA:2"},
		},
		{
			name: "categories are matched without case and reasons by prefix",
			build: func(h *history) {
				h.edVisit("", "pkA", 10, 2, "addiction").edVisit("", "pkA", 11, 2, "cardio")
				h.edVisit("", "pkB", 10, 2, "mental_health")
			},
			q:    reports.Query{Exclude: []string{"ADDICTION", reports.ReasonPrefix + "motif MENTAL"}},
			want: []string{"pkA:1"},
		},
		{
			name: "a cancelled registration does not count, a cancelled admission does",
			build: func(h *history) {
				h.edVisit("", "pkA", 10, 2, "cardio")
				h.add(&events.EDVisitCancelled{Visit: h.lastVisit(), Trigger: "A11"}, daysBefore(9))
				h.edVisit("", "pkB", 10, 2, "cardio")
				h.add(&events.HospitalAdmitted{Visit: h.lastVisit(), AdmittedAt: daysBefore(9)}, daysBefore(9))
				h.add(&events.EDVisitCancelled{Visit: h.lastVisit(), Trigger: "A11"}, daysBefore(9))
			},
			want: []string{"pkB:1"},
		},
		{
			name: "a client's keys are counted together, visits before registration included",
			build: func(h *history) {
				h.edVisit("", "pkA", 100, 2, "cardio").edVisit("", "pkA2", 90, 2, "cardio")
				h.add(&events.ClientRegistered{ClientID: "c1", GivenName: "A", FamilyName: "B",
					Identifiers: []events.Identifier{{Authority: "RAMQ", Value: "1"}}, PatientKeys: []string{"pkA", "pkA2"}}, daysBefore(80))
				h.edVisit("c1", "pkA", 10, 2, "cardio")
				h.edVisit("", "pkB", 10, 2, "cardio").edVisit("", "pkB", 11, 2, "cardio")
			},
			want: []string{"c1:3", "pkB:2"},
		},
		{
			name: "a merge counts the merged key's visits for the survivor once",
			build: func(h *history) {
				h.edVisit("", "pkOld", 30, 2, "cardio").edVisit("", "pkOld", 20, 2, "cardio")
				h.edVisit("", "pkNew", 10, 2, "cardio")
				h.add(&events.PatientMerged{Facility: "HSTA", SurvivingKey: "pkNew", MergedKey: "pkOld"}, daysBefore(5))
				h.edVisit("", "pkC", 10, 2, "cardio").edVisit("", "pkC", 11, 2, "cardio")
			},
			want: []string{"pkNew:3", "pkC:2"},
		},
		{
			name: "a chain of merges (A into B, B into C) counts every key's visits for C, later ones under A too",
			build: func(h *history) {
				h.edVisit("", "pkA", 30, 2, "cardio").edVisit("", "pkB", 20, 2, "cardio")
				h.add(&events.PatientMerged{Facility: "HSTA", SurvivingKey: "pkB", MergedKey: "pkA"}, daysBefore(15))
				h.add(&events.PatientMerged{Facility: "HSTA", SurvivingKey: "pkC", MergedKey: "pkB"}, daysBefore(14))
				h.edVisit("", "pkA", 10, 2, "cardio")
				h.add(&events.PatientMerged{Facility: "HSTA", SurvivingKey: "pkA", MergedKey: "pkC"}, daysBefore(9))
				h.edVisit("", "pkC", 8, 2, "cardio").edVisit("", "pkD", 7, 2, "cardio")
			},
			want: []string{"pkC:4", "pkD:1"},
		},
		{
			name: "ties go to more ED hours, then the latest visit, then the id",
			build: func(h *history) {
				h.edVisit("", "pkA", 10, 2, "cardio")
				h.edVisit("", "pkB", 10, 5, "cardio")
				h.edVisit("", "pkC", 5, 2, "cardio")
				h.edVisit("", "pkE", 7, 2, "cardio")
				h.edVisit("", "pkD", 7, 2, "cardio")
			},
			want: []string{"pkB:1", "pkC:1", "pkD:1", "pkE:1", "pkA:1"},
		},
		{
			name: "N limits the list and ranks follow the order",
			build: func(h *history) {
				for i := range 5 {
					for j := 0; j <= i; j++ {
						h.edVisit("", fmt.Sprintf("pk%d", i), float64(10+j), 1, "cardio")
					}
				}
			},
			q:    reports.Query{N: 3},
			want: []string{"pk4:5", "pk3:4", "pk2:3"},
			check: func(t *testing.T, rows []reports.Row) {
				for i, r := range rows {
					if r.Rank != i+1 {
						t.Fatalf("row %d has rank %d", i, r.Rank)
					}
				}
			},
		},
		{
			name: "ED hours run to leaving or to admission, and the last visit is reported",
			build: func(h *history) {
				h.edVisit("", "pkA", 10, 3.5, "cardio")
				h.edVisit("", "pkA", 5, 0, "cardio")
				h.add(&events.HospitalAdmitted{Visit: h.lastVisit(), AdmittedAt: daysBefore(5).Add(6*time.Hour + 15*time.Minute)}, daysBefore(4))
			},
			want: []string{"pkA:2"},
			check: func(t *testing.T, rows []reports.Row) {
				if rows[0].EDHours != 9.8 || !rows[0].LastVisit.Equal(daysBefore(5)) {
					t.Fatalf("row %+v", rows[0])
				}
			},
		},
		{
			name: "identifiers are given only when asked, and never for clients",
			build: func(h *history) {
				h.edVisit("", "pkA", 10, 2, "cardio").edVisit("c1", "pkC", 10, 2, "cardio")
			},
			q:    reports.Query{IncludeIdentifiers: true},
			want: []string{"c1:1", "pkA:1"},
			check: func(t *testing.T, rows []reports.Row) {
				if rows[0].Identifier != nil || rows[1].Identifier == nil || rows[1].Identifier.Value != "ID-pkA" {
					t.Fatalf("rows %+v", rows)
				}
			},
		},
		{
			name: "who is enrolled at the end of the window is marked",
			build: func(h *history) {
				h.edVisit("c1", "pk1", 10, 2, "cardio").edVisit("c2", "pk2", 10, 2, "cardio").edVisit("c3", "pk3", 10, 2, "cardio")
				h.add(&events.ClientEnrolled{ClientID: "c1", Programme: "defi-sante", EnrolledAt: daysBefore(50)}, daysBefore(50))
				h.add(&events.ClientEnrolled{ClientID: "c2", Programme: "defi-sante", EnrolledAt: daysBefore(300)}, daysBefore(300))
				h.add(&events.CaseClosed{ClientID: "c2", Reason: "fin"}, daysBefore(30))
			},
			want: []string{"c1:1", "c2:1", "c3:1"},
			check: func(t *testing.T, rows []reports.Row) {
				if !rows[0].Enrolled || rows[1].Enrolled || rows[2].Enrolled {
					t.Fatalf("rows %+v", rows)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &history{}
			tc.build(h)
			p := newProjection(t, h.evs)
			rows := p.HighUtilizers(tc.q)
			if got := ids(rows); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("rows %v, want %v", got, tc.want)
			}
			if !tc.q.IncludeIdentifiers {
				for _, r := range rows {
					if r.Identifier != nil {
						t.Fatalf("identifier given without asking: %+v", r)
					}
				}
			}
			if tc.check != nil {
				tc.check(t, rows)
			}
		})
	}
}

// programme is a small programme: two clients enrolled over a year ago in
// 2023-H2, one enrolled three months ago, a stranger and an obstetric
// patient.
func programme() *history {
	h := &history{}
	// c1: 10 visits in the year before enrolment (400 days before end),
	// 2 in the year after.
	for i := range 10 {
		h.edVisit("", "pk1", 410+float64(i*30), 3, "cardio")
	}
	h.add(&events.ClientRegistered{ClientID: "c1", GivenName: "A", FamilyName: "B",
		Identifiers: []events.Identifier{{Authority: "RAMQ", Value: "1"}}, PatientKeys: []string{"pk1"}}, daysBefore(401))
	h.add(&events.ClientEnrolled{ClientID: "c1", Programme: "defi-sante", EnrolledAt: daysBefore(400)}, daysBefore(400))
	h.edVisit("c1", "pk1", 300, 2, "cardio").edVisit("c1", "pk1", 100, 2, "cardio")
	h.edVisit("c1", "pk1", 20, 2, "cardio") // more than 12 months after: not counted
	h.edVisit("c1", "pk1", 200, 2, "obstetric")
	h.add(&events.ObjectiveAdded{ClientID: "c1", PlanID: "p", ObjectiveID: "o1", Description: "x"}, daysBefore(390))
	h.add(&events.ObjectiveAdded{ClientID: "c1", PlanID: "p", ObjectiveID: "o2", Description: "y"}, daysBefore(390))
	h.add(&events.ObjectiveMet{ClientID: "c1", ObjectiveID: "o1"}, daysBefore(100))
	h.add(&events.ObjectiveAbandoned{ClientID: "c1", ObjectiveID: "o2", Reason: "z"}, daysBefore(90))
	// c2: 4 visits before, none after, enrolled in the same half-year.
	for i := range 4 {
		h.edVisit("c2", "pk2", 380+float64(i*20), 1, "mental_health")
	}
	h.add(&events.ClientEnrolled{ClientID: "c2", Programme: "defi-sante", EnrolledAt: daysBefore(370)}, daysBefore(370))
	// c3: enrolled 73 days ago (a fifth of a year): 6 before, 1 since.
	for i := range 6 {
		h.edVisit("", "pk3", 100+float64(i*40), 4, "respiratory")
	}
	h.add(&events.ClientRegistered{ClientID: "c3", GivenName: "C", FamilyName: "D",
		Identifiers: []events.Identifier{{Authority: "RAMQ", Value: "3"}}, PatientKeys: []string{"pk3"}}, daysBefore(74))
	h.add(&events.ClientEnrolled{ClientID: "c3", Programme: "defi-sante", EnrolledAt: daysBefore(73)}, daysBefore(73))
	h.edVisit("c3", "pk3", 30, 4, "respiratory")
	// not enrolled: a stranger and a client registered but never enrolled.
	h.edVisit("", "pkX", 30, 1, "cardio")
	h.edVisit("c4", "pk4", 30, 1, "cardio")
	return h
}

func TestOutcomesCompareTheYearBeforeWithTheYearAfter(t *testing.T) {
	p := newProjection(t, programme().evs)
	// A minimum below c3's 73 days of follow-up: every client compares.
	o := p.Outcomes(reports.OutcomeQuery{AsOf: end, MinFollowUp: 60 * 24 * time.Hour})
	if len(o.Clients) != 3 {
		t.Fatalf("clients %+v", o.Clients)
	}
	c1, c2, c3 := o.Clients[0], o.Clients[1], o.Clients[2]
	if c1.ClientID != "c1" || c1.Before.Visits != 10 || c1.Before.EDHours != 30 || c1.After.Visits != 2 || c1.After.Prorated ||
		c1.After.Visits12 != 2 || c1.ObjectivesMet != 1 || c1.Objectives != 2 || c1.Cohort != "2023-H2" {
		t.Fatalf("c1 %+v", c1)
	}
	if c2.Before.Visits != 4 || c2.After.Visits != 0 || c2.Cohort != "2023-H2" {
		t.Fatalf("c2 %+v", c2)
	}
	if c3.Before.Visits != 6 || c3.After.Visits != 1 || !c3.After.Prorated || c3.After.CoveredDays != 73 ||
		c3.After.Visits12 != 5 || c3.After.EDHours12 != 20 || c3.Cohort != "2024-H2" || c3.FollowUpTooShort {
		t.Fatalf("c3 %+v", c3)
	}
	want := []struct {
		cohort                       string
		clients, prorated, before    int
		after                        int
		after12, change, beforeHours float64
	}{
		{"2023-H2", 2, 0, 14, 2, 2, -85.7, 34},
		{"2024-H2", 1, 1, 6, 1, 5, -16.7, 24},
		{"all", 3, 1, 20, 3, 7, -65, 58},
	}
	if len(o.Cohorts) != len(want) {
		t.Fatalf("cohorts %+v", o.Cohorts)
	}
	for i, w := range want {
		k := o.Cohorts[i]
		if k.Cohort != w.cohort || k.Clients != w.clients || k.Prorated != w.prorated || k.BeforeVisits != w.before ||
			k.AfterVisits != w.after || k.AfterVisits12 != w.after12 || k.ChangePercent != w.change || k.BeforeEDHours != w.beforeHours {
			t.Fatalf("cohort %d: %+v, want %+v", i, k, w)
		}
	}
	if o.Cohorts[2].Label.FR != "Tous" || o.Cohorts[0].Label != (reports.Label{FR: "S2 2023", EN: "H2 2023"}) {
		t.Fatalf("labels %+v %+v", o.Cohorts[0].Label, o.Cohorts[2].Label)
	}
	// Earlier, c3 was not enrolled yet and c1 was followed for less than a year.
	early := p.Outcomes(reports.OutcomeQuery{AsOf: daysBefore(200)})
	if len(early.Clients) != 2 || !early.Clients[0].After.Prorated || early.Clients[0].After.Visits != 1 {
		t.Fatalf("as of 200 days before: %+v", early.Clients)
	}
	if len(p.Outcomes(reports.OutcomeQuery{AsOf: end, Programme: "autre"}).Clients) != 0 {
		t.Fatal("programme filter ignored")
	}
}

// cohortFigures is what TestOutcomesRateOnlyClientsFollowedLongEnough
// checks of a cohort.
type cohortFigures struct {
	cohort                              string
	clients, followed, tooShort, before int
	after12, change                     float64
}

// The programme's clients were enrolled 400 (c1), 370 (c2) and 73 (c3)
// days before the report; c3 had 6 visits before and 1 since (5 a year
// annualized), c1 10 before and 2 after, c2 4 before and none after.
func TestOutcomesRateOnlyClientsFollowedLongEnough(t *testing.T) {
	p := newProjection(t, programme().evs)
	tests := []struct {
		name      string
		q         reports.OutcomeQuery
		minDays   float64
		tooShort  []string // client ids
		cohorts   []cohortFigures
		c3After12 float64
	}{
		{
			name:    "by default a client enrolled 73 days ago is too short to rate",
			q:       reports.OutcomeQuery{AsOf: end},
			minDays: 90, tooShort: []string{"c3"},
			cohorts: []cohortFigures{
				{"2023-H2", 2, 2, 0, 14, 2, -85.7},
				{"2024-H2", 1, 0, 1, 0, 0, 0},
				{"all", 3, 2, 1, 14, 2, -85.7},
			},
		},
		{
			name:    "a shorter minimum rates him, annualized",
			q:       reports.OutcomeQuery{AsOf: end, MinFollowUp: 73 * 24 * time.Hour},
			minDays: 73, c3After12: 5,
			cohorts: []cohortFigures{
				{"2023-H2", 2, 2, 0, 14, 2, -85.7},
				{"2024-H2", 1, 1, 0, 6, 5, -16.7},
				{"all", 3, 3, 0, 20, 7, -65},
			},
		},
		{
			name:    "a minimum over a year leaves only the client enrolled 400 days ago",
			q:       reports.OutcomeQuery{AsOf: end, MinFollowUp: 380 * 24 * time.Hour},
			minDays: 380, tooShort: []string{"c2", "c3"},
			cohorts: []cohortFigures{
				{"2023-H2", 2, 1, 1, 10, 2, -80},
				{"2024-H2", 1, 0, 1, 0, 0, 0},
				{"all", 3, 1, 2, 10, 2, -80},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := p.Outcomes(tc.q)
			if o.MinFollowUpDays != tc.minDays {
				t.Errorf("min_follow_up_days %v, want %v", o.MinFollowUpDays, tc.minDays)
			}
			var short []string
			for _, c := range o.Clients {
				if c.FollowUpTooShort {
					short = append(short, c.ClientID)
				}
				if c.ClientID == "c3" && (c.After.Visits != 1 || c.After.Visits12 != tc.c3After12) {
					t.Errorf("c3 after: %d visits, %v a year; want 1, %v", c.After.Visits, c.After.Visits12, tc.c3After12)
				}
			}
			if !reflect.DeepEqual(short, tc.tooShort) {
				t.Errorf("too short %v, want %v", short, tc.tooShort)
			}
			var got []cohortFigures
			for _, k := range o.Cohorts {
				got = append(got, cohortFigures{k.Cohort, k.Clients, k.Followed, k.FollowUpTooShort, k.BeforeVisits, k.AfterVisits12, k.ChangePercent})
			}
			if !reflect.DeepEqual(got, tc.cohorts) {
				t.Errorf("cohorts\n got %+v\nwant %+v", got, tc.cohorts)
			}
		})
	}
}

// One ED visit two minutes after enrolment must not become a rate.
func TestOutcomesDoNotAnnualizeAVisitMinutesAfterEnrolment(t *testing.T) {
	h := &history{}
	h.edVisit("", "pk9", 100, 2, "cardio").edVisit("", "pk9", 50, 2, "cardio")
	h.add(&events.ClientRegistered{ClientID: "c9", GivenName: "E", FamilyName: "F",
		Identifiers: []events.Identifier{{Authority: "RAMQ", Value: "9"}}, PatientKeys: []string{"pk9"}}, daysBefore(1))
	h.add(&events.ClientEnrolled{ClientID: "c9", Programme: "defi-sante", EnrolledAt: end.Add(-3 * time.Minute)}, end.Add(-3*time.Minute))
	h.edVisit("c9", "pk9", 1.0/24/60, 1, "cardio") // arrived one minute before the report: two after enrolment
	o := newProjection(t, h.evs).Outcomes(reports.OutcomeQuery{AsOf: end})
	all := o.Cohorts[len(o.Cohorts)-1]
	if c := o.Clients[0]; !c.FollowUpTooShort || c.After.Visits != 1 || c.After.Visits12 != 0 || c.Before.Visits != 2 {
		t.Fatalf("client %+v", c)
	}
	if all.AfterVisits12 != 0 || all.FollowUpTooShort != 1 || all.Followed != 0 || all.ChangePercent != 0 {
		t.Fatalf("all %+v", all)
	}
}

func TestRebuildInTwoHalvesWithSnapshotEqualsOnePass(t *testing.T) {
	h := programme()
	h.add(&events.PatientMerged{Facility: "HSTA", SurvivingKey: "pk1", MergedKey: "pkX", SurvivingClient: "c1"}, daysBefore(1))
	h.add(&events.CaseClosed{ClientID: "c2", Reason: "fin"}, daysBefore(1))
	evs := h.evs
	live := newProjection(t, evs)
	for cut := 0; cut <= len(evs); cut++ {
		first := newProjection(t, evs[:cut])
		snap, err := first.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		resumed := reports.New(reports.Config{Now: func() time.Time { return end }, Location: time.UTC})
		if err := resumed.Restore(snap); err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		apply(t, resumed, evs[max(0, cut-3):]) // redelivered events are skipped
		if live.Digest() != resumed.Digest() {
			t.Fatalf("cut at %d: digests differ", cut)
		}
		q := reports.Query{IncludeIdentifiers: true, Exclude: []string{reports.ReasonPrefix + "motif card"}}
		if !reflect.DeepEqual(live.HighUtilizers(q), resumed.HighUtilizers(q)) ||
			!reflect.DeepEqual(live.Outcomes(reports.OutcomeQuery{}), resumed.Outcomes(reports.OutcomeQuery{})) {
			t.Fatalf("cut at %d: reports differ", cut)
		}
	}
	short := newProjection(t, evs[:len(evs)-1])
	if short.Digest() == live.Digest() {
		t.Fatal("one event fewer, same digest")
	}
	for _, bad := range []string{`{"version":9}`, `{"version":1,"reasons":["x"],"categories":[""]}`, `{"version":1,"reasons":[""],"categories":[""],"patients":{"pk":{"v":[[1,2,3,4,99,0,0]]}}}`} {
		if err := reports.New(reports.Config{}).Restore([]byte(bad)); err == nil {
			t.Fatalf("restored %s", bad)
		}
	}
}

func TestQueriesAreSafeWhileApplying(t *testing.T) {
	evs := programme().evs
	p := reports.New(reports.Config{Now: func() time.Time { return end }})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_ = p.HighUtilizers(reports.Query{})
				_ = p.Outcomes(reports.OutcomeQuery{})
				_ = p.Digest()
				_ = p.Stats()
			}
		}
	}()
	apply(t, p, evs)
	close(stop)
	wg.Wait()
	if s := p.Stats(); s.Patients != 5 || s.Clients != 3 || s.Visits != 27 {
		t.Fatalf("stats %+v", s)
	}
}
