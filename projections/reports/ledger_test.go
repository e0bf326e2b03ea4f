package reports_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/projections"
	"github.com/relais-health/relais/projections/reports"
)

// streamOf names the stream a service would append the event to.
// The runner can feed, snapshot and restore the projection.
var (
	_ projections.Applier     = (*reports.Projection)(nil)
	_ projections.Snapshotter = (*reports.Projection)(nil)
)

func streamOf(t *testing.T, e events.Event) string {
	t.Helper()
	p, err := e.Payload()
	if err != nil {
		t.Fatal(err)
	}
	switch v := p.(type) {
	case *events.EDVisitStarted:
		return events.VisitStream(v.Facility, v.VisitNumber)
	case *events.EDVisitEnded:
		return events.VisitStream(v.Facility, v.VisitNumber)
	case *events.HospitalAdmitted:
		return events.VisitStream(v.Facility, v.VisitNumber)
	case *events.EDVisitCancelled:
		return events.VisitStream(v.Facility, v.VisitNumber)
	case *events.PatientMerged:
		return events.FeedStream(v.Facility)
	case *events.ClientRegistered:
		return events.ClientStream(v.ClientID)
	case *events.ClientEnrolled:
		return events.ClientStream(v.ClientID)
	case *events.CaseClosed:
		return events.ClientStream(v.ClientID)
	case *events.ObjectiveAdded:
		return events.ClientStream(v.ClientID)
	case *events.ObjectiveMet:
		return events.ClientStream(v.ClientID)
	case *events.ObjectiveAbandoned:
		return events.ClientStream(v.ClientID)
	}
	t.Fatalf("no stream for %s", e.Type)
	return ""
}

func TestOverTheLedgerReportsFollowLiveEvents(t *testing.T) {
	l := jstest.Ledger(t)
	put := func(evs []events.Event) uint64 {
		t.Helper()
		var pos uint64
		for _, e := range evs {
			e.Position = 0
			r, err := l.Append(context.Background(), streamOf(t, e), ledger.Any, e)
			if err != nil {
				t.Fatal(err)
			}
			pos = r.Position
		}
		return pos
	}
	h := programme()
	half := len(h.evs) / 2
	put(h.evs[:half])

	p := reports.New(reports.Config{Now: func() time.Time { return end }, Location: time.UTC})
	r := &projections.Runner{Name: "reports", L: l, P: p}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx, 1) }()
	t.Cleanup(func() { cancel(); <-done })
	<-r.Ready()

	pos := put(h.evs[half:])
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := r.WaitFor(wctx, pos); err != nil {
		t.Fatal(err)
	}
	// The same history applied in memory gives the same state and reports.
	want := newProjection(t, h.evs)
	if p.Digest() != want.Digest() {
		t.Fatal("the projection fed by the ledger differs from the one fed in memory")
	}
	q := reports.Query{IncludeIdentifiers: true, Window: 3 * 365 * 24 * time.Hour}
	if got := p.HighUtilizers(q); !reflect.DeepEqual(got, want.HighUtilizers(q)) || len(got) != 5 || got[0].ClientID != "c1" {
		t.Fatalf("high utilizers over the ledger: %+v", got)
	}
	o := p.Outcomes(reports.OutcomeQuery{AsOf: end})
	if !reflect.DeepEqual(o, want.Outcomes(reports.OutcomeQuery{AsOf: end})) || o.Cohorts[2].BeforeVisits != 14 || o.Cohorts[2].FollowUpTooShort != 1 {
		t.Fatalf("outcomes over the ledger: %+v", o.Cohorts)
	}
}
