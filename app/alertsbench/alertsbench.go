// Package alertsbench measures what `relais bench alerts` prints: the
// latency from the MLLP ACK of an A04 for a flagged client to the alert on
// its case manager's SSE stream, with every case manager connected and
// background ED traffic for strangers, beside raw NATS publish -> subscribe
// on the same embedded server. It runs the whole assembled application, so
// it lives beside it, as infra/ledger/ledgerbench lives beside the ledger.
package alertsbench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"github.com/relais-health/relais/adapters/mllp"
	"github.com/relais-health/relais/app"
	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream"
	"github.com/relais-health/relais/infra/natsembed"
	svcdirectory "github.com/relais-health/relais/services/directory"
)

// TargetP99MS is the latency Relais must stay under at p99.
const TargetP99MS = 10

// Config sizes the run.
type Config struct {
	// Duration of the measurement (default 10s).
	Duration time.Duration
	// Rate of background ED messages per second, for strangers: recorded,
	// nobody paged (default 1000).
	Rate int
	// Recipients: case managers connected to their SSE stream, each with one
	// flagged client (default 1000).
	Recipients int
	// Strict turns on Relais's group commit with fsync (durability strict).
	Strict bool
	// FlaggedRates, when set, runs the flagged mode (RunFlagged): one
	// phase per rate, every arrival a flagged client's.
	FlaggedRates []int
	// Drain bounds how long a flagged phase waits, once it stops sending,
	// for the alerts still owed (default 2 minutes).
	Drain time.Duration
	// Cluster runs on a 3-node nats-server cluster started for the run
	// (streams with 3 replicas, sync_interval: always) instead of the
	// embedded server; NATSServer is the nats-server binary (default: the
	// one in PATH).
	Cluster    bool
	NATSServer string
}

func (c Config) withDefaults() Config {
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Rate <= 0 {
		c.Rate = 1000
	}
	if c.Recipients <= 0 {
		c.Recipients = 1000
	}
	if c.Drain <= 0 {
		c.Drain = 2 * time.Minute
	}
	return c
}

// Result is one run.
type Result struct {
	Recipients     int     `json:"connected_sse_recipients"`
	BackgroundRate int     `json:"background_ed_messages_per_second"`
	Measured       int     `json:"measured_alerts"`
	RelaisMS       Latency `json:"relais_ack_to_sse_ms"`
	RawNATSMS      Latency `json:"raw_nats_publish_to_subscribe_ms"`
	TargetP99MS    float64 `json:"target_p99_ms"`
	Met            bool    `json:"met"`
	// Durability is "strict" or "relaxed" (printed, not in the JSON).
	Durability string `json:"-"`
}

// Latency is a distribution in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// WriteTable prints the result as `relais bench alerts` does.
func (r Result) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "%d SSE recipients connected, %d background ED messages/s, %d alerts measured (durability %s)\n", r.Recipients, r.BackgroundRate, r.Measured, r.Durability)
	fmt.Fprintf(w, "%-40s %8s %8s %8s\n", "", "p50 ms", "p99 ms", "max ms")
	fmt.Fprintf(w, "%-40s %8.2f %8.2f %8.2f\n", "Relais: MLLP ACK -> alert on SSE", r.RelaisMS.P50, r.RelaisMS.P99, r.RelaisMS.Max)
	fmt.Fprintf(w, "%-40s %8.2f %8.2f %8.2f\n", "raw NATS: publish -> subscriber", r.RawNATSMS.P50, r.RawNATSMS.P99, r.RawNATSMS.Max)
	verdict := "met"
	if !r.Met {
		verdict = "MISSED"
	}
	fmt.Fprintf(w, "target: Relais p99 < %.0f ms: %s\n", r.TargetP99MS, verdict)
}

func summarize(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	return Latency{P50: ms(d[len(d)/2]), P99: ms(d[min(len(d)-1, len(d)*99/100)]), Max: ms(d[len(d)-1])}
}

// bed is the embedded server (or a cluster), the ledger on it and Relais
// running on top, with its HTTP API and MLLP intake listening on loopback.
type bed struct {
	srv      *natsembed.Server
	natsURL  string // the server a raw NATS publisher dials
	nc       *nats.Conn
	app      *app.App
	httpAddr string
	mllpAddr string
	closers  []func()
}

