package alertsbench

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/relais-health/relais/adapters/mllp"
	"github.com/relais-health/relais/events"
)

// DefaultFlaggedRates are the offered rates of the flagged mode.
var DefaultFlaggedRates = []int{100, 300, 1000}

// flaggedSenders is how many MLLP connections carry a flagged phase (an
// MLLP connection waits for each ACK, so one connection cannot offer
// 1,000 messages a second).
const flaggedSenders = 32

// Phase is one offered rate of the flagged mode.
type Phase struct {
	OfferedRate int `json:"offered_flagged_arrivals_per_second"`
	// Acked arrivals (each a new visit of a flagged client) and the rate
	// at which they were acknowledged.
	Acked     int     `json:"acked_arrivals"`
	AckedRate float64 `json:"acked_per_second"`
	// Alerted: acknowledged arrivals whose case manager's alert arrived on
	// SSE (within Drain); Latency is ACK -> alert over them.
	Alerted   int     `json:"alerted"`
	LatencyMS Latency `json:"ack_to_alert_ms"`
	// BacklogAtEnd is how many acknowledged arrivals had no alert yet when
	// the phase stopped sending; DrainMS how long after that the last one
	// came (0 when none was owed); Drained whether every one came.
	BacklogAtEnd int     `json:"backlog_at_end"`
	DrainMS      float64 `json:"drain_ms"`
	Drained      bool    `json:"drained"`
}

// FlaggedResult is a flagged-mode run.
type FlaggedResult struct {
	Recipients int     `json:"connected_sse_recipients"`
	Backend    string  `json:"backend"`
	Durability string  `json:"durability"`
	SecondsPer float64 `json:"seconds_per_phase"`
	Phases     []Phase `json:"phases"`
}

// WriteTable prints the result as `relais bench alerts --flagged` does.
func (r FlaggedResult) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "flagged mode: every arrival a flagged client's, %d SSE recipients, %s, durability %s, %.0fs per rate\n",
		r.Recipients, r.Backend, r.Durability, r.SecondsPer)
	fmt.Fprintf(w, "%8s %8s %8s %8s %9s %9s %9s %8s %9s %8s\n", "offered", "acked", "acked/s", "alerted", "p50 ms", "p99 ms", "max ms", "backlog", "drain ms", "drained")
	for _, p := range r.Phases {
		fmt.Fprintf(w, "%8d %8d %8.0f %8d %9.2f %9.2f %9.2f %8d %9.0f %8v\n", p.OfferedRate, p.Acked, p.AckedRate, p.Alerted,
			p.LatencyMS.P50, p.LatencyMS.P99, p.LatencyMS.Max, p.BacklogAtEnd, p.DrainMS, p.Drained)
	}
}

// flaggedWatch pairs each acknowledged arrival with its alert.
type flaggedWatch struct {
	mu      sync.Mutex
	acks    map[string]time.Time // thread id -> ACK
	alerts  map[string]time.Time // thread id -> alert on SSE
	pending int                  // acknowledged, no alert yet
	last    time.Time
}

func (f *flaggedWatch) raised(_, thread string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, dup := f.alerts[thread]; dup {
		return
	}
	f.alerts[thread] = at
	f.last = at
	if _, ok := f.acks[thread]; ok {
		f.pending--
	}
}

func (f *flaggedWatch) acked(thread string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acks[thread] = at
	if _, ok := f.alerts[thread]; !ok {
		f.pending++
	}
}

func (f *flaggedWatch) owed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pending
}

