package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
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

// SeedDemo writes the demo territory once (it is skipped when already there).
func SeedDemo(ctx context.Context, l ledger.Ledger) error {
	if _, err := l.Read(ctx, events.StaffStream("cm-1"), 1); err == nil {
		return nil
	} else if !errors.Is(err, ledger.ErrStreamNotFound) {
		return err
	}
	admin := events.Actor{ID: "admin", Role: events.RoleAdmin}
	put := func(stream string, ps ...events.Payload) error {
		evs := make([]events.Event, len(ps))
		for i, p := range ps {
			e, err := events.New(p, admin)
			if err != nil {
				return fmt.Errorf("demo %s: %w", stream, err)
			}
			evs[i] = e
		}
		_, err := l.Append(ctx, stream, ledger.NoStream, evs...)
		return err
	}
	for _, s := range demoStaff {
		if err := put(events.StaffStream(s.id), &events.StaffRegistered{StaffID: s.id, Role: s.role, Name: s.name, TokenHash: svcdirectory.HashToken(demoToken(s.id))}); err != nil {
			return err
		}
	}
	for _, p := range demoPartners {
		if err := put(events.PartnerStream(p.id), &events.PartnerRegistered{PartnerID: p.id, Category: p.cat, Name: p.name, TokenHash: svcdirectory.HashToken(demoToken(p.id))}); err != nil {
			return err
		}
	}
	rng := rand.New(rand.NewPCG(2006, 4))
	for i := range demoClients {
		id := fmt.Sprintf("client-%02d", i+1)
		cm := fmt.Sprintf("cm-%d", i%2+1)
		consents := []string{events.CategoryDoctor, events.CategoryPharmacy, events.CategoryCommunity}
		if i%3 != 0 {
			consents = append(consents, events.CategoryFamily)
		}
		ps := []events.Payload{
			&events.ClientRegistered{ClientID: id, GivenName: demoGiven[rng.IntN(len(demoGiven))], FamilyName: demoFamily[rng.IntN(len(demoFamily))],
				Identifiers: []events.Identifier{{Authority: "RAMQ", Value: fmt.Sprintf("DEMO%08d", i+1)}}},
			&events.ClientFlagged{ClientID: id, Programme: "defi-sante", Reason: "grand utilisateur de l'urgence / frequent ED user"},
			&events.CaseManagerAssigned{ClientID: id, StaffID: cm},
			&events.ClientEnrolled{ClientID: id, Programme: "defi-sante", EnrolledAt: time.Now().UTC(), Consents: consents},
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
		if err := put(events.ClientStream(id), ps...); err != nil {
			return err
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
