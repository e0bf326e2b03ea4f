package rebuild_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/projections/rebuild"
)

// seed writes n registered clients, two events each, and returns the ledger.
func seed(t *testing.T, n int) ledger.Ledger {
	t.Helper()
	l := jstest.Ledger(t)
	admin := events.Actor{ID: "admin", Role: events.RoleAdmin}
	for i := range n {
		id := fmt.Sprintf("c%d", i+1)
		_, err := l.Append(context.Background(), events.ClientStream(id), ledger.NoStream,
			events.MustNew(&events.ClientRegistered{ClientID: id, GivenName: "Given", FamilyName: "Family", Identifiers: []events.Identifier{{Authority: "RAMQ", Value: "TEST" + id}}}, admin),
			events.MustNew(&events.ClientFlagged{ClientID: id, Programme: "defi-sante"}, admin))
		if err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func TestReplay(t *testing.T) {
	l := seed(t, 3)
	tests := []struct {
		name       string
		until      rebuild.Until
		wantEvents uint64
		wantFile   map[string]bool // client id -> has a file
		wantBefore bool            // FirstAfter is set
	}{
		{"no limit replays everything", rebuild.Until{}, 6, map[string]bool{"c1": true, "c3": true}, false},
		{"a position stops after that event", rebuild.Until{Position: 2}, 2, map[string]bool{"c1": true, "c2": false}, false},
		{"an instant before the first event replays nothing and says when the first was", rebuild.Until{Time: time.Now().Add(-time.Hour)}, 0, map[string]bool{"c1": false}, true},
		{"an instant after the last event replays everything", rebuild.Until{Time: time.Now().Add(time.Hour)}, 6, map[string]bool{"c3": true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := rebuild.New()
			var seen uint64
			st, err := rebuild.Replay(context.Background(), l, tt.until, set, func(uint64) { seen++ })
			if err != nil {
				t.Fatal(err)
			}
			if st.Events != tt.wantEvents || seen != tt.wantEvents {
				t.Fatalf("replayed %d events (progress %d), want %d", st.Events, seen, tt.wantEvents)
			}
			if tt.wantEvents > 0 && (st.Last != tt.wantEvents || st.LastAt.IsZero() || !set.At().Equal(st.LastAt)) {
				t.Errorf("stats %+v, set at %v: want last position %d and its time", st, set.At(), tt.wantEvents)
			}
			if got := !st.FirstAfter.IsZero(); got != tt.wantBefore {
				t.Errorf("FirstAfter %v, want set: %v", st.FirstAfter, tt.wantBefore)
			}
			for id, want := range tt.wantFile {
				if _, ok := set.File(id); ok != want {
					t.Errorf("file of %s: %v, want %v", id, ok, want)
				}
			}
		})
	}
}

func TestExportWritesEveryProjection(t *testing.T) {
	l := seed(t, 2)
	set := rebuild.New()
	if _, err := rebuild.Replay(context.Background(), l, rebuild.Until{}, set, nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := set.Export(dir, time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"directory.json", "clients.json", "caseloads.json", "high-utilizers.json", "outcomes.json", "digests.json", "high-utilizers.csv", "outcomes.csv", "outcomes.svg"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v (size %v)", f, err, fi)
		}
	}
}
