// Package ledgerbench measures the Relais ledger side by side with raw
// JetStream on the same embedded server and payload size, in one run: the
// figures `relais bench ledger` prints and docs/BENCHMARKS.md records.
package ledgerbench

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	rjs "github.com/relais-health/relais/infra/ledger/jetstream"
	"github.com/relais-health/relais/infra/natsembed"
)

// Config sizes the run.
type Config struct {
	// Dir holds the temporary data directories (default os.TempDir()).
	Dir string
	// Duration of each timed write phase (default 3s).
	Duration time.Duration
	// Writers in the strict phase (default 64).
	Writers int
	// Pipeline: concurrent appenders in the pipelined phase (default 1024).
	Pipeline int
	// ReplayEvents in the replay phase (default 1,000,000).
	ReplayEvents int
	// Progress receives a line per phase; nil for none.
	Progress io.Writer
}

// Result is one side-by-side figure.
type Result struct {
	Name     string        `json:"name"`
	Unit     string        `json:"unit"`
	Raw      float64       `json:"raw"`
	Relais   float64       `json:"relais"`
	Ratio    float64       `json:"ratio"`
	Target   float64       `json:"target"`
	Met      bool          `json:"met"`
	RawP50   time.Duration `json:"raw_p50_ns,omitempty"`
	RawP99   time.Duration `json:"raw_p99_ns,omitempty"`
	RelP50   time.Duration `json:"relais_p50_ns,omitempty"`
	RelP99   time.Duration `json:"relais_p99_ns,omitempty"`
	Note     string        `json:"note,omitempty"`
	Duration time.Duration `json:"-"`
	// RawChecked is raw JetStream doing the one thing a ledger cannot skip
	// on every append: the server's per-stream concurrency check (each
	// message carries Nats-Expected-Last-Subject-Sequence, one subject per
	// stream), with nothing else of the ledger. It bounds what any ledger
	// that has the server check revisions can reach. Zero where it does
	// not apply (replay).
	RawChecked float64 `json:"raw_checked,omitempty"`
}

// Report is the whole run.
type Report struct {
	PayloadBytes int      `json:"payload_bytes"`
	Results      []Result `json:"results"`
}

// env is one embedded server with a raw stream and the Relais ledger.
type env struct {
	srv *natsembed.Server
	nc  *nats.Conn
	js  jetstream.JetStream
	st  *rjs.Store
	dir string
}

// start runs a server; serverSync turns on the server's SyncAlways (raw
// JetStream's strict durability), relaisStrict Relais's own group commit
// with one fsync per group (how `relais serve --durability strict` runs).
func start(ctx context.Context, base string, serverSync, relaisStrict bool) (*env, error) {
	dir, err := os.MkdirTemp(base, "relais-bench-")
	if err != nil {
		return nil, err
	}
	srv, err := natsembed.Start(natsembed.Config{DataDir: dir, Port: -1, SyncAlways: serverSync, NoListen: true})
	if err != nil {
		return nil, err
	}
	// Both sides use the same in-process connection, as `relais serve` does.
	nc, err := nats.Connect(srv.ClientURL(), nats.InProcessServer(srv))
	if err != nil {
		srv.Shutdown()
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "RAW", Subjects: []string{"raw.>"}, Storage: jetstream.FileStorage}); err != nil {
		return nil, err
	}
	// Every event is sealed, as in production (serve --seal-key): a fresh
	// random key per run.
	key := make([]byte, ledger.MinSealKeyBytes)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	keys, err := ledger.NewKeyring(key)
	if err != nil {
		return nil, err
	}
	// The high-water mark of the last acknowledged position, as every
	// command on --data records it (fsynced when strict).
	hw, err := natsembed.OpenHighWater(dir, serverSync || relaisStrict)
	if err != nil {
		return nil, err
	}
	cfg := rjs.Config{SyncAlways: serverSync, Keys: keys, HighWater: hw}
	if relaisStrict {
		cfg.Syncer = srv.StreamSyncer(rjs.StreamName)
	}
	st, err := rjs.Open(ctx, nc, cfg)
	if err != nil {
		return nil, err
	}
	return &env{srv: srv, nc: nc, js: js, st: st, dir: dir}, nil
}

