package alertsbench_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/app/alertsbench"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
)

// A short run on a real embedded server pages every case manager and
// prints the table `relais bench alerts` shows.
func TestShortRunMeasuresAlerts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Relais and runs for a second")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := alertsbench.Run(ctx, alertsbench.Config{Duration: time.Second, Rate: 20, Recipients: 5}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Measured == 0 || res.RelaisMS.Max <= 0 || res.RawNATSMS.P50 <= 0 {
		t.Fatalf("result %+v: want alerts and raw NATS measured", res)
	}
	var b bytes.Buffer
	res.WriteTable(&b)
	for _, want := range []string{"5 SSE recipients connected, 20 background ED messages/s", "(durability relaxed)", "Relais: MLLP ACK -> alert on SSE", "raw NATS: publish -> subscriber", "target: Relais p99 < 10 ms"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

// The flagged mode pages a case manager for every acknowledged arrival at
// each offered rate and says the queue drained, embedded and on a real
// 3-node cluster of nats-server processes.
func TestFlaggedModeDrains(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Relais and runs for a few seconds")
	}
	for _, tc := range []struct {
		name    string
		cluster bool
		backend string
	}{
		{"embedded", false, "embedded"},
		{"cluster", true, "3-node cluster (R3)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cfg := alertsbench.Config{Duration: time.Second, Recipients: 5, FlaggedRates: []int{10, 30}, Drain: time.Minute, Cluster: tc.cluster, Strict: true}
			if tc.cluster {
				cfg.NATSServer = jstest.NATSServerBinary(t)
			}
			res, err := alertsbench.RunFlagged(ctx, cfg, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Phases) != 2 || res.Backend != tc.backend {
				t.Fatalf("result %+v: want 2 phases on %s", res, tc.backend)
			}
			for i, want := range []int{10, 30} {
				p := res.Phases[i]
				if p.OfferedRate != want || p.Acked != want || p.Alerted != want || !p.Drained || p.LatencyMS.Max < p.LatencyMS.P50 {
					t.Errorf("phase %d: %+v: want %d acked, %d alerted, drained", i, p, want, want)
				}
			}
			var b bytes.Buffer
			res.WriteTable(&b)
			for _, want := range []string{"flagged mode: every arrival a flagged client's, 5 SSE recipients, " + tc.backend + ", durability strict", "backlog", "drained"} {
				if !strings.Contains(b.String(), want) {
					t.Errorf("table lacks %q:\n%s", want, b.String())
				}
			}
		})
	}
}
