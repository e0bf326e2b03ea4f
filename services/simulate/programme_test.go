package simulate_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/relais-health/relais/services/simulate"
)

func TestPlanGivesTheCohortsExactTotalsInsideTheirYears(t *testing.T) {
	end := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name                       string
		cohort                     simulate.Cohort
		wantClients, before, after int
		wantErr                    bool
	}{
		{name: "the seed programme: 200 clients, 1,054 visits before, 254 after", cohort: withEnd(simulate.SeedCohort, end), wantClients: 200, before: 1054, after: 254},
		{name: "a small cohort with no visit after", cohort: simulate.Cohort{Clients: 3, VisitsBefore: 10, Seed: 1, End: end}, wantClients: 3, before: 10},
		{name: "fewer than three visits each before is refused", cohort: simulate.Cohort{Clients: 5, VisitsBefore: 14, End: end}, wantErr: true},
		{name: "no client is refused", cohort: simulate.Cohort{End: end}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := simulate.Plan(tc.cohort)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Plan(%+v) gave %d clients, want an error", tc.cohort, len(plan))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			before, after := 0, 0
			for i, c := range plan {
				if c.EnrolledAt.After(end.AddDate(0, -13, 0)) || c.EnrolledAt.Before(end.AddDate(0, -18, 0)) {
					t.Errorf("client %d enrolled %s: not 13 to 18 months before %s", i, c.EnrolledAt, end)
				}
				if len(c.Before) < 3 {
					t.Errorf("client %d has %d visits before enrolment, want at least 3", i, len(c.Before))
				}
				for _, v := range c.Before {
					if !v.Arrived.Before(c.EnrolledAt.Add(-time.Hour)) || v.Arrived.Before(c.EnrolledAt.AddDate(-1, 0, 0)) || v.ReasonCategory == "obstetric" {
						t.Errorf("client %d: visit %+v is not in the year before enrolment", i, v)
					}
				}
				for _, v := range c.After {
					if v.Arrived.Before(c.EnrolledAt.Add(time.Hour)) || !v.Arrived.Before(c.EnrolledAt.AddDate(1, 0, 0)) || !v.Left.Add(72*time.Hour).Before(end) {
						t.Errorf("client %d: visit %+v is not in the year after enrolment", i, v)
					}
				}
				before += len(c.Before)
				after += len(c.After)
			}
			if len(plan) != tc.wantClients || before != tc.before || after != tc.after {
				t.Fatalf("%d clients, %d visits before, %d after; want %d, %d, %d", len(plan), before, after, tc.wantClients, tc.before, tc.after)
			}
			again, _ := simulate.Plan(tc.cohort)
			if !reflect.DeepEqual(plan, again) {
				t.Fatal("the same cohort gave two plans")
			}
		})
	}
}

func withEnd(c simulate.Cohort, end time.Time) simulate.Cohort { c.End = end; return c }
