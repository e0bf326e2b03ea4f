// Package replaybench measures what `relais bench replay` prints: every
// projection rebuilt from position 1 over a simulated ledger, beside a raw
// JetStream ordered-consumer read of the same stream, in events per second,
// with the peak heap of the rebuild, for each population size. It needs the
// write side (the simulator fills the ledger) and the read side together,
// so it lives with the assembled application rather than under either.
package replaybench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream"
	"github.com/relais-health/relais/infra/natsembed"
	"github.com/relais-health/relais/infra/progress"
	"github.com/relais-health/relais/projections/rebuild"
	"github.com/relais-health/relais/services/simulate"
)

// Target is the Relais/raw throughput ratio the rebuild must reach.
const Target = 0.7

// Config sizes the run.
type Config struct {
	// People are the simulated population sizes, one measurement each
	// (default 200,000 and 900,000; 900,000 people over 3 years write about
	// 5,000,000 events).
	People []int
	// Years of simulated history (default 3).
	Years int
	// CPUProfile, when set, is where a CPU profile of the Relais rebuild
	// (the last size's) goes, and its heap profile beside it (".heap").
	CPUProfile string
}

func (c Config) withDefaults() Config {
	if len(c.People) == 0 {
		c.People = []int{200_000, 900_000}
	}
	if c.Years <= 0 {
		c.Years = 3
	}
	return c
}

// Size is the measurement of one population size.
type Size struct {
	Clients      int     `json:"simulated_people"`
	Events       uint64  `json:"events"`
	RawPerSec    float64 `json:"raw_events_per_s"`
	RelaisPerSec float64 `json:"relais_events_per_s"`
	Ratio        float64 `json:"ratio"`
	PeakHeapMB   float64 `json:"peak_heap_mb"`
	Target       float64 `json:"target"`
	Met          bool    `json:"met"`
}

// Result is every size measured, in the order of Config.People.
type Result []Size

// WriteTable prints the result as `relais bench replay` does.
func (r Result) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "%10s %10s %14s %14s %7s %12s\n", "people", "events", "raw events/s", "relais ev/s", "ratio", "peak heap MB")
	for _, s := range r {
		fmt.Fprintf(w, "%10d %10d %14.0f %14.0f %7.2f %12.0f\n", s.Clients, s.Events, s.RawPerSec, s.RelaisPerSec, s.Ratio, s.PeakHeapMB)
	}
	fmt.Fprintf(w, "target: ratio >= %.1f (all projections: directory, client files, caseloads, reports)\n", Target)
}

// Run measures each size of cfg.People on its own fresh embedded server;
// progress receives the phases and a progress bar.
func Run(ctx context.Context, cfg Config, progressW io.Writer) (Result, error) {
	cfg = cfg.withDefaults()
	if progressW == nil {
		progressW = io.Discard
	}
	var out Result
	for _, n := range cfg.People {
		s, err := runSize(ctx, n, cfg.Years, cfg.CPUProfile, progressW)
		if err != nil {
			return out, fmt.Errorf("bench replay, %d people: %w", n, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func runSize(ctx context.Context, people, years int, cpuProfile string, progressW io.Writer) (Size, error) {
	res := Size{Clients: people, Target: Target}
	dir, err := os.MkdirTemp("", "relais-bench-replay-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	srv, err := natsembed.Start(natsembed.Config{DataDir: dir, Port: -1, NoListen: true})
	if err != nil {
		return res, fmt.Errorf("start nats: %w", err)
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL(), nats.InProcessServer(srv))
	if err != nil {
		return res, fmt.Errorf("connect: %w", err)
	}
	defer nc.Close()
	st, err := jetstream.Open(ctx, nc, jetstream.Config{})
	if err != nil {
		return res, fmt.Errorf("open ledger: %w", err)
	}
	defer st.Close()
	fmt.Fprintf(progressW, "simulating %d people over %d years (relaxed durability)...\n", people, years)
	bar := progress.New(progressW, "simulate", 0, true)
	sim, err := simulate.Run(ctx, st, simulate.Config{Clients: people, Years: years, Seed: 42, PatientSecret: []byte("bench-replay-secret"), Workers: 256, Progress: bar.Set})
	bar.Done()
	if err != nil {
		return res, fmt.Errorf("simulate: %w", err)
	}
	res.Events = sim.Events

	if res.RawPerSec, err = rawRead(ctx, nc, sim.Events); err != nil {
		return res, fmt.Errorf("raw read: %w", err)
	}
	el, peak, err := relaisRebuild(ctx, st, sim.Events, cpuProfile, progressW)
	if err != nil {
		return res, fmt.Errorf("rebuild: %w", err)
	}
	res.RelaisPerSec = float64(sim.Events) / el.Seconds()
	res.Ratio = res.RelaisPerSec / res.RawPerSec
	res.PeakHeapMB = float64(peak) / (1 << 20)
	res.Met = res.Ratio >= res.Target
	fmt.Fprintf(progressW, "  %d events: raw %.0f/s, relais %.0f/s (%.2f), peak heap %.0f MB\n", sim.Events, res.RawPerSec, res.RelaisPerSec, res.Ratio, res.PeakHeapMB)
	return res, nil
}

// rawRead reads n messages of the ledger's stream with an ordered consumer,
// touching every message, and returns messages per second.
func rawRead(ctx context.Context, nc *nats.Conn, n uint64) (float64, error) {
	js, err := natsjs.New(nc)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	cons, err := js.OrderedConsumer(ctx, jetstream.StreamName, natsjs.OrderedConsumerConfig{})
	if err != nil {
		return 0, err
	}
	it, err := cons.Messages(natsjs.PullMaxMessages(4096))
	if err != nil {
		return 0, err
	}
	defer it.Stop()
	var bytesRead int
	for range n {
		m, err := it.Next()
		if err != nil {
			return 0, err
		}
		bytesRead += len(m.Data())
	}
	return float64(n) / time.Since(t0).Seconds(), nil
}

// relaisRebuild feeds every projection from position 1 to the head and
// returns how long it took and the peak heap in use meanwhile.
func relaisRebuild(ctx context.Context, st *jetstream.Store, total uint64, cpuProfile string, progressW io.Writer) (time.Duration, uint64, error) {
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
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
	set := rebuild.New()
	bar := progress.New(progressW, "replay", total, true)
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			close(stop)
			<-sampled
			return 0, 0, fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			close(stop)
			<-sampled
			return 0, 0, fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	t1 := time.Now()
	err := st.Subscribe(ctx, 1, func(ctx context.Context, e events.Event) error {
		if e.Position%4096 == 0 {
			bar.Set(e.Position)
		}
		return set.Apply(ctx, e)
	}, ledger.StopAtHead())
	el := time.Since(t1)
	if cpuProfile != "" {
		pprof.StopCPUProfile()
		if f, err := os.Create(cpuProfile + ".heap"); err == nil {
			pprof.Lookup("heap").WriteTo(f, 0) //nolint:errcheck
			f.Close()
		}
	}
	close(stop)
	<-sampled
	bar.Done()
	if err != nil {
		return 0, 0, err
	}
	return el, peak.Load(), nil
}