func (b *bed) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
}

// Run seeds cfg.Recipients case managers and flagged clients on a fresh
// embedded server, runs Relais on it and measures; progress receives a line
// per phase.
func Run(ctx context.Context, cfg Config, progress io.Writer) (Result, error) {
	cfg = cfg.withDefaults()
	if progress == nil {
		progress = io.Discard
	}
	res := Result{Recipients: cfg.Recipients, BackgroundRate: cfg.Rate, TargetP99MS: TargetP99MS, Durability: "relaxed"}
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

	arrived := map[string]time.Time{}
	mu := &sync.Mutex{}
	err = listen(actx, b, cfg.Recipients, func(clientID, _ string, at time.Time) {
		mu.Lock()
		arrived[clientID] = at
		mu.Unlock()
	})
	if err != nil {
		return res, err
	}
	fmt.Fprintf(progress, "%d SSE streams open; %d background ED messages/s for %v...\n", b.app.Hub().Subscribers(), cfg.Rate, cfg.Duration)

	bctx, bcancel := context.WithTimeout(actx, cfg.Duration)
	defer bcancel()
	var bg sync.WaitGroup
	background(bctx, &bg, b.mllpAddr, cfg.Rate)
	acks, err := measuredArrivals(bctx, b.mllpAddr, cfg.Recipients)
	bg.Wait()
	if err != nil {
		return res, err
	}
	time.Sleep(500 * time.Millisecond) // stragglers
	var lat []time.Duration
	mu.Lock()
	for c, ack := range acks {
		if at, ok := arrived[c]; ok {
			lat = append(lat, max(at.Sub(ack), 0))
		}
	}
	mu.Unlock()
	res.Measured = len(lat)
	res.RelaisMS = summarize(lat)

	fmt.Fprintln(progress, "raw NATS publish -> subscribe...")
	if res.RawNATSMS, err = rawNATS(b); err != nil {
		return res, err
	}
	res.Met = res.Measured > 0 && res.RelaisMS.P99 < res.TargetP99MS
	return res, nil
}

// startBed starts the server, seeds it and runs Relais until ctx ends; the
// returned bed (possibly partial on error) must be closed.
func startBed(ctx context.Context, cfg Config, progress io.Writer) (*bed, error) {
	b := &bed{}
	dir, err := os.MkdirTemp("", "relais-bench-alerts-")
	if err != nil {
		return b, fmt.Errorf("bench alerts: %w", err)
	}
	b.closers = append(b.closers, func() { os.RemoveAll(dir) })
	jcfg := jetstream.Config{}
	replicas := 1
	if cfg.Cluster {
		fmt.Fprintln(progress, "starting a 3-node nats-server cluster...")
		urls, stop, err := startCluster(ctx, dir, cfg.NATSServer)
		if stop != nil {
			b.closers = append(b.closers, stop)
		}
		if err != nil {
			return b, fmt.Errorf("bench alerts: %w", err)
		}
		b.natsURL = strings.Split(urls, ",")[0]
		if b.nc, err = nats.Connect(urls); err != nil {
			return b, fmt.Errorf("bench alerts: connect: %w", err)
		}
		replicas = 3
		jcfg = jetstream.Config{Replicas: 3, SyncAlways: cfg.Strict}
	} else {
		if b.srv, err = natsembed.Start(natsembed.Config{DataDir: dir, Port: -1}); err != nil {
			return b, fmt.Errorf("bench alerts: start nats: %w", err)
		}
		b.closers = append(b.closers, b.srv.Shutdown)
		b.natsURL = b.srv.ClientURL()
		if b.nc, err = nats.Connect(b.srv.ClientURL(), nats.InProcessServer(b.srv)); err != nil {
			return b, fmt.Errorf("bench alerts: connect: %w", err)
		}
		if cfg.Strict {
			jcfg.Syncer = b.srv.StreamSyncer(jetstream.StreamName)
		}
	}
	b.closers = append(b.closers, b.nc.Close)
	st, err := jetstream.Open(ctx, b.nc, jcfg)
	if err != nil {
		return b, fmt.Errorf("bench alerts: open ledger: %w", err)
	}
	b.closers = append(b.closers, func() { st.Close() })

	fmt.Fprintf(progress, "seeding %d case managers and flagged clients...\n", cfg.Recipients)
	if err := seed(ctx, st, cfg.Recipients); err != nil {
		return b, fmt.Errorf("bench alerts: seed: %w", err)
	}
	b.app, err = app.New(ctx, app.Config{Backend: &app.Backend{Store: st, Conn: b.nc}, Replicas: replicas, Facilities: []string{"HSTA"}, PatientSecret: []byte("bench-secret-0123456789")})
	if err != nil {
		return b, fmt.Errorf("bench alerts: assemble relais: %w", err)
	}
	actx, cancel := context.WithCancel(ctx)
	var grp errgroup.Group
	grp.Go(func() error { return b.app.Run(actx) })
	b.closers = append(b.closers, func() { cancel(); grp.Wait() }) //nolint:errcheck
	if err := b.app.WaitReady(actx); err != nil {
		return b, fmt.Errorf("bench alerts: relais not ready: %w", err)
	}
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return b, fmt.Errorf("bench alerts: listen http: %w", err)
	}
	hs := &http.Server{Handler: b.app.Handler()}
	go hs.Serve(httpLn) //nolint:errcheck
	b.closers = append(b.closers, func() { hs.Close() })
	b.httpAddr = httpLn.Addr().String()
	mllpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return b, fmt.Errorf("bench alerts: listen mllp: %w", err)
	}
	ms := &mllp.Server{Handler: b.app.HL7}
	go ms.Serve(actx, mllpLn) //nolint:errcheck
	b.mllpAddr = mllpLn.Addr().String()
	return b, nil
}

