package reports_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/projections/caseload"
	"github.com/relais-health/relais/projections/clientfile"
	"github.com/relais-health/relais/projections/directory"
	"github.com/relais-health/relais/projections/reports"
)

// territory generates a synthetic history of about n events: patients with
// heavy-tailed ED use over three years, a few of them enrolled with a
// case-management history, as the simulator writes it (one patient after
// the other). It calls fn for each event, in order, with positions from 1.
func territory(n int, fn func(events.Event)) {
	rng := rand.New(rand.NewPCG(42, 1))
	begin := end.AddDate(-3, 0, 0)
	pos := uint64(0)
	emit := func(p events.Payload, at time.Time) {
		pos++
		e := events.MustNew(p, cm, events.WithOccurredAt(at))
		e.Position = pos
		fn(e)
	}
	for i := 0; int(pos) < n; i++ {
		rate := math.Min(0.2/math.Pow(1-rng.Float64(), 1/1.2), 40)
		ident := &events.Identifier{Authority: "RAMQ", Value: fmt.Sprintf("SIMU%08d", i)}
		key := events.PatientKey([]byte("bench"), *ident)
		client, enrol := "", time.Time{}
		if rate >= 4 && rng.Float64() < 0.5 {
			client = "sim" + strconv.Itoa(i)
			enrol = begin.AddDate(0, 6*(2+rng.IntN(3)), 0)
		}
		for t, k := begin, 0; ; k++ {
			t = t.Add(time.Duration(rng.ExpFloat64() / rate * float64(365*24*time.Hour)))
			if !t.Before(end) {
				break
			}
			v := events.Visit{PatientKey: key, Facility: "HSTA", VisitNumber: fmt.Sprintf("V%d-%d", i, k), Identifier: ident}
			if client != "" && t.After(enrol) {
				v.ClientID, v.Identifier = client, nil
			}
			emit(&events.EDVisitStarted{Visit: v, ArrivedAt: t, Reason: "Dyspnée, MPOC / COPD exacerbation", ReasonCategory: "respiratory"}, t)
			stay := t.Add(time.Duration(2+rng.IntN(14)) * time.Hour)
			if rng.Float64() < 0.12 {
				emit(&events.HospitalAdmitted{Visit: v, AdmittedAt: stay, Unit: "Médecine"}, stay)
				emit(&events.HospitalDischarged{Visit: v, DischargedAt: stay.AddDate(0, 0, 3)}, stay.AddDate(0, 0, 3))
			} else {
				emit(&events.EDVisitEnded{Visit: v, EndedAt: stay, Disposition: "home"}, stay)
			}
		}
		if client != "" {
			clientHistory(client, key, enrol, emit)
		}
	}
}

func clientHistory(id, key string, at time.Time, emit func(events.Payload, time.Time)) {
	step := func(d time.Duration) time.Time { at = at.Add(d); return at }
	emit(&events.ClientRegistered{ClientID: id, GivenName: "Client", FamilyName: "Simulé " + id,
		Identifiers: []events.Identifier{{Authority: "RAMQ", Value: id}}, PatientKeys: []string{key}}, step(0))
	emit(&events.ClientFlagged{ClientID: id, Programme: "defi-sante"}, step(time.Minute))
	emit(&events.CaseManagerAssigned{ClientID: id, StaffID: "cm-1"}, step(time.Minute))
	emit(&events.AssessmentCompleted{ClientID: id, StaffID: "cm-1", SupportNetwork: []events.NetworkMember{
		{Category: "doctor", Name: "Médecin de famille", PartnerID: "doc-1"}, {Category: "family", Name: "Sœur"}}}, step(24*time.Hour))
	emit(&events.ClientEnrolled{ClientID: id, Programme: "defi-sante", EnrolledAt: at, Consents: []string{"doctor", "pharmacy", "community"}}, step(time.Hour))
	emit(&events.PlanCreated{ClientID: id, PlanID: "plan-1"}, step(24*time.Hour))
	for k := range 3 {
		emit(&events.ObjectiveAdded{ClientID: id, PlanID: "plan-1", ObjectiveID: "obj-" + strconv.Itoa(k),
			Description: "Prendre sa médication régulièrement / take medication regularly", ResponsiblePartner: "ph-1"}, step(time.Minute))
	}
	emit(&events.ReferralSent{ClientID: id, ReferralID: "ref-1", PartnerID: "org-1", Category: "community", Reason: "Isolement social"}, step(time.Hour))
	meds := []events.Medication{{Name: "Salbutamol", Dose: "100 mcg", Frequency: "PRN"}, {Name: "Sertraline", Dose: "50 mg", Frequency: "DIE"}}
	for range 4 {
		emit(&events.MedicationProfileUpdated{ClientID: id, PharmacyID: "ph-1", Medications: meds}, step(90*24*time.Hour))
		emit(&events.ContactMade{ClientID: id, StaffID: "cm-1", Channel: "phone", At: at}, step(time.Hour))
	}
	emit(&events.ObjectiveMet{ClientID: id, ObjectiveID: "obj-0"}, step(24*time.Hour))
	emit(&events.CaseClosed{ClientID: id, Reason: "Objectifs atteints"}, step(60*24*time.Hour))
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// stored returns e as a subscription hands it over: decoded from the bytes
// the ledger stores, its payload not yet decoded (the first projection to
// ask decodes it, the others share it).
func stored(b *testing.B, e events.Event) events.Event {
	raw, err := e.Encode()
	if err != nil {
		b.Fatal(err)
	}
	d, err := events.Decode(raw)
	if err != nil {
		b.Fatal(err)
	}
	d.Position, d.Raw = e.Position, raw
	return d
}

type applier interface {
	Apply(context.Context, events.Event) error
}

// applyAll folds the batch into each projection, in the order the replay
// feeds them, and returns the time, allocations and bytes it took.
func applyAll(b *testing.B, batch []events.Event, ps []applier) (time.Duration, uint64, uint64) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for _, e := range batch {
		for _, p := range ps {
			if err := p.Apply(context.Background(), e); err != nil {
				b.Fatal(err)
			}
		}
	}
	el := time.Since(start)
	runtime.ReadMemStats(&after)
	return el, after.Mallocs - before.Mallocs, after.TotalAlloc - before.TotalAlloc
}