func (e *env) close() {
	e.st.Close()
	e.nc.Close()
	e.srv.Shutdown()
	os.RemoveAll(e.dir)
}

// template is the bench event: a real catalog event, built once like an
// application builds its events; each append gets a fresh id.
var template = events.MustNew(&events.ContactMade{ClientID: "client-bench", StaffID: "cm-1", Channel: "phone",
	At: time.Unix(1_700_000_000, 0).UTC(), Note: "Appel de suivi"}, events.Actor{ID: "cm-1", Role: events.RoleCaseManager})

var ids atomic.Uint64

// event returns the template with a new, unique UUID (a version 7 layout
// whose random bits count up; built without fmt, which would be the
// harness's cost counted as the ledger's).
func event(int) events.Event {
	e := template
	n := ids.Add(1)
	b := []byte("01900000-0000-7000-8000-000000000000")
	const hex = "0123456789abcdef"
	for i := len(b) - 1; i >= 9 && n > 0; i-- {
		if b[i] == '-' || i == 14 || i == 19 {
			continue
		}
		b[i] = hex[n&0xf]
		n >>= 4
	}
	e.ID = string(b)
	return e
}

// names returns n subject or stream names, prefix followed by 0…n-1,
// made before the clock starts.
func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

// payloadSize is the stored body size of a bench event.
func payloadSize() int {
	evs := []events.Event{event(1)}
	if err := ledger.Validate("client-bench-00000", evs); err != nil {
		panic(err)
	}
	bodies, err := ledger.Seal("client-bench-00000", ledger.Head{Revision: 41, Hash: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}, time.Now().UTC(), evs)
	if err != nil {
		panic(err)
	}
	return len(bodies[0])
}

