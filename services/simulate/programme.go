package simulate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/relais-health/relais/events"
)

// Cohort describes a programme's first cohort, as the seed programme
// reported it: so many clients, so many ED visits in the year before each
// one's enrolment and so many in the year after.
type Cohort struct {
	Clients      int
	VisitsBefore int // in the 12 months before each client's enrolment, all clients together
	VisitsAfter  int // in the 12 months after it
	Seed         uint64
	// End is the instant the history reaches (default now): every client is
	// enrolled between 18 and 13 months before it, so each one's year after
	// enrolment is complete by End.
	End time.Time
}

// SeedCohort is the seed programme's first cohort (Défi Santé, CSSS des
// Sommets): 200 clients, 1,054 ED visits the year before, 254 after.
var SeedCohort = Cohort{Clients: 200, VisitsBefore: 1054, VisitsAfter: 254, Seed: 2006}

// PlannedClient is one client of a planned cohort.
type PlannedClient struct {
	EnrolledAt time.Time
	// Before and After are the client's ED visits, in time order, in the
	// year before and the year after enrolment.
	Before, After []PlannedVisit
}

// PlannedVisit is one ED visit of a planned history.
type PlannedVisit struct {
	Facility       string
	Arrived, Left  time.Time // left the ED (home), or admitted when Admitted
	Admitted       bool
	Reason         string
	ReasonCategory string
}

// Plan draws the cohort's history: who comes to the ED how often
// (heavy-tailed, at least three visits the year before for everyone, as
// the archivist's list of frequent users would have it), when each was
// enrolled, and when each visit was, with exactly VisitsBefore visits
// before and VisitsAfter after in all. The same Cohort gives the same plan.
// A visit is never within an hour of its client's enrolment, and a visit
// after enrolment ends before End.
func Plan(c Cohort) ([]PlannedClient, error) {
	if c.Clients <= 0 || c.VisitsBefore < 3*c.Clients || c.VisitsAfter < 0 {
		return nil, fmt.Errorf("simulate: a cohort needs clients and at least three visits each before enrolment (%d clients, %d visits)", c.Clients, c.VisitsBefore)
	}
	if c.End.IsZero() {
		c.End = time.Now().UTC()
	}
	rng := rand.New(rand.NewPCG(c.Seed, 2))
	// Each client's rate: Pareto (alpha 1.5), capped; after enrolment a
	// client-specific share of it (most come far less, a few as often).
	rate := make([]float64, c.Clients)
	keep := make([]float64, c.Clients)
	for i := range rate {
		rate[i] = math.Min(1/math.Pow(1-rng.Float64(), 1/1.5), 12)
		keep[i] = rate[i] * math.Pow(rng.Float64(), 2)
	}
	before := allocate(c.VisitsBefore-3*c.Clients, rate)
	for i := range before {
		before[i] += 3
	}
	after := allocate(c.VisitsAfter, keep)
	out := make([]PlannedClient, c.Clients)
	year := 365 * 24 * time.Hour
	for i := range out {
		// Enrolled 13 to 18 months before End, at a minute of the day.
		enrol := c.End.AddDate(0, -18, 0).Add(time.Duration(rng.Int64N(int64(150 * 24 * time.Hour)))).Truncate(time.Minute)
		p := PlannedClient{EnrolledAt: enrol}
		for range before[i] {
			p.Before = append(p.Before, plannedVisit(rng, enrol.Add(-year+time.Hour), year-2*time.Hour))
		}
		for range after[i] {
			p.After = append(p.After, plannedVisit(rng, enrol.Add(time.Hour), year-2*time.Hour-24*time.Hour))
		}
		byArrival := func(a, b PlannedVisit) int { return a.Arrived.Compare(b.Arrived) }
		slices.SortFunc(p.Before, byArrival)
		slices.SortFunc(p.After, byArrival)
		out[i] = p
	}
	return out, nil
}

// plannedVisit is a visit arriving in [from, from+span), never obstetric
// (the seed cohort's frequent users are chronically ill).
func plannedVisit(rng *rand.Rand, from time.Time, span time.Duration) PlannedVisit {
	v := PlannedVisit{Facility: Facilities[rng.IntN(len(Facilities))],
		Arrived: from.Add(time.Duration(rng.Int64N(int64(span)))).Truncate(time.Minute)}
	v.Reason, v.ReasonCategory = pickReason(rng)
	stay := time.Duration(2+rng.IntN(14)) * time.Hour
	v.Left, v.Admitted = v.Arrived.Add(stay), rng.Float64() < 0.12
	return v
}

// allocate splits total among the weights, in proportion, in whole
// numbers that add up to total exactly (largest remainder).
func allocate(total int, weights []float64) []int {
	sum := 0.0
	for _, w := range weights {
		sum += w
	}
	out := make([]int, len(weights))
	if total <= 0 || sum <= 0 {
		return out
	}
	type rem struct {
		i int
		r float64
	}
	rems := make([]rem, len(weights))
	given := 0
	for i, w := range weights {
		x := float64(total) * w / sum
		out[i] = int(x)
		given += out[i]
		rems[i] = rem{i, x - float64(out[i])}
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].r > rems[b].r })
	for k := 0; given < total; k++ {
		out[rems[k%len(rems)].i]++
		given++
	}
	return out
}

// VisitEvents are the hospital feed's events of one planned visit (the
// registration, then the end of the ED stay or the admission and a
// discharge a few days later), for the patient v identifies, back-dated to
// when they happened: ArrivedAt and occurred_at are the visit's own times
// (the ledger records them when they are written). ids derives the event
// ids, so writing the same plan twice gives the same ids.
func VisitEvents(pv PlannedVisit, v events.Visit, actor events.Actor, ids func(n int) string) ([]events.Event, error) {
	type timed struct {
		p  events.Payload
		at time.Time
	}
	payloads := []timed{{&events.EDVisitStarted{Visit: v, ArrivedAt: pv.Arrived, Reason: pv.Reason, ReasonCategory: pv.ReasonCategory}, pv.Arrived}}
	if pv.Admitted {
		discharged := pv.Left.Add(72 * time.Hour)
		payloads = append(payloads, timed{&events.HospitalAdmitted{Visit: v, AdmittedAt: pv.Left, Unit: "Médecine"}, pv.Left},
			timed{&events.HospitalDischarged{Visit: v, DischargedAt: discharged, Disposition: "home"}, discharged})
	} else {
		payloads = append(payloads, timed{&events.EDVisitEnded{Visit: v, EndedAt: pv.Left, Disposition: "home"}, pv.Left})
	}
	evs := make([]events.Event, len(payloads))
	for n, x := range payloads {
		e, err := events.New(x.p, actor, events.WithID(ids(n)), events.WithOccurredAt(x.at))
		if err != nil {
			return nil, fmt.Errorf("simulate: visit %s: %w", v.VisitNumber, err)
		}
		evs[n] = e
	}
	return evs, nil
}