// BenchmarkReplay replays a synthetic territory (RELAIS_BENCH_EVENTS
// events, default 200,000) into each projection and reports the time,
// allocations and bytes per event of Apply alone, and the heap the
// projection holds afterwards, e.g.
//
//	RELAIS_BENCH_EVENTS=5000000 go test -run - -bench Replay -benchtime 1x ./projections/reports
//
// The events are decoded from their stored bytes as a subscription hands
// them over. Each projection alone gets them with the payload already
// decoded (the fold's own cost); "all" feeds every projection of a replay
// in turn, as cmd/relais does, and so includes decoding each payload once.
func BenchmarkReplay(b *testing.B) {
	n := 200_000
	if s := os.Getenv("RELAIS_BENCH_EVENTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	type proj interface {
		applier
		Digest() string
	}
	for _, c := range []struct {
		name   string
		decode bool
		make   func() []applier
	}{
		{"reports", false, func() []applier { return []applier{reports.New(reports.Config{})} }},
		{"clientfile", false, func() []applier { return []applier{clientfile.New()} }},
		{"caseload", false, func() []applier { return []applier{caseload.New(caseload.Config{})} }},
		{"all", true, func() []applier {
			return []applier{directory.New(), clientfile.New(), caseload.New(caseload.Config{}), reports.New(reports.Config{})}
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				base := heapInUse()
				ps := c.make()
				var apply time.Duration
				var allocs, bytes uint64
				count := 0
				batch := make([]events.Event, 0, 1024)
				flush := func() {
					el, a, by := applyAll(b, batch, ps)
					apply, allocs, bytes = apply+el, allocs+a, bytes+by
					count += len(batch)
					batch = batch[:0]
				}
				territory(n, func(e events.Event) {
					e = stored(b, e)
					if !c.decode {
						if _, err := e.Payload(); err != nil {
							b.Fatal(err)
						}
					}
					if batch = append(batch, e); len(batch) == cap(batch) {
						flush()
					}
				})
				flush()
				held := heapInUse() - base
				b.ReportMetric(float64(apply.Nanoseconds())/float64(count), "ns/event")
				b.ReportMetric(float64(allocs)/float64(count), "allocs/event")
				b.ReportMetric(float64(bytes)/float64(count), "B/event")
				b.ReportMetric(float64(held)/(1<<20), "MB-held")
				if r, ok := ps[len(ps)-1].(*reports.Projection); ok && len(ps) == 1 {
					s := r.Stats()
					b.ReportMetric(float64(s.Visits), "visits")
					b.ReportMetric(float64(s.Patients), "patients")
					start := time.Now()
					r.HighUtilizers(reports.Query{End: end})
					b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms/list")
				}
				for _, p := range ps {
					if d, ok := p.(proj); ok {
						_ = d.Digest()
					}
				}
				runtime.KeepAlive(ps)
			}
		})
	}
}
