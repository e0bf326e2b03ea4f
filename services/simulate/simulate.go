// Package simulate writes a realistic synthetic territory history through
// the real ledger: a directory of staff and partners, ED visits for a
// population where a minority are frequent users (heavy-tailed rates), the
// enrolment of frequent users in the programme with plans, pharmacy updates
// and referrals, and fewer ED visits after enrolment. The same seed gives
// the same history (event ids included). Tests use it small, benchmarks big.
package simulate

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

// Appender is the slice of the ledger the simulator writes through.
type Appender interface {
	Append(ctx context.Context, stream string, expected int64, evs ...events.Event) (ledger.Result, error)
}

// Config describes the territory to simulate.
type Config struct {
	Clients int // people in the population who may visit the ED
	Years   int
	Seed    uint64
	// End is the instant the history ends (default: now, truncated to the day).
	End time.Time
	// PatientSecret keys the pseudonymous patient keys (must match the ED
	// intake's secret for the same installation).
	PatientSecret []byte
	// Workers appending concurrently (default 64).
	Workers int
	// Progress, when set, is called with the number of events written.
	Progress func(written uint64)
}

// Stats is what a run wrote.
type Stats struct {
	Events   uint64 `json:"events"`
	Visits   int    `json:"visits"`
	Patients int    `json:"patients"`
	Enrolled int    `json:"enrolled"`
	Duration time.Duration
}

// Facilities of the simulated territory (Laurentides).
var Facilities = []string{"HSTA", "HLAU"}

// Programme is the simulated programme name.
const Programme = "defi-sante"

