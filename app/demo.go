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

const demoClients = 30

func demoToken(id string) string { return "demo-" + id }

// demoAdmin is who seeds the demo territory.
var demoAdmin = events.Actor{ID: "admin", Role: events.RoleAdmin}

// SeedDemo writes the demo territory through the services, so the same
// invariants hold as for any request. It is idempotent: a staff member,
// partner or client already there is skipped, so a second start writes
// nothing (a client whose seeding was interrupted halfway stays as it was).
func SeedDemo(ctx context.Context, l ledger.Ledger) error {
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
	cm := casemgmt.New(l, nil)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range demoClients {
		g.Go(func() error { return seedDemoClient(gctx, l, cm, i, names[i]) })
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

// seedDemoClient registers, flags, assigns and enrols the i-th demo client
// with its consents (every fifth also referred to rehab), one command at a
// time, as a case manager would; a client already registered is skipped.
func seedDemoClient(ctx context.Context, l ledger.Ledger, cm *casemgmt.Service, i int, name [2]string) error {
	id := fmt.Sprintf("client-%02d", i+1)
	history, err := l.Read(ctx, events.ClientStream(id), 1)
	if err != nil && !errors.Is(err, ledger.ErrStreamNotFound) {
		return fmt.Errorf("demo %s: %w", id, err)
	}
	if casemgmt.Fold(history).Registered {
		return nil
	}
	consents := []string{events.CategoryDoctor, events.CategoryPharmacy, events.CategoryCommunity}
	if i%3 != 0 {
		consents = append(consents, events.CategoryFamily)
	}
	steps := []func() (ledger.Result, error){
		func() (ledger.Result, error) {
			return cm.RegisterClient(ctx, demoAdmin, events.ClientRegistered{ClientID: id, GivenName: name[0], FamilyName: name[1],
				Identifiers: []events.Identifier{{Authority: "RAMQ", Value: fmt.Sprintf("DEMO%08d", i+1)}}})
		},
		func() (ledger.Result, error) {
			return cm.Flag(ctx, demoAdmin, events.ClientFlagged{ClientID: id, Programme: "defi-sante", Reason: "grand utilisateur de l'urgence / frequent ED user"})
		},
		func() (ledger.Result, error) {
			return cm.AssignCaseManager(ctx, demoAdmin, events.CaseManagerAssigned{ClientID: id, StaffID: fmt.Sprintf("cm-%d", i%2+1)})
		},
		func() (ledger.Result, error) {
			return cm.Enrol(ctx, demoAdmin, events.ClientEnrolled{ClientID: id, Programme: "defi-sante", Consents: consents})
		},
	}
	for _, c := range consents {
		pid := ""
		if c == events.CategoryDoctor {
			pid = fmt.Sprintf("doc-%d", i%3+1)
		}
		steps = append(steps, func() (ledger.Result, error) {
			return cm.GrantConsent(ctx, demoAdmin, events.ConsentGranted{ClientID: id, Category: c, PartnerID: pid})
		})
	}
	if i%5 == 0 {
		steps = append(steps,
			func() (ledger.Result, error) {
				return cm.GrantConsent(ctx, demoAdmin, events.ConsentGranted{ClientID: id, Category: events.CategoryRehab})
			},
			func() (ledger.Result, error) {
				return cm.SendReferral(ctx, demoAdmin, events.ReferralSent{ClientID: id, ReferralID: "ref-1", PartnerID: "rehab-1", Category: events.CategoryRehab, Reason: "Dépendance / addiction"})
			})
	}
	for n, step := range steps {
		if _, err := step(); err != nil {
			return fmt.Errorf("demo %s, step %d: %w", id, n+1, err)
		}
	}
	return nil
}

// PrintDemoTokens tells the newcomer how to look around.
func PrintDemoTokens(w io.Writer, httpAddr string) {
	fmt.Fprintf(w, "\nDémo Relais / Relais demo — %d clients signalés, arrivées à l'urgence jouées / flagged clients, ED arrivals being played.\n", demoClients)
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
