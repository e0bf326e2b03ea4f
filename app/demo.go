package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/services/casemgmt"
	svcdirectory "github.com/relais-health/relais/services/directory"
	"github.com/relais-health/relais/services/edintake"
	"github.com/relais-health/relais/services/simulate"
)

// The demo territory: who is in it. Demo tokens are "demo-<id>": fine on a
// laptop, never in production (serve --demo says so when it starts).
var (
	demoStaff = []struct{ id, role, name string }{
		{"cm-1", events.RoleCaseManager, "Julie Gervais (gestionnaire de cas)"},
		{"cm-2", events.RoleCaseManager, "Nadine Bolduc (gestionnaire de cas)"},
		{"pm-1", events.RoleProgrammeManager, "Anne-Marie Royer (gestionnaire de programme)"},
		{"arch-1", events.RoleArchivist, "Archiviste"},
		{"aud-1", events.RoleAuditor, "Vérificateur"},
		{"hl7-hsta", events.RoleSystem, "Moteur d'interface HSTA"},
	}
	demoPartners = []struct{ id, cat, name string }{
		{"doc-1", events.CategoryDoctor, "Clinique médicale Sainte-Agathe"},
		{"doc-2", events.CategoryDoctor, "GMF des Laurentides"},
		{"doc-3", events.CategoryDoctor, "Clinique du Lac"},
		{"ph-1", events.CategoryPharmacy, "Pharmacie Principale"},
		{"ph-2", events.CategoryPharmacy, "Pharmacie du Village"},
		{"org-1", events.CategoryCommunity, "Centre d'entraide des Sommets"},
		{"org-2", events.CategoryCommunity, "Popote roulante"},
		{"rehab-1", events.CategoryRehab, "Centre de réadaptation André-Boudreau"},
	}
	demoGiven  = []string{"Hélène", "Gaston", "Lucie", "Réjean", "Ginette", "Marcel", "Sylvie", "André", "Françoise", "Benoît"}
	demoFamily = []string{"Bélanger", "Tremblay", "Gagnon", "Côté", "Bouchard", "Lévesque", "Pelletier", "Ouellet"}
)

// demoClients is the seed programme's first cohort (simulate.SeedCohort).
var demoClients = simulate.SeedCohort.Clients

// demoFeed is the hospital feed that recorded the demo's ED history.
var demoFeed = events.Actor{ID: "hl7-hsta", Role: events.RoleSystem}

func demoToken(id string) string { return "demo-" + id }

// demoAdmin is who seeds the demo territory.
var demoAdmin = events.Actor{ID: "admin", Role: events.RoleAdmin}

// SeedDemo writes the demo territory through the services, so the same
// invariants hold as for any request: the staff and partners, and the seed
// programme's first cohort (simulate.SeedCohort: 200 clients enrolled 13
// to 18 months ago, 1,054 ED visits in the year before their enrolment
// and 254 in the year after), so the outcome chart tells the programme's
// story. The ED history is the hospital feed's events back-dated to when
// the visits happened (their arrival times and occurred_at; the ledger
// records them now, and the alert rules leave such old facts alone).
// secret keys the patient keys, as the ED intake's. It is idempotent: a
// staff member, partner or client already there is skipped, so a second
// start writes nothing (a client whose seeding was interrupted halfway
// stays as it was).
func SeedDemo(ctx context.Context, l ledger.Ledger, secret []byte) error {
	for _, s := range demoStaff {
		if err := registerDemo(ctx, l, events.StaffStream(s.id), &events.StaffRegistered{StaffID: s.id, Role: s.role, Name: s.name, TokenHash: svcdirectory.HashToken(demoToken(s.id))}); err != nil {
			return err
		}
	}
	for _, p := range demoPartners {
		if err := registerDemo(ctx, l, events.PartnerStream(p.id), &events.PartnerRegistered{PartnerID: p.id, Category: p.cat, Name: p.name, TokenHash: svcdirectory.HashToken(demoToken(p.id))}); err != nil {
			return err
		}
	}
	// Names are drawn in client order before any is written, so each client
	// gets the same name however the seeding is scheduled or resumed.
	rng := rand.New(rand.NewPCG(2006, 4))
	names := make([][2]string, demoClients)
	for i := range names {
		names[i] = [2]string{demoGiven[rng.IntN(len(demoGiven))], demoFamily[rng.IntN(len(demoFamily))]}
	}
	cohort := simulate.SeedCohort
	cohort.End = time.Now().UTC().Truncate(24 * time.Hour) // the same plan all day
	plan, err := simulate.Plan(cohort)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	cm := casemgmt.New(l, nil, casemgmt.WithPatientSecret(secret))
	g, gctx := errgroup.WithContext(ctx)
	// All at once: the store commits concurrent appends together, so the
	// seeding takes about as long as one client's.
	for i := range demoClients {
		g.Go(func() error { return seedDemoClient(gctx, l, cm, i, names[i], plan[i], secret) })
	}
	return g.Wait()
}