// RunFlagged runs the flagged mode: for each rate of cfg.FlaggedRates
// (default 100, 300, 1000), cfg.Duration of A04s at that offered rate, each
// a new visit of one of the cfg.Recipients flagged clients, over 32 MLLP
// connections; then it waits (up to cfg.Drain) for every alert owed and
// measures ACK -> alert on the case manager's SSE stream.
func RunFlagged(ctx context.Context, cfg Config, progress io.Writer) (FlaggedResult, error) {
	cfg = cfg.withDefaults()
	if progress == nil {
		progress = io.Discard
	}
	rates := cfg.FlaggedRates
	if len(rates) == 0 {
		rates = DefaultFlaggedRates
	}
	res := FlaggedResult{Recipients: cfg.Recipients, Backend: "embedded", Durability: "relaxed", SecondsPer: cfg.Duration.Seconds()}
	if cfg.Cluster {
		res.Backend = "3-node cluster (R3)"
	}
	if cfg.Strict {
		res.Durability = "strict"
	}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	b, err := startBed(actx, cfg, progress)
	if b != nil {
		defer b.close()
	}
	if err != nil {
		return res, err
	}
	w := &flaggedWatch{acks: map[string]time.Time{}, alerts: map[string]time.Time{}}
	if err := listen(actx, b, cfg.Recipients, w.raised); err != nil {
		return res, err
	}
	fmt.Fprintf(progress, "%d SSE streams open\n", b.app.Hub().Subscribers())
	for i, rate := range rates {
		if rate <= 0 {
			return res, fmt.Errorf("bench alerts: flagged rate %d: must be positive", rate)
		}
		fmt.Fprintf(progress, "%d flagged arrivals/s for %v...\n", rate, cfg.Duration)
		p, err := flaggedPhase(actx, b, cfg, w, i, rate)
		if err != nil {
			return res, err
		}
		fmt.Fprintf(progress, "  acked %d, backlog %d at the end, drained %v in %.0f ms\n", p.Acked, p.BacklogAtEnd, p.Drained, p.DrainMS)
		res.Phases = append(res.Phases, p)
	}
	return res, nil
}

// flaggedPhase offers rate arrivals a second for cfg.Duration, then waits
// for the alerts owed.
func flaggedPhase(ctx context.Context, b *bed, cfg Config, w *flaggedWatch, phase, rate int) (Phase, error) {
	p := Phase{OfferedRate: rate}
	n := int(float64(rate) * cfg.Duration.Seconds())
	jobs := make(chan int, n)
	var threads sync.Map // job -> thread id, for the latencies
	var sendErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	for range flaggedSenders {
		cl, err := mllp.Dial(ctx, b.mllpAddr, nil)
		if err != nil {
			return p, fmt.Errorf("bench alerts: dial mllp: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.Close()
			for j := range jobs {
				c := j % cfg.Recipients
				visit := fmt.Sprintf("VF%d-%d", phase, j)
				if _, err := cl.Send(ctx, adt(fmt.Sprintf("f%d-%d", phase, j), fmt.Sprintf("BENCH%06d", c), visit)); err != nil {
					errOnce.Do(func() { sendErr = fmt.Errorf("bench alerts: send flagged arrival: %w", err) })
					continue
				}
				t := events.DeriveID("thread", "HSTA", visit)
				w.acked(t, time.Now())
				threads.Store(j, t)
			}
		}()
	}
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	for j := range n {
		if d := time.Until(start.Add(time.Duration(j) * interval)); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				close(jobs)
				wg.Wait()
				return p, ctx.Err()
			}
		}
		jobs <- j
	}
	close(jobs)
	wg.Wait()
	end := time.Now()
	if sendErr != nil {
		return p, sendErr
	}
	p.BacklogAtEnd = w.owed()
	deadline := end.Add(cfg.Drain)
	for w.owed() > 0 && time.Now().Before(deadline) {
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return p, ctx.Err()
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	p.Drained = w.pending == 0
	if p.BacklogAtEnd > 0 && w.last.After(end) {
		p.DrainMS = float64(w.last.Sub(end).Microseconds()) / 1000
	}
	var lat []time.Duration
	threads.Range(func(_, v any) bool {
		p.Acked++
		t := v.(string)
		if at, ok := w.alerts[t]; ok {
			lat = append(lat, max(at.Sub(w.acks[t]), 0))
		}
		return true
	})
	p.AckedRate = float64(p.Acked) / end.Sub(start).Seconds()
	p.Alerted = len(lat)
	p.LatencyMS = summarize(lat)
	return p, nil
}