// Run writes the history.
func Run(ctx context.Context, l Appender, cfg Config) (Stats, error) {
	if cfg.Clients <= 0 || cfg.Years <= 0 {
		return Stats{}, fmt.Errorf("simulate: --clients and --years must be positive")
	}
	if cfg.End.IsZero() {
		cfg.End = time.Now().UTC().Truncate(24 * time.Hour)
	}
	if cfg.Workers == 0 {
		cfg.Workers = 64
	}
	start := time.Now()
	w := &writer{l: l, progress: cfg.Progress}
	dir := newDirectory(cfg)
	if err := w.appendAll(ctx, cfg.Workers, dir.batches); err != nil {
		return Stats{}, err
	}
	var st Stats
	st.Patients = cfg.Clients
	g, gctx := errgroup.WithContext(ctx)
	jobs := make(chan int, cfg.Workers*4)
	var visits, enrolled atomic.Int64
	g.Go(func() error {
		defer close(jobs)
		for i := range cfg.Clients {
			select {
			case jobs <- i:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	for range cfg.Workers {
		g.Go(func() error {
			for i := range jobs {
				p := newPatient(cfg, dir, i)
				visits.Add(int64(p.visits))
				if p.enrolled {
					enrolled.Add(1)
				}
				for _, b := range p.batches {
					if err := w.append(gctx, b); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return Stats{}, err
	}
	st.Events = w.n.Load()
	st.Visits = int(visits.Load())
	st.Enrolled = int(enrolled.Load())
	st.Duration = time.Since(start)
	return st, nil
}

// batch is the history of one stream.
type batch struct {
	stream string
	evs    []events.Event
}

type writer struct {
	l        Appender
	n        atomic.Uint64
	progress func(uint64)
}

// append writes a stream's events one by one, in order, as the facts would
// arrive in real life (an A04, hours later an A03).
func (w *writer) append(ctx context.Context, b batch) error {
	for i, e := range b.evs {
		if _, err := w.l.Append(ctx, b.stream, int64(i), e); err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
		n := w.n.Add(1)
		if w.progress != nil {
			w.progress(n)
		}
	}
	return nil
}

func (w *writer) appendAll(ctx context.Context, workers int, bs []batch) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for _, b := range bs {
		g.Go(func() error { return w.append(gctx, b) })
	}
	return g.Wait()
}

// directory is the simulated network of staff and partners.
type directory struct {
	caseManagers []string
	doctors      []string
	pharmacies   []string
	community    []string
	rehab        []string
	batches      []batch
}

var system = events.Actor{ID: "simulator", Role: events.RoleAdmin}

func newDirectory(cfg Config) *directory {
	d := &directory{}
	rng := rand.New(rand.NewPCG(cfg.Seed, 1))
	ids := idGen{seed: cfg.Seed, scope: "directory"}
	at := cfg.End.AddDate(-cfg.Years, 0, -1)
	staff := func(id, role, name string) {
		d.batches = append(d.batches, batch{events.StaffStream(id), []events.Event{ids.event(&events.StaffRegistered{StaffID: id, Role: role, Name: name}, system, at)}})
	}
	partner := func(id, cat, name string) {
		d.batches = append(d.batches, batch{events.PartnerStream(id), []events.Event{ids.event(&events.PartnerRegistered{PartnerID: id, Category: cat, Name: name}, system, at)}})
	}
	staff("pm-1", events.RoleProgrammeManager, "Gestionnaire de programme")
	staff("arch-1", events.RoleArchivist, "Archiviste")
	staff("aud-1", events.RoleAuditor, "Vérificateur")
	ncm := max(2, cfg.Clients/2000)
	for i := range ncm {
		id := fmt.Sprintf("cm-%d", i+1)
		d.caseManagers = append(d.caseManagers, id)
		staff(id, events.RoleCaseManager, fmt.Sprintf("Gestionnaire de cas %d", i+1))
	}
	for i := range max(3, cfg.Clients/500) {
		id := fmt.Sprintf("doc-%d", i+1)
		d.doctors = append(d.doctors, id)
		partner(id, events.CategoryDoctor, fmt.Sprintf("Clinique médicale %d", i+1))
	}
	for i := range max(2, cfg.Clients/1000) {
		id := fmt.Sprintf("ph-%d", i+1)
		d.pharmacies = append(d.pharmacies, id)
		partner(id, events.CategoryPharmacy, fmt.Sprintf("Pharmacie %d", i+1))
	}
	for i := range 4 {
		id := fmt.Sprintf("org-%d", i+1)
		d.community = append(d.community, id)
		partner(id, events.CategoryCommunity, fmt.Sprintf("Organisme communautaire %d", i+1))
	}
	d.rehab = []string{"rehab-1"}
	partner("rehab-1", events.CategoryRehab, "Centre de réadaptation en dépendance")
	_ = rng
	return d
}

// idGen makes deterministic event ids.
type idGen struct {
	seed  uint64
	scope string
	n     int
}

func (g *idGen) event(p events.Payload, actor events.Actor, at time.Time, opts ...events.Option) events.Event {
	g.n++
	opts = append(opts, events.WithID(events.DeriveID(fmt.Sprint(g.seed), g.scope, fmt.Sprint(g.n))), events.WithOccurredAt(at))
	return events.MustNew(p, actor, opts...)
}

// patient is one simulated person's history.
type patient struct {
	visits   int
	enrolled bool
	batches  []batch
}

var reasons = []struct {
	text, category string
	weight         float64
}{
	{"Douleur thoracique / chest pain", "cardio", 3},
	{"Dyspnée, MPOC / COPD exacerbation", "respiratory", 4},
	{"Anxiété, crise / anxiety crisis", "mental_health", 4},
	{"Intoxication / intoxication", "addiction", 2},
	{"Chute / fall", "injury", 2},
	{"Douleur abdominale / abdominal pain", "gastro", 2},
	{"Décompensation diabétique / diabetes", "endocrine", 1},
}

func newPatient(cfg Config, dir *directory, i int) *patient {
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)+1000))
	ids := idGen{seed: cfg.Seed, scope: fmt.Sprintf("p%d", i)}
	p := &patient{}
	ident := events.Identifier{Authority: "RAMQ", Value: fmt.Sprintf("SIMU%08d", i)}
	key := events.PatientKey(cfg.PatientSecret, ident)
	begin := cfg.End.AddDate(-cfg.Years, 0, 0)
	span := cfg.End.Sub(begin)

	// Heavy-tailed yearly ED visit rate: most people rarely come, a few
	// come very often (Pareto, alpha 1.2, scale 0.2 visits/year, capped at 40).
	rate := math.Min(0.2/math.Pow(1-rng.Float64(), 1/1.2), 40)
	obstetric := rng.Float64() < 0.03
	var enrolAt time.Time
	var clientID, cm string
	if rate >= 4 && !obstetric && rng.Float64() < 0.5 && cfg.Years >= 2 {
		// Enrolled at a six-month boundary after the first year.
		halves := cfg.Years*2 - 2
		enrolAt = begin.AddDate(0, 6*(2+rng.IntN(max(1, halves))), 0).Add(time.Duration(rng.IntN(24*60)) * time.Minute)
		if enrolAt.After(cfg.End) {
			enrolAt = time.Time{}
		}
	}
	if !enrolAt.IsZero() {
		p.enrolled = true
		clientID = fmt.Sprintf("sim%d", i)
		cm = dir.caseManagers[rng.IntN(len(dir.caseManagers))]
	}
	// Visits: a Poisson process, slowed to a quarter after enrolment
	// (the seed programme saw 1,054 visits fall to 254 for 200 clients).
	var visitTimes []time.Time
	if obstetric {
		// Pregnancy-related visits: several within six months, then none.
		ws := begin.Add(time.Duration(rng.Float64() * float64(span)))
		for range 3 + rng.IntN(5) {
			if t := ws.Add(time.Duration(rng.Float64() * float64(180*24*time.Hour))); t.Before(cfg.End) {
				visitTimes = append(visitTimes, t)
			}
		}
	}
	for t := begin; !obstetric; {
		r := rate
		if p.enrolled && t.After(enrolAt) {
			r = rate * 0.25
		}
		t = t.Add(time.Duration(rng.ExpFloat64() / r * float64(365*24*time.Hour)))
		if !t.Before(cfg.End) {
			break
		}
		visitTimes = append(visitTimes, t)
	}
	sort.Slice(visitTimes, func(a, b int) bool { return visitTimes[a].Before(visitTimes[b]) })
	hospital := events.Actor{ID: "hl7-feed", Role: events.RoleSystem}
	for n, at := range visitTimes {
		fac := Facilities[rng.IntN(len(Facilities))]
		vn := fmt.Sprintf("V%d-%d", i, n)
		v := events.Visit{PatientKey: key, Facility: fac, VisitNumber: vn}
		if p.enrolled && at.After(enrolAt) {
			v.ClientID = clientID
		} else {
			// Not a client (yet): the identifier is kept for the archivist.
			v.Identifier = &ident
		}
		reason, cat := pickReason(rng)
		if obstetric {
			reason, cat = "Saignements, grossesse / bleeding in pregnancy", "obstetric"
		}
		src := events.WithSource(fac, fmt.Sprintf("%d%04d", i, n))
		stay := time.Duration(2+rng.IntN(14)) * time.Hour
		evs := []events.Event{ids.event(&events.EDVisitStarted{Visit: v, ArrivedAt: at, Reason: reason, ReasonCategory: cat}, hospital, at, src)}
		if rng.Float64() < 0.12 {
			evs = append(evs,
				ids.event(&events.HospitalAdmitted{Visit: v, AdmittedAt: at.Add(stay), Unit: "Médecine"}, hospital, at.Add(stay), src),
				ids.event(&events.HospitalDischarged{Visit: v, DischargedAt: at.Add(stay + time.Duration(1+rng.IntN(9))*24*time.Hour), Disposition: "home"}, hospital, at.Add(stay+24*time.Hour), src))
		} else {
			evs = append(evs, ids.event(&events.EDVisitEnded{Visit: v, EndedAt: at.Add(stay), Disposition: "home"}, hospital, at.Add(stay), src))
		}
		p.batches = append(p.batches, batch{events.VisitStream(fac, vn), evs})
	}
	p.visits = len(visitTimes)
	if p.enrolled {
		p.batches = append(p.batches, batch{events.ClientStream(clientID), clientHistory(rng, &ids, dir, clientID, cm, ident, key, enrolAt, cfg.End)})
	}
	return p
}

func pickReason(rng *rand.Rand) (string, string) {
	total := 0.0
	for _, r := range reasons {
		total += r.weight
	}
	x := rng.Float64() * total
	for _, r := range reasons {
		if x -= r.weight; x <= 0 {
			return r.text, r.category
		}
	}
	return reasons[0].text, reasons[0].category
}

// clientHistory is the programme's work with one enrolled client.
func clientHistory(rng *rand.Rand, ids *idGen, dir *directory, clientID, cm string, ident events.Identifier, key string, at, end time.Time) []events.Event {
	cmActor := events.Actor{ID: cm, Role: events.RoleCaseManager}
	doc := dir.doctors[rng.IntN(len(dir.doctors))]
	ph := dir.pharmacies[rng.IntN(len(dir.pharmacies))]
	org := dir.community[rng.IntN(len(dir.community))]
	consents := []string{events.CategoryDoctor, events.CategoryPharmacy, events.CategoryCommunity}
	if rng.Float64() < 0.6 {
		consents = append(consents, events.CategoryFamily)
	}
	addiction := rng.Float64() < 0.3
	if addiction {
		consents = append(consents, events.CategoryRehab)
	}
	step := func(d time.Duration) time.Time { at = at.Add(d); return at }
	var evs []events.Event
	add := func(p events.Payload, a events.Actor, t time.Time) {
		if t.Before(end) {
			evs = append(evs, ids.event(p, a, t))
		}
	}
	add(&events.ClientRegistered{ClientID: clientID, GivenName: "Client", FamilyName: fmt.Sprintf("Simulé %s", clientID), Identifiers: []events.Identifier{ident}, PatientKeys: []string{key}}, cmActor, step(0))
	add(&events.ClientFlagged{ClientID: clientID, Programme: Programme, Reason: "grand utilisateur / frequent ED user"}, cmActor, step(time.Minute))
	add(&events.CaseManagerAssigned{ClientID: clientID, StaffID: cm}, cmActor, step(time.Minute))
	add(&events.ContactMade{ClientID: clientID, StaffID: cm, Channel: "ed", At: at}, cmActor, step(time.Hour))
	add(&events.AssessmentCompleted{ClientID: clientID, StaffID: cm, SupportNetwork: []events.NetworkMember{
		{Category: events.CategoryDoctor, Name: "Médecin de famille", PartnerID: doc},
		{Category: events.CategoryPharmacy, Name: "Pharmacie", PartnerID: ph},
		{Category: events.CategoryFamily, Name: "Sœur"},
	}}, cmActor, step(7*24*time.Hour))
	add(&events.ClientEnrolled{ClientID: clientID, Programme: Programme, EnrolledAt: at, Consents: consents}, cmActor, step(time.Hour))
	for _, c := range consents {
		pid := ""
		switch c {
		case events.CategoryDoctor:
			pid = doc
		case events.CategoryPharmacy:
			pid = ph
		}
		add(&events.ConsentGranted{ClientID: clientID, Category: c, PartnerID: pid}, cmActor, step(time.Minute))
	}
	add(&events.PlanCreated{ClientID: clientID, PlanID: "plan-1"}, cmActor, step(3*24*time.Hour))
	objectives := []string{"Prendre sa médication régulièrement / take medication regularly", "Consulter son médecin de famille aux 3 mois / see family doctor every 3 months", "Participer à un groupe communautaire / join a community group"}
	for n, o := range objectives {
		add(&events.ObjectiveAdded{ClientID: clientID, PlanID: "plan-1", ObjectiveID: fmt.Sprintf("obj-%d", n+1), Description: o, Means: "Suivi hebdomadaire", ResponsiblePartner: []string{ph, doc, org}[n], TargetDate: at.AddDate(0, 6, 0).Format(time.DateOnly)}, cmActor, step(time.Minute))
	}
	add(&events.ReferralSent{ClientID: clientID, ReferralID: "ref-1", PartnerID: org, Category: events.CategoryCommunity, Reason: "Isolement social / social isolation"}, cmActor, step(24*time.Hour))
	add(&events.ReferralAccepted{ReferralAnswer: events.ReferralAnswer{ClientID: clientID, ReferralID: "ref-1", PartnerID: org}}, events.Actor{ID: org, Role: events.CategoryCommunity}, step(3*24*time.Hour))
	if addiction {
		add(&events.ReferralSent{ClientID: clientID, ReferralID: "ref-2", PartnerID: dir.rehab[0], Category: events.CategoryRehab, Reason: "Dépendance / addiction"}, cmActor, step(24*time.Hour))
	}
	phActor := events.Actor{ID: ph, Role: events.CategoryPharmacy}
	meds := []events.Medication{{Name: "Salbutamol", Dose: "100 mcg", Frequency: "PRN"}, {Name: "Sertraline", Dose: "50 mg", Frequency: "DIE"}}
	for q := range 4 {
		if q == 2 {
			meds = append(meds, events.Medication{Name: "Metformine", Dose: "500 mg", Frequency: "BID"})
		}
		add(&events.MedicationProfileUpdated{ClientID: clientID, PharmacyID: ph, Medications: meds}, phActor, step(90*24*time.Hour))
		if q == 1 && rng.Float64() < 0.3 {
			add(&events.PharmacistConcernRaised{ClientID: clientID, PharmacyID: ph, Concern: "Renouvellements irréguliers / irregular refills", NeedsMedicalEvaluation: true}, phActor, step(time.Hour))
		}
		add(&events.ContactMade{ClientID: clientID, StaffID: cm, Channel: "phone", At: at}, cmActor, step(time.Hour))
	}
	for n := range objectives {
		if rng.Float64() < 0.7 {
			add(&events.ObjectiveMet{ClientID: clientID, ObjectiveID: fmt.Sprintf("obj-%d", n+1)}, cmActor, step(24*time.Hour))
		}
	}
	add(&events.CaseClosed{ClientID: clientID, Reason: "Objectifs atteints / goals met"}, cmActor, step(60*24*time.Hour))
	return evs
}