// listen connects every case manager to its SSE stream and calls raised
// with the client and thread of every alert raised on it, as it arrives;
// it returns once the hub counts them all (or after 30s).
func listen(ctx context.Context, b *bed, recipients int, raised func(clientID, threadID string, at time.Time)) error {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: recipients + 10, MaxConnsPerHost: 0}}
	var ready sync.WaitGroup
	for i := range recipients {
		req, err := http.NewRequestWithContext(ctx, "GET", "http://"+b.httpAddr+"/v1/alerts/stream", nil)
		if err != nil {
			return fmt.Errorf("bench alerts: sse request: %w", err)
		}
		req.Header.Set("Authorization", "Bearer bench-cm-"+fmt.Sprint(i))
		ready.Add(1)
		go func() {
			resp, err := client.Do(req)
			ready.Done()
			if err != nil {
				return
			}
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				line := sc.Text()
				if strings.HasPrefix(line, "data: ") && strings.Contains(line, `"change":"raised"`) {
					now := time.Now()
					var u struct {
						Alert struct {
							ClientID string `json:"client_id"`
							ThreadID string `json:"thread_id"`
						} `json:"alert"`
					}
					json.Unmarshal([]byte(line[6:]), &u) //nolint:errcheck
					raised(u.Alert.ClientID, u.Alert.ThreadID, now)
				}
			}
		}()
	}
	ready.Wait()
	waitSubs := time.Now().Add(30 * time.Second)
	for b.app.Hub().Subscribers() < recipients && time.Now().Before(waitSubs) {
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// background sends A04s for strangers over four MLLP connections at rate
// messages per second until ctx ends; wg waits for the senders.
func background(ctx context.Context, wg *sync.WaitGroup, addr string, rate int) {
	const conns = 4
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := mllp.Dial(ctx, addr, nil)
			if err != nil {
				return
			}
			defer cl.Close()
			tick := time.NewTicker(time.Second * conns / time.Duration(max(rate, 1)))
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				cl.Send(ctx, adt(fmt.Sprintf("bg%d-%d", c, n), fmt.Sprintf("STRANGER%d", n%5000), fmt.Sprintf("VB%d-%d", c, n))) //nolint:errcheck
			}
		}()
	}
}

