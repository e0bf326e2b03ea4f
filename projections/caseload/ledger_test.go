package caseload_test

import (
	"context"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/projections"
	"github.com/relais-health/relais/projections/caseload"
)

// The runner can feed, snapshot and restore the projection.
var (
	_ projections.Applier     = (*caseload.Projection)(nil)
	_ projections.Snapshotter = (*caseload.Projection)(nil)
)

func TestOverTheLedgerTheCaseloadFollowsLiveEvents(t *testing.T) {
	l := jstest.Ledger(t)
	put := func(stream string, ps ...events.Payload) uint64 {
		t.Helper()
		var pos uint64
		for i, p := range ps {
			e := events.MustNew(p, admin, events.WithOccurredAt(day(float64(i))))
			r, err := l.Append(context.Background(), stream, ledger.Any, e)
			if err != nil {
				t.Fatal(err)
			}
			pos = r.Position
		}
		return pos
	}
	put("staff-cm-1", &events.StaffRegistered{StaffID: "cm-1", Role: events.RoleCaseManager, Name: "Infirmière"})
	put("client-c1",
		&events.CaseManagerAssigned{ClientID: "c1", StaffID: "cm-1"},
		&events.ObjectiveAdded{ClientID: "c1", PlanID: "p1", ObjectiveID: "o1", Description: "Médication"},
		&events.ContactMade{ClientID: "c1", StaffID: "cm-1", Channel: "ed", At: day(2)})

	p := caseload.New(caseload.Config{})
	r := &projections.Runner{Name: "caseload", L: l, P: p}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx, 1) }()
	t.Cleanup(func() { cancel(); <-done })
	<-r.Ready()

	if c := p.Caseload("cm-1", day(12)); c.Active != 1 || c.OpenObjectives != 1 || c.Clients[0].DaysSinceContact != 10 {
		t.Fatalf("caseload after catch-up: %+v", c)
	}
	put("client-c2", &events.CaseManagerAssigned{ClientID: "c2", StaffID: "cm-1"})
	pos := put("alert-a1", raised("a1", "cm-1", "c2"))
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := r.WaitFor(wctx, pos); err != nil {
		t.Fatal(err)
	}
	c := p.Caseload("cm-1", day(12))
	if c.Active != 2 || c.UnacknowledgedAlerts != 1 || c.NeverContacted != 1 || c.Clients[0].ClientID != "c2" {
		t.Fatalf("caseload after live events: %+v", c)
	}
}
