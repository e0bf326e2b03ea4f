package alerts_test

import (
	"context"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/projections/alerts"
)

// A projection rebuilt from position 1 over the same ledger equals the live
// one, and rebuilding appends nothing (every derived fact is already in).
func TestARebuiltProjectionHasTheDigestOfTheLiveOne(t *testing.T) {
	w := newWorld(t)
	now := time.Now()
	w.hl7(&events.EDVisitStarted{Visit: visit("c1", "V1"), ArrivedAt: now, Reason: "Dyspnée"})
	w.hl7(&events.EDVisitUpdated{Visit: visit("c1", "V1"), Reason: "Douleur thoracique"})
	w.hl7(&events.HospitalAdmitted{Visit: visit("c1", "V1"), AdmittedAt: now})
	w.hl7(&events.EDVisitStarted{Visit: visit("c2", "V2"), ArrivedAt: now}, 2) // a feed gap too
	w.hl7(&events.EDVisitStarted{Visit: visit("c1", "V9"), ArrivedAt: now})
	w.hl7(&events.EDVisitCancelled{Visit: visit("c1", "V9"), Trigger: "A11"})
	put(t, w.l, "client-c1", nil, &events.ConsentRevoked{ClientID: "c1", Category: "doctor"})
	w.settle()
	a := ofKind(w.p.Queue("cm-1"), "ed.arrival")[0]
	if _, err := w.service(now).Acknowledge(context.Background(), events.Actor{ID: "cm-1", Role: events.RoleCaseManager}, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.sweep(now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	w.settle()
	if len(w.p.Queue("pm-1")) == 0 {
		t.Fatal("the history escalated nothing to the programme manager")
	}

	head, err := w.l.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rebuilt := alerts.New(w.l, alerts.Config{})
	if err := w.l.Subscribe(context.Background(), 1, rebuilt.Apply, ledger.StopAtHead()); err != nil {
		t.Fatal(err)
	}
	if rebuilt.Digest() != w.p.Digest() {
		t.Fatalf("rebuilt digest %s, live %s", rebuilt.Digest(), w.p.Digest())
	}
	if after, _ := w.l.Head(context.Background()); after != head {
		t.Fatalf("rebuilding appended %d events", after-head)
	}

	// The digest does see the state: one event less, another digest.
	short := alerts.New(w.l, alerts.Config{})
	if err := w.l.Subscribe(context.Background(), 1, short.Apply, ledger.Until(head-1)); err != nil {
		t.Fatal(err)
	}
	if short.Digest() == w.p.Digest() {
		t.Fatal("a projection one event short has the live digest")
	}
}