// measuredArrivals sends one A04 per flagged client, 50 a second, until ctx
// ends, and returns when each was acknowledged.
func measuredArrivals(ctx context.Context, addr string, recipients int) (map[string]time.Time, error) {
	acks := map[string]time.Time{}
	cl, err := mllp.Dial(ctx, addr, nil)
	if err != nil {
		return nil, fmt.Errorf("bench alerts: dial mllp: %w", err)
	}
	defer cl.Close()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return acks, nil
		case <-tick.C:
		}
		c := i % recipients
		client := fmt.Sprintf("bench-client-%d", c)
		if _, done := acks[client]; done {
			continue
		}
		if _, err := cl.Send(ctx, adt(fmt.Sprintf("m%d", i), fmt.Sprintf("BENCH%06d", c), fmt.Sprintf("VM%d", i))); err == nil {
			acks[client] = time.Now()
		}
	}
}

// rawNATS measures core NATS publish -> subscribe on the same server.
func rawNATS(b *bed) (Latency, error) {
	sub, err := b.nc.SubscribeSync("bench.raw")
	if err != nil {
		return Latency{}, fmt.Errorf("bench alerts: raw subscribe: %w", err)
	}
	defer sub.Unsubscribe() //nolint:errcheck
	pub, err := nats.Connect(b.natsURL)
	if err != nil {
		return Latency{}, fmt.Errorf("bench alerts: raw connect: %w", err)
	}
	defer pub.Close()
	var raw []time.Duration
	for range 500 {
		t := time.Now()
		pub.Publish("bench.raw", []byte(t.Format(time.RFC3339Nano))) //nolint:errcheck
		pub.Flush()                                                  //nolint:errcheck
		if _, err := sub.NextMsg(time.Second); err == nil {
			raw = append(raw, time.Since(t))
		}
		time.Sleep(2 * time.Millisecond)
	}
	return summarize(raw), nil
}

func adt(control, ident, visit string) []byte {
	return []byte(strings.Join([]string{
		"MSH|^~\\&|URGENCE|HSTA|RELAIS|CSSS|" + time.Now().Format("20060102150405-0700") + "||ADT^A04^ADT_A01|" + control + "|P|2.5.1",
		"EVN|A04|" + time.Now().Format("20060102150405-0700"),
		"PID|1||" + ident + "^^^RAMQ^JHN||Client^Banc",
		"PV1|1|E|URG||||||||||||||||" + visit,
	}, "\r") + "\r")
}

// seed registers n case managers (token bench-cm-i) and n flagged clients
// (RAMQ BENCHnnnnnn), client i followed by case manager i. It appends
// directly, 64 at a time: a load generator's fixture on a fresh ledger,
// where going through the services would only slow the setup (and the
// directory service issues random tokens, while the SSE clients need
// known ones).
func seed(ctx context.Context, l ledger.Ledger, n int) error {
	admin := events.Actor{ID: "admin", Role: events.RoleAdmin}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	for i := range n {
		g.Go(func() error {
			cm := fmt.Sprintf("bench-cm-%d", i)
			if _, err := l.Append(gctx, events.StaffStream(cm), ledger.NoStream, events.MustNew(&events.StaffRegistered{StaffID: cm, Role: events.RoleCaseManager, Name: cm, TokenHash: svcdirectory.HashToken(cm)}, admin)); err != nil {
				return fmt.Errorf("staff %s: %w", cm, err)
			}
			id := fmt.Sprintf("bench-client-%d", i)
			for rev, p := range []events.Payload{
				&events.ClientRegistered{ClientID: id, GivenName: "Client", FamilyName: "Banc", Identifiers: []events.Identifier{{Authority: "RAMQ", Value: fmt.Sprintf("BENCH%06d", i)}}},
				&events.ClientFlagged{ClientID: id, Programme: "defi-sante"},
				&events.CaseManagerAssigned{ClientID: id, StaffID: cm},
			} {
				if _, err := l.Append(gctx, events.ClientStream(id), int64(rev), events.MustNew(p, admin)); err != nil {
					return fmt.Errorf("client %s: %w", id, err)
				}
			}
			return nil
		})
	}
	return g.Wait()
}
