package simulate_test

import (
	"context"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/services/simulate"
)

func TestSimulationIsRealisticAndDeterministic(t *testing.T) {
	end := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	cfg := simulate.Config{Clients: 400, Years: 3, Seed: 7, End: end, PatientSecret: []byte("s")}
	l := jstest.Ledger(t)
	st, err := simulate.Run(context.Background(), l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Enrolled == 0 || st.Visits == 0 {
		t.Fatalf("stats %+v: nobody enrolled or no visit", st)
	}
	// A minority of patients make most visits (heavy tail).
	perKey := map[string]int{}
	var total int
	ids := map[string]bool{}
	err = l.Subscribe(context.Background(), 1, func(_ context.Context, e events.Event) error {
		ids[e.ID] = true
		if e.Type == events.TypeEDVisitStarted {
			p, err := e.Payload()
			if err != nil {
				return err
			}
			perKey[p.(*events.EDVisitStarted).PatientKey]++
			total++
		}
		return nil
	}, ledger.StopAtHead())
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(ids)) != st.Events {
		t.Fatalf("ledger holds %d events, simulator says %d", len(ids), st.Events)
	}
	counts := make([]int, 0, len(perKey))
	for _, n := range perKey {
		counts = append(counts, n)
	}
	top := 0
	for _, n := range topTenPercent(counts, cfg.Clients) {
		top += n
	}
	if float64(top) < 0.4*float64(total) {
		t.Fatalf("top 10%% of patients make %d of %d visits: not heavy-tailed", top, total)
	}

	// The same seed writes the same history (same event ids).
	l2 := jstest.Ledger(t)
	if _, err := simulate.Run(context.Background(), l2, cfg); err != nil {
		t.Fatal(err)
	}
	same := 0
	l2.Subscribe(context.Background(), 1, func(_ context.Context, e events.Event) error { //nolint:errcheck
		if ids[e.ID] {
			same++
		}
		return nil
	}, ledger.StopAtHead())
	if same != len(ids) {
		t.Fatalf("second run shares %d of %d event ids", same, len(ids))
	}
}

func topTenPercent(counts []int, population int) []int {
	// selection of the largest population/10 counts
	k := population / 10
	out := []int{}
	for range k {
		best, bi := -1, -1
		for i, c := range counts {
			if c > best {
				best, bi = c, i
			}
		}
		if bi < 0 {
			break
		}
		out = append(out, best)
		counts[bi] = -1
	}
	return out
}
