package clientfile_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/projections"
	"github.com/relais-health/relais/projections/clientfile"
)

// appendHistory writes steps to their streams as the services would.
// The runner can feed, snapshot and restore the projection.
var (
	_ projections.Applier     = (*clientfile.Projection)(nil)
	_ projections.Snapshotter = (*clientfile.Projection)(nil)
)

func appendHistory(t *testing.T, l ledger.Ledger, steps []step) uint64 {
	t.Helper()
	var head uint64
	for _, e := range build(steps) {
		stream := ""
		p, err := e.Payload()
		if err != nil {
			t.Fatal(err)
		}
		switch v := p.(type) {
		case *events.EDVisitStarted:
			stream = events.VisitStream(v.Facility, v.VisitNumber)
		case *events.EDVisitEnded:
			stream = events.VisitStream(v.Facility, v.VisitNumber)
		case *events.HospitalAdmitted:
			stream = events.VisitStream(v.Facility, v.VisitNumber)
		case *events.HospitalDischarged:
			stream = events.VisitStream(v.Facility, v.VisitNumber)
		case *events.PatientMerged:
			stream = events.FeedStream(v.Facility)
		default:
			var c struct {
				ClientID string `json:"client_id"`
			}
			if err := json.Unmarshal(e.Data, &c); err != nil || c.ClientID == "" {
				t.Fatalf("no stream for %s", e.Type)
			}
			stream = events.ClientStream(c.ClientID)
		}
		e.Position = 0
		r, err := l.Append(context.Background(), stream, ledger.Any, e)
		if err != nil {
			t.Fatal(err)
		}
		head = r.Position
	}
	return head
}

// counting counts the events a runner hands to the projection.
type counting struct {
	*clientfile.Projection
	applied atomic.Int64
}

func (c *counting) Apply(ctx context.Context, e events.Event) error {
	c.applied.Add(1)
	return c.Projection.Apply(ctx, e)
}

func run(t *testing.T, r *projections.Runner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Resume(ctx) }()
	select {
	case <-r.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("projection never caught up")
	}
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestOverTheLedgerTheFileIsBuiltLiveAndResumesFromItsSnapshot(t *testing.T) {
	env := jstest.Start(t, jstest.Options{})
	snaps, err := env.Store.Snapshots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	steps := history()
	half := len(steps) / 2
	appendHistory(t, env.Store, steps[:half])

	live := clientfile.New()
	r := &projections.Runner{Name: "clientfile", L: env.Store, P: live, Snapshots: snaps}
	stop := run(t, r)
	head := appendHistory(t, env.Store, steps[half:])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.WaitFor(ctx, head); err != nil {
		t.Fatal(err)
	}
	f, err := live.FileFor("c1", clientfile.Viewer{ActorID: "doc-1", Role: events.CategoryDoctor})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Visits) != 2 || f.Visits[1].Unit != "Psychiatrie" || f.Visits[0].Reason != "" || len(f.Medications) != 1 {
		t.Fatalf("doctor's view over the ledger: %+v", f)
	}
	if tl := live.Timeline("c1"); len(tl) == 0 || tl[len(tl)-1].Type != events.TypeConsentRevoked {
		t.Fatalf("timeline ends with %+v", tl[len(tl)-1])
	}
	stop()

	// A restarted runner restores the snapshot saved when the first one
	// stopped and applies only what came after: equal to a full rebuild.
	appendHistory(t, env.Store, []step{{&events.ContactMade{ClientID: "c1", StaffID: "cm-1", Channel: "phone", At: at(800)}, 800}})
	resumed := &counting{Projection: clientfile.New()}
	stop = run(t, &projections.Runner{Name: "clientfile", L: env.Store, P: resumed, Snapshots: snaps})
	defer stop()
	if n := resumed.applied.Load(); n != 1 {
		t.Fatalf("the resumed runner applied %d events, want only the one after the snapshot", n)
	}
	rebuilt := clientfile.New()
	if err := env.Store.Subscribe(context.Background(), 1, rebuilt.Apply, ledger.StopAtHead()); err != nil {
		t.Fatal(err)
	}
	if resumed.Digest() != rebuilt.Digest() {
		t.Fatalf("resumed %s, rebuilt %s", resumed.Digest(), rebuilt.Digest())
	}
	if f, _ := resumed.File("c1"); len(f.Contacts) != 2 {
		t.Fatalf("contacts after resume: %+v", f.Contacts)
	}
}
