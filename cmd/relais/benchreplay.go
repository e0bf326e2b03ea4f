package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream"
	"github.com/relais-health/relais/infra/natsembed"
	"github.com/relais-health/relais/infra/progress"
	"github.com/relais-health/relais/services/simulate"
)

// replayBench is one size of `relais bench replay`.
type replayBench struct {
	Clients      int     `json:"simulated_people"`
	Events       uint64  `json:"events"`
	RawPerSec    float64 `json:"raw_events_per_s"`
	RelaisPerSec float64 `json:"relais_events_per_s"`
	Ratio        float64 `json:"ratio"`
	PeakHeapMB   float64 `json:"peak_heap_mb"`
	Target       float64 `json:"target"`
	Met          bool    `json:"met"`
}

func newBenchReplayCmd() *cobra.Command {
	var people []int
	var years int
	var asJSON bool
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "rebuild every projection over a simulated ledger beside a raw JetStream ordered-consumer read of the same stream; events/s, ratio, peak memory per size",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out []replayBench
			for _, n := range people {
				r, err := benchReplay(cmd.Context(), n, years, cpuProfile, os.Stderr)
				if err != nil {
					return err
				}
				out = append(out, r)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%10s %10s %14s %14s %7s %12s\n", "people", "events", "raw events/s", "relais ev/s", "ratio", "peak heap MB")
			for _, r := range out {
				fmt.Fprintf(w, "%10d %10d %14.0f %14.0f %7.2f %12.0f\n", r.Clients, r.Events, r.RawPerSec, r.RelaisPerSec, r.Ratio, r.PeakHeapMB)
			}
			fmt.Fprintln(w, "target: ratio >= 0.7 (all projections: directory, client files, caseloads, reports)")
			return nil
		},
	}
	cmd.Flags().IntSliceVar(&people, "people", []int{200_000, 900_000}, "simulated population sizes (900,000 people over 3 years write about 5,000,000 events)")
	cmd.Flags().IntVar(&years, "years", 3, "years of simulated history")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the Relais rebuild (the last size's) to this file")
	return cmd
}

func benchReplay(ctx context.Context, people, years int, cpuProfile string, progressW io.Writer) (replayBench, error) {
	res := replayBench{Clients: people, Target: 0.7}
	dir, err := os.MkdirTemp("", "relais-bench-replay-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	srv, err := natsembed.Start(natsembed.Config{DataDir: dir, Port: -1, NoListen: true})
	if err != nil {
		return res, err
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL(), nats.InProcessServer(srv))
	if err != nil {
		return res, err
	}
	defer nc.Close()
	st, err := jetstream.Open(ctx, nc, jetstream.Config{})
	if err != nil {
		return res, err
	}
	defer st.Close()
	fmt.Fprintf(progressW, "simulating %d people over %d years (relaxed durability)...\n", people, years)
	bar := progress.New(progressW, "simulate", 0, true)
	sim, err := simulate.Run(ctx, st, simulate.Config{Clients: people, Years: years, Seed: 42, PatientSecret: []byte("bench-replay-secret"), Workers: 256, Progress: bar.Set})
	bar.Done()
	if err != nil {
		return res, err
	}
	res.Events = sim.Events

	// Raw: an ordered consumer over the same stream, touching every message.
	js, _ := natsjs.New(nc)
	t0 := time.Now()
	cons, err := js.OrderedConsumer(ctx, jetstream.StreamName, natsjs.OrderedConsumerConfig{})
	if err != nil {
		return res, err
	}
	it, err := cons.Messages(natsjs.PullMaxMessages(4096))
	if err != nil {
		return res, err
	}
	var bytesRead int
	for range sim.Events {
		m, err := it.Next()
		if err != nil {
			return res, err
		}
		bytesRead += len(m.Data())
	}
	it.Stop()
	res.RawPerSec = float64(sim.Events) / time.Since(t0).Seconds()

	// Relais: every projection rebuilt from position 1.
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	set := newProjectionSet()
	bar = progress.New(progressW, "replay", sim.Events, true)
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return res, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return res, err
		}
		defer pprof.StopCPUProfile()
	}
	t1 := time.Now()
	err = st.Subscribe(ctx, 1, func(ctx context.Context, e events.Event) error {
		if e.Position%4096 == 0 {
			bar.Set(e.Position)
		}
		return set.apply(ctx, e)
	}, ledger.StopAtHead())
	el := time.Since(t1)
	if cpuProfile != "" {
		pprof.StopCPUProfile()
		if f, err := os.Create(cpuProfile + ".heap"); err == nil {
			pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}
	close(stop)
	bar.Done()
	if err != nil {
		return res, err
	}
	res.RelaisPerSec = float64(sim.Events) / el.Seconds()
	res.Ratio = res.RelaisPerSec / res.RawPerSec
	res.PeakHeapMB = float64(peak.Load()) / (1 << 20)
	res.Met = res.Ratio >= res.Target
	fmt.Fprintf(progressW, "  %d events: raw %.0f/s, relais %.0f/s (%.2f), peak heap %.0f MB\n", sim.Events, res.RawPerSec, res.RelaisPerSec, res.Ratio, res.PeakHeapMB)
	return res, nil
}