// demoIdentifier is the i-th demo client's health-insurance number.
func demoIdentifier(i int) events.Identifier {
	return events.Identifier{Authority: "RAMQ", Value: fmt.Sprintf("DEMO%08d", i+1)}
}

// writeDemoVisits appends the planned ED visits of the i-th demo client
// (after: since enrolment, so the feed names the client), each visit its
// own stream; a visit already written is left as it is.
func writeDemoVisits(ctx context.Context, l ledger.Ledger, i int, id string, visits []simulate.PlannedVisit, after bool, secret []byte) error {
	ident := demoIdentifier(i)
	key := events.PatientKey(secret, ident)
	g, gctx := errgroup.WithContext(ctx)
	for n, pv := range visits {
		number := fmt.Sprintf("HIST-%03d-%d-%02d", i+1, map[bool]int{false: 0, true: 1}[after], n+1)
		pv.Facility = "HSTA"
		v := events.Visit{PatientKey: key, Facility: pv.Facility, VisitNumber: number}
		if after {
			v.ClientID = id
		} else {
			v.Identifier = &ident // not a client yet: as the feed sends it
		}
		evs, err := simulate.VisitEvents(pv, v, demoFeed, func(k int) string { return events.DeriveID("demo-history", number, fmt.Sprint(k)) })
		if err != nil {
			return fmt.Errorf("demo %s: %w", id, err)
		}
		g.Go(func() error {
			// One event per append, as the feed sends them (a batch of
			// several would cost the store an atomic batch each).
			for k, e := range evs {
				_, err := l.Append(gctx, events.VisitStream(pv.Facility, number), int64(k), e)
				if errors.Is(err, ledger.ErrWrongRevision) {
					return nil // written by an earlier start
				}
				if err != nil {
					return fmt.Errorf("demo %s, visit %s: %w", id, number, err)
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// registerDemo writes a directory entry with its demo token unless the
// entry exists. The directory service has no command for this: it issues
// random tokens only (RegisterStaff, RegisterPartner), and the demo's
// tokens must be the published "demo-<id>". So the entry is appended
// through ledger.Update here, with the service's own rule (an id is
// registered once) and the payload validated by events.New.
func registerDemo(ctx context.Context, l ledger.Ledger, stream string, p events.Payload) error {
	e, err := events.New(p, demoAdmin)
	if err != nil {
		return fmt.Errorf("demo %s: %w", stream, err)
	}
	_, err = ledger.Update(ctx, l, stream, func(history []events.Event) ([]events.Event, error) {
		if len(history) > 0 {
			return nil, nil
		}
		return []events.Event{e}, nil
	})
	if err != nil {
		return fmt.Errorf("demo %s: %w", stream, err)
	}
	return nil
}

// seedDemoClient writes the i-th demo client's ED visits of the year
// before enrolment, registers the client through the service (which claims
// the health-insurance number and derives the patient keys that link those
// visits), enrols them (enrolDemoClient), then writes the visits of the
// year after; a client already registered is skipped.
func seedDemoClient(ctx context.Context, l ledger.Ledger, cm *casemgmt.Service, i int, name [2]string, plan simulate.PlannedClient, secret []byte) error {
	id := fmt.Sprintf("client-%02d", i+1)
	history, err := l.Read(ctx, events.ClientStream(id), 1)
	if err != nil && !errors.Is(err, ledger.ErrStreamNotFound) {
		return fmt.Errorf("demo %s: %w", id, err)
	}
	if casemgmt.Fold(history).Registered {
		return nil
	}
	if err := writeDemoVisits(ctx, l, i, id, plan.Before, false, secret); err != nil {
		return err
	}
	reg, err := cm.RegisterClient(ctx, demoAdmin, events.ClientRegistered{ClientID: id, GivenName: name[0], FamilyName: name[1],
		Identifiers: []events.Identifier{demoIdentifier(i)}})
	if err != nil {
		return fmt.Errorf("demo %s, registration: %w", id, err)
	}
	if err := enrolDemoClient(ctx, l, i, id, reg.Revision, plan.EnrolledAt); err != nil {
		return err
	}
	return writeDemoVisits(ctx, l, i, id, plan.After, true, secret)
}

// enrolDemoClient flags, assigns and enrols the i-th demo client, just
// registered at revision rev (enrolled at the planned instant), with its
// consents (every fifth also referred to rehab). These are the case
// manager's commands (casemgmt Flag, AssignCaseManager, Enrol,
// GrantConsent, SendReferral) in the order she would give them, appended
// one after the other at the revisions they must follow, without each
// command's reads: through the services, 200 clients cost some 4,000
// ledger round trips and tens of seconds of start-up, and as one
// multi-event append each the store's atomic batches queue up for as long.
// The rules the services would check hold by construction (a registered
// client, flagged before enrolment, consent to rehab before the referral;
// payloads validated by events.New), and the expected revision refuses
// anything written in between.
func enrolDemoClient(ctx context.Context, l ledger.Ledger, i int, id string, rev uint64, at time.Time) error {
	consents := []string{events.CategoryDoctor, events.CategoryPharmacy, events.CategoryCommunity}
	if i%3 != 0 {
		consents = append(consents, events.CategoryFamily)
	}
	ps := []events.Payload{
		&events.ClientFlagged{ClientID: id, Programme: "defi-sante", Reason: "grand utilisateur de l'urgence / frequent ED user"},
		&events.CaseManagerAssigned{ClientID: id, StaffID: fmt.Sprintf("cm-%d", i%2+1)},
		&events.ClientEnrolled{ClientID: id, Programme: "defi-sante", EnrolledAt: at.UTC(), Consents: consents},
	}
	for _, c := range consents {
		pid := ""
		if c == events.CategoryDoctor {
			pid = fmt.Sprintf("doc-%d", i%3+1)
		}
		ps = append(ps, &events.ConsentGranted{ClientID: id, Category: c, PartnerID: pid})
	}
	if i%5 == 0 {
		ps = append(ps, &events.ConsentGranted{ClientID: id, Category: events.CategoryRehab},
			&events.ReferralSent{ClientID: id, ReferralID: "ref-1", PartnerID: "rehab-1", Category: events.CategoryRehab, Reason: "Dépendance / addiction"})
	}
	evs := make([]events.Event, len(ps))
	for n, p := range ps {
		e, err := events.New(p, demoAdmin)
		if err != nil {
			return fmt.Errorf("demo %s: %w", id, err)
		}
		evs[n] = e
	}
	for n, e := range evs {
		if _, err := l.Append(ctx, events.ClientStream(id), int64(rev)+int64(n), e); err != nil {
			return fmt.Errorf("demo %s, enrolment step %d: %w", id, n+1, err)
		}
	}
	return nil
}

// PrintDemoTokens tells the newcomer how to look around.
func PrintDemoTokens(w io.Writer, httpAddr string) {
	fmt.Fprintf(w, "\nDémo Relais / Relais demo — %d clients inscrits il y a plus d'un an, avec leur historique à l'urgence ; arrivées jouées / clients enrolled over a year ago, with their ED history; arrivals being played.\n", demoClients)
	fmt.Fprintln(w, "Jetons de démonstration (jamais en production) / demo tokens (never in production):")
	for _, s := range demoStaff {
		fmt.Fprintf(w, "  %-8s %-18s %s\n", s.id, s.role, demoToken(s.id))
	}
	for _, p := range demoPartners {
		fmt.Fprintf(w, "  %-8s %-18s %s\n", p.id, p.cat, demoToken(p.id))
	}
	fmt.Fprintf(w, "Try / essayez:\n  curl -N -H 'Authorization: Bearer %s' http://%s/v1/alerts/stream\n\n", demoToken("cm-1"), httpAddr)
}

// PlayArrivals sends an A04 for a random demo client every period, then its
// A03 a little later, until ctx ends.
func PlayArrivals(ctx context.Context, in *edintake.Service, log *zap.Logger, period time.Duration) error {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	t := time.NewTicker(period)
	defer t.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		n++
		i := rng.IntN(demoClients)
		visit := fmt.Sprintf("DEMO-%d-%d", time.Now().Unix(), n)
		m := edintake.Message{SendingFacility: "HSTA", SendingApplication: "DEMO", ControlID: fmt.Sprintf("demo-%d-%d", time.Now().UnixNano(), n),
			Trigger: "A04", At: time.Now().UTC(), VisitNumber: visit, Reason: "Dyspnée / shortness of breath",
			Identifiers: []events.Identifier{{Authority: "RAMQ", Value: fmt.Sprintf("DEMO%08d", i+1)}}}
		if _, err := in.Record(ctx, m); err != nil && ctx.Err() == nil {
			log.Warn("demo arrival", zap.Error(err))
		}
	}
}