func (c *Config) defaults() {
	if c.Duration == 0 {
		c.Duration = 3 * time.Second
	}
	if c.Writers == 0 {
		c.Writers = 64
	}
	if c.Pipeline == 0 {
		c.Pipeline = 1024
	}
	if c.ReplayEvents == 0 {
		c.ReplayEvents = 1_000_000
	}
	if c.Dir == "" {
		c.Dir = os.TempDir()
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

// Run measures everything.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg.defaults()
	size := payloadSize()
	payload := make([]byte, size)
	rand.Read(payload) //nolint:errcheck
	rep := Report{PayloadBytes: size}
	phases := []func(context.Context, Config, []byte) (Result, error){strictConcurrent, relaxedSync, relaxedPipelined, replay}
	for _, ph := range phases {
		r, err := ph(ctx, cfg, payload)
		if err != nil {
			return rep, err
		}
		r.Ratio = r.Relais / r.Raw
		r.Met = r.Ratio >= r.Target
		rep.Results = append(rep.Results, r)
		fmt.Fprintf(cfg.Progress, "  %-46s raw %12.0f  relais %12.0f  ratio %6.2f (target ≥ %.1f)\n", r.Name, r.Raw, r.Relais, r.Ratio, r.Target)
	}
	return rep, nil
}

// timed runs fn on n goroutines until d has passed; fn returns false to
// stop early on error. It returns the operations counted per second.
func timed(d time.Duration, n int, fn func(w, i int) error) (float64, error) {
	var count atomic.Int64
	var firstErr error
	var once sync.Once
	stop := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				if err := fn(w, i); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(count.Load()) / time.Since(start).Seconds(), firstErr
}

func strictConcurrent(ctx context.Context, cfg Config, payload []byte) (Result, error) {
	fmt.Fprintf(cfg.Progress, "strict durability, %d concurrent writers on distinct streams...\n", cfg.Writers)
	// Raw JetStream's strict durability is the server's SyncAlways: one
	// fsync per message.
	rawEnv, err := start(ctx, cfg.Dir, true, false)
	if err != nil {
		return Result{}, err
	}
	rawSubj := names("raw.w", cfg.Writers)
	raw, err := timed(cfg.Duration, cfg.Writers, func(w, i int) error {
		_, err := rawEnv.js.Publish(ctx, rawSubj[w], payload)
		return err
	})
	if err != nil {
		rawEnv.close()
		return Result{}, fmt.Errorf("raw strict: %w", err)
	}
	checked, err := timedChecked(ctx, rawEnv.js, cfg.Duration, names("raw.cw", cfg.Writers), payload)
	rawEnv.close()
	if err != nil {
		return Result{}, fmt.Errorf("raw strict, checked: %w", err)
	}
	// Relais strict, as `relais serve` runs it: group commit, one fsync
	// per group of concurrent appends.
	e, err := start(ctx, cfg.Dir, false, true)
	if err != nil {
		return Result{}, err
	}
	defer e.close()
	streams := names("client-w", cfg.Writers)
	rel, err := timed(cfg.Duration, cfg.Writers, func(w, i int) error {
		_, err := e.st.Append(ctx, streams[w], int64(i), event(i))
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("relais strict: %w", err)
	}
	st := e.st.Stats()
	return Result{Name: fmt.Sprintf("strict, %d writers, events/s", cfg.Writers), Unit: "events/s", Raw: raw, RawChecked: checked, Relais: rel, Target: 10,
		Note: fmt.Sprintf("raw: server SyncAlways, one fsync per message; relais: group commit, %d events in %d fsync'd groups (%.1f per fsync)",
			st.Events, st.Syncs, float64(st.Events)/float64(max(st.Syncs, 1)))}, nil
}

func relaxedSync(ctx context.Context, cfg Config, payload []byte) (Result, error) {
	fmt.Fprintln(cfg.Progress, "relaxed durability, one synchronous append at a time...")
	e, err := start(ctx, cfg.Dir, false, false)
	if err != nil {
		return Result{}, err
	}
	defer e.close()
	var rawLat, relLat []time.Duration
	raw, err := timed(cfg.Duration, 1, func(_, i int) error {
		t := time.Now()
		_, err := e.js.Publish(ctx, "raw.one", payload)
		rawLat = append(rawLat, time.Since(t))
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("raw sync: %w", err)
	}
	checked, err := timedChecked(ctx, e.js, cfg.Duration, []string{"raw.checked"}, payload)
	if err != nil {
		return Result{}, fmt.Errorf("raw sync, checked: %w", err)
	}
	rel, err := timed(cfg.Duration, 1, func(_, i int) error {
		t := time.Now()
		_, err := e.st.Append(ctx, "client-one", int64(i), event(i))
		relLat = append(relLat, time.Since(t))
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("relais sync: %w", err)
	}
	r := Result{Name: "relaxed, synchronous, events/s", Unit: "events/s", Raw: raw, RawChecked: checked, Relais: rel, Target: 0.8}
	r.RawP50, r.RawP99 = pct(rawLat, 50), pct(rawLat, 99)
	r.RelP50, r.RelP99 = pct(relLat, 50), pct(relLat, 99)
	r.Note = fmt.Sprintf("p50 raw %v relais %v; p99 raw %v relais %v", r.RawP50, r.RelP50, r.RawP99, r.RelP99)
	return r, nil
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, len(s)*p/100)]
}

func relaxedPipelined(ctx context.Context, cfg Config, payload []byte) (Result, error) {
	fmt.Fprintf(cfg.Progress, "relaxed durability, pipelined (%d appenders vs raw async publish)...\n", cfg.Pipeline)
	e, err := start(ctx, cfg.Dir, false, false)
	if err != nil {
		return Result{}, err
	}
	defer e.close()
	raw, err := rawAsync(ctx, e.js, cfg.Duration, payload)
	if err != nil {
		return Result{}, fmt.Errorf("raw async: %w", err)
	}
	checked, err := rawAsyncChecked(ctx, e.js, cfg.Duration, cfg.Pipeline, payload)
	if err != nil {
		return Result{}, fmt.Errorf("raw async, checked: %w", err)
	}
	streams := names("client-p", cfg.Pipeline)
	rel, err := timed(cfg.Duration, cfg.Pipeline, func(w, i int) error {
		_, err := e.st.Append(ctx, streams[w], int64(i), event(i))
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("relais pipelined: %w", err)
	}
	return Result{Name: "relaxed, pipelined, events/s", Unit: "events/s", Raw: raw, RawChecked: checked, Relais: rel, Target: 0.8,
		Note: fmt.Sprintf("raw: PublishAsync, 4,000 in flight; relais: %d concurrent appenders", cfg.Pipeline)}, nil
}

// rawAsync publishes with PublishAsync for d and returns acknowledged/s.
func rawAsync(ctx context.Context, js jetstream.JetStream, d time.Duration, payload []byte) (float64, error) {
	start := time.Now()
	stop := start.Add(d)
	n := 0
	for time.Now().Before(stop) {
		for range 1000 {
			if _, err := js.PublishAsync("raw.async", payload, jetstream.WithStallWait(5*time.Second)); err != nil {
				return 0, err
			}
			n++
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		return 0, fmt.Errorf("async publishes not acknowledged")
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// timedChecked is timed raw publishing, each goroutine to its own subject
// with the expected last sequence of that subject (its previous ack), the
// server-side concurrency check of a ledger and nothing more.
func timedChecked(ctx context.Context, js jetstream.JetStream, d time.Duration, subjects []string, payload []byte) (float64, error) {
	last := make([]uint64, len(subjects))
	return timed(d, len(subjects), func(w, _ int) error {
		ack, err := js.Publish(ctx, subjects[w], payload, jetstream.WithExpectLastSequencePerSubject(last[w]))
		if err != nil {
			return err
		}
		last[w] = ack.Sequence
		return nil
	})
}

// rawAsyncChecked is rawAsync spread over n subjects, each message with
// the expected last sequence of its subject. On a stream of its own the
// sequences are known in advance (the k-th message gets k), so the
// publisher need not wait for acks: raw JetStream's asynchronous publish
// with the server's per-stream check.
func rawAsyncChecked(ctx context.Context, js jetstream.JetStream, d time.Duration, n int, payload []byte) (float64, error) {
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "CHECKED", Subjects: []string{"checked.>"}, Storage: jetstream.FileStorage}); err != nil {
		return 0, err
	}
	subjects := names("checked.p", n)
	last := make([]uint64, n)
	var seq uint64
	start := time.Now()
	stop := start.Add(d)
	for time.Now().Before(stop) {
		for range 1000 {
			k := int(seq % uint64(n))
			seq++
			m := nats.NewMsg(subjects[k])
			m.Data = payload
			m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(last[k], 10))
			last[k] = seq
			if _, err := js.PublishMsgAsync(m, jetstream.WithStallWait(5*time.Second)); err != nil {
				return 0, err
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		return 0, fmt.Errorf("async publishes not acknowledged")
	}
	rate := float64(seq) / time.Since(start).Seconds()
	// Every check must have passed: the stream holds every message.
	st, err := js.Stream(ctx, "CHECKED")
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, err
	}
	if info.State.Msgs != seq {
		return 0, fmt.Errorf("the server stored %d of %d checked publishes", info.State.Msgs, seq)
	}
	return rate, nil
}

func replay(ctx context.Context, cfg Config, payload []byte) (Result, error) {
	n := cfg.ReplayEvents
	fmt.Fprintf(cfg.Progress, "full replay of %d events (writing them first)...\n", n)
	e, err := start(ctx, cfg.Dir, false, false)
	if err != nil {
		return Result{}, err
	}
	defer e.close()
	for i := 0; i < n; i++ {
		if _, err := e.js.PublishAsync("raw.replay", payload, jetstream.WithStallWait(5*time.Second)); err != nil {
			return Result{}, err
		}
	}
	<-e.js.PublishAsyncComplete()
	var written atomic.Int64
	per := n / cfg.Pipeline
	var wg sync.WaitGroup
	var werr error
	var once sync.Once
	for w := range cfg.Pipeline {
		count := per
		if w == 0 {
			count += n - per*cfg.Pipeline
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < count; i++ {
				if _, err := e.st.Append(ctx, "client-r"+strconv.Itoa(w), int64(i), event(i)); err != nil {
					once.Do(func() { werr = err })
					return
				}
				written.Add(1)
			}
		}()
	}
	wg.Wait()
	if werr != nil {
		return Result{}, werr
	}
	fmt.Fprintf(cfg.Progress, "  written; reading back...\n")

	// Raw: an ordered consumer reading every message, as in nats.go's usage.
	t0 := time.Now()
	cons, err := e.js.OrderedConsumer(ctx, "RAW", jetstream.OrderedConsumerConfig{FilterSubjects: []string{"raw.replay"}})
	if err != nil {
		return Result{}, err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(4096))
	if err != nil {
		return Result{}, err
	}
	var bytesRead int
	for i := 0; i < n; i++ {
		m, err := it.Next()
		if err != nil {
			return Result{}, err
		}
		bytesRead += len(m.Data())
	}
	it.Stop()
	raw := float64(n) / time.Since(t0).Seconds()

	// Relais: Subscribe into a trivial projection (count per type, sum of
	// revisions).
	t1 := time.Now()
	perType := map[string]int{}
	var sum uint64
	err = e.st.Subscribe(ctx, 1, func(_ context.Context, ev events.Event) error {
		perType[ev.Type]++
		sum += ev.Revision
		return nil
	}, ledger.StopAtHead())
	if err != nil {
		return Result{}, err
	}
	rel := float64(n) / time.Since(t1).Seconds()
	if perType[events.TypeContactMade] != n {
		return Result{}, fmt.Errorf("replay counted %d events, wrote %d", perType[events.TypeContactMade], n)
	}
	return Result{Name: fmt.Sprintf("replay %d events, events/s", n), Unit: "events/s", Raw: raw, Relais: rel, Target: 0.8,
		Note: "raw: ordered consumer; relais: Subscribe decoding every envelope into a trivial projection"}, nil
}

// WriteTable prints the report as a table.
func (r Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "payload: %d bytes per event (stored body)\n\n", r.PayloadBytes)
	fmt.Fprintf(w, "%-44s %14s %14s %8s %8s %-7s %14s %8s\n", "measure", "raw JetStream", "Relais", "ratio", "target", "", "raw + check", "ratio")
	for _, x := range r.Results {
		mark := "met"
		if !x.Met {
			mark = "MISSED"
		}
		checked, vs := "", ""
		if x.RawChecked > 0 {
			checked, vs = fmt.Sprintf("%.0f", x.RawChecked), fmt.Sprintf("%.2f", x.Relais/x.RawChecked)
		}
		fmt.Fprintf(w, "%-44s %14.0f %14.0f %8.2f %8s %-7s %14s %8s\n", x.Name, x.Raw, x.Relais, x.Ratio, fmt.Sprintf("≥%.1f", x.Target), mark, checked, vs)
		if x.Note != "" {
			fmt.Fprintf(w, "    %s\n", x.Note)
		}
	}
	fmt.Fprintln(w, "\nraw + check: raw JetStream with only the server's per-stream concurrency check a ledger needs")
	fmt.Fprintln(w, "(Nats-Expected-Last-Subject-Sequence, one subject per stream); its ratio is Relais / raw + check.")
}
