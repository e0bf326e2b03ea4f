package main

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
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/relais-health/relais/adapters/mllp"
	"github.com/relais-health/relais/app"
	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream"
	"github.com/relais-health/relais/infra/natsembed"
	svcdirectory "github.com/relais-health/relais/services/directory"
)

// alertBench is the result of `relais bench alerts`.
type alertBench struct {
	Recipients     int     `json:"connected_sse_recipients"`
	BackgroundRate int     `json:"background_ed_messages_per_second"`
	Measured       int     `json:"measured_alerts"`
	P50, P99, Max  float64 `json:"-"`
	RelaisMS       latency `json:"relais_ack_to_sse_ms"`
	RawNATSMS      latency `json:"raw_nats_publish_to_subscribe_ms"`
	TargetP99MS    float64 `json:"target_p99_ms"`
	Met            bool    `json:"met"`
}

type latency struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func summarize(d []time.Duration) latency {
	if len(d) == 0 {
		return latency{}
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	return latency{P50: ms(d[len(d)/2]), P99: ms(d[min(len(d)-1, len(d)*99/100)]), Max: ms(d[len(d)-1])}
}

func newBenchAlertsCmd(g *globals) *cobra.Command {
	var dur time.Duration
	var rate, recipients int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "latency from the MLLP ACK of an A04 for a flagged client to the alert on the case manager's SSE stream, under background ED traffic, beside raw NATS",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := benchAlerts(cmd.Context(), g, dur, rate, recipients, os.Stderr)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%d SSE recipients connected, %d background ED messages/s, %d alerts measured (durability %s)\n", res.Recipients, res.BackgroundRate, res.Measured, g.durability)
			fmt.Fprintf(w, "%-40s %8s %8s %8s\n", "", "p50 ms", "p99 ms", "max ms")
			fmt.Fprintf(w, "%-40s %8.2f %8.2f %8.2f\n", "Relais: MLLP ACK -> alert on SSE", res.RelaisMS.P50, res.RelaisMS.P99, res.RelaisMS.Max)
			fmt.Fprintf(w, "%-40s %8.2f %8.2f %8.2f\n", "raw NATS: publish -> subscriber", res.RawNATSMS.P50, res.RawNATSMS.P99, res.RawNATSMS.Max)
			verdict := "met"
			if !res.Met {
				verdict = "MISSED"
			}
			fmt.Fprintf(w, "target: Relais p99 < %.0f ms: %s\n", res.TargetP99MS, verdict)
			return nil
		},
	}
	cmd.Flags().DurationVar(&dur, "duration", 10*time.Second, "measurement time")
	cmd.Flags().IntVar(&rate, "rate", 1000, "background ED messages per second (strangers: recorded, nobody paged)")
	cmd.Flags().IntVar(&recipients, "recipients", 1000, "case managers connected to their SSE stream")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func benchAlerts(ctx context.Context, g *globals, dur time.Duration, rate, recipients int, progress io.Writer) (alertBench, error) {
	res := alertBench{Recipients: recipients, BackgroundRate: rate, TargetP99MS: 10}
	dir, err := os.MkdirTemp("", "relais-bench-alerts-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	srv, err := natsembed.Start(natsembed.Config{DataDir: dir, Port: -1})
	if err != nil {
		return res, err
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL(), nats.InProcessServer(srv))
	if err != nil {
		return res, err
	}
	defer nc.Close()
	cfg := jetstream.Config{}
	if g.durability == "strict" {
		cfg.Syncer = srv.StreamSyncer(jetstream.StreamName)
	}
	st, err := jetstream.Open(ctx, nc, cfg)
	if err != nil {
		return res, err
	}
	defer st.Close()

	fmt.Fprintf(progress, "seeding %d case managers and flagged clients...\n", recipients)
	if err := seedBench(ctx, st, recipients); err != nil {
		return res, err
	}
	a, err := app.New(ctx, app.Config{Backend: &app.Backend{Store: st, Conn: nc}, Facilities: []string{"HSTA"}, PatientSecret: []byte("bench-secret-0123456789")})
	if err != nil {
		return res, err
	}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	var grp errgroup.Group
	grp.Go(func() error { return a.Run(actx) })
	defer grp.Wait() //nolint:errcheck
	defer cancel()
	if err := a.WaitReady(actx); err != nil {
		return res, err
	}
	httpLn, _ := net.Listen("tcp", "127.0.0.1:0")
	hs := &http.Server{Handler: a.Handler()}
	go hs.Serve(httpLn) //nolint:errcheck
	defer hs.Close()
	mllpLn, _ := net.Listen("tcp", "127.0.0.1:0")
	ms := &mllp.Server{Handler: a.HL7}
	go ms.Serve(actx, mllpLn) //nolint:errcheck

	// Every case manager listens on SSE.
	arrived := make(map[string]time.Time)
	var mu sync.Mutex
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: recipients + 10, MaxConnsPerHost: 0}}
	var ready sync.WaitGroup
	for i := range recipients {
		ready.Add(1)
		go func() {
			req, _ := http.NewRequestWithContext(actx, "GET", "http://"+httpLn.Addr().String()+"/v1/alerts/stream", nil)
			req.Header.Set("Authorization", "Bearer bench-cm-"+fmt.Sprint(i))
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
						} `json:"alert"`
					}
					json.Unmarshal([]byte(line[6:]), &u) //nolint:errcheck
					mu.Lock()
					arrived[u.Alert.ClientID] = now
					mu.Unlock()
				}
			}
		}()
	}
	ready.Wait()
	waitSubs := time.Now().Add(30 * time.Second)
	for a.Hub().Subscribers() < recipients && time.Now().Before(waitSubs) {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Fprintf(progress, "%d SSE streams open; %d background ED messages/s for %v...\n", a.Hub().Subscribers(), rate, dur)

	bctx, bcancel := context.WithTimeout(actx, dur)
	defer bcancel()
	var bg sync.WaitGroup
	const conns = 4
	for c := range conns {
		bg.Add(1)
		go func() {
			defer bg.Done()
			cl, err := mllp.Dial(bctx, mllpLn.Addr().String(), nil)
			if err != nil {
				return
			}
			defer cl.Close()
			tick := time.NewTicker(time.Second * conns / time.Duration(max(rate, 1)))
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-bctx.Done():
					return
				case <-tick.C:
				}
				cl.Send(bctx, benchADT(fmt.Sprintf("bg%d-%d", c, n), fmt.Sprintf("STRANGER%d", n%5000), fmt.Sprintf("VB%d-%d", c, n))) //nolint:errcheck
			}
		}()
	}
	// Measured arrivals: one flagged client at a time, 50 a second.
	acks := map[string]time.Time{}
	cl, err := mllp.Dial(bctx, mllpLn.Addr().String(), nil)
	if err != nil {
		return res, err
	}
	tick := time.NewTicker(20 * time.Millisecond)
	for i := 0; ; i++ {
		select {
		case <-bctx.Done():
		case <-tick.C:
			c := i % recipients
			client := fmt.Sprintf("bench-client-%d", c)
			if _, done := acks[client]; done {
				continue
			}
			if _, err := cl.Send(bctx, benchADT(fmt.Sprintf("m%d", i), fmt.Sprintf("BENCH%06d", c), fmt.Sprintf("VM%d", i))); err == nil {
				acks[client] = time.Now()
			}
			continue
		}
		break
	}
	tick.Stop()
	cl.Close()
	bg.Wait()
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

	// Raw NATS publish -> subscribe on the same server, same rate.
	fmt.Fprintln(progress, "raw NATS publish -> subscribe...")
	sub, err := nc.SubscribeSync("bench.raw")
	if err != nil {
		return res, err
	}
	pub, err := nats.Connect(srv.ClientURL())
	if err != nil {
		return res, err
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
	res.RawNATSMS = summarize(raw)
	res.Met = res.Measured > 0 && res.RelaisMS.P99 < res.TargetP99MS
	return res, nil
}

func benchADT(control, ident, visit string) []byte {
	return []byte(strings.Join([]string{
		"MSH|^~\\&|URGENCE|HSTA|RELAIS|CSSS|" + time.Now().Format("20060102150405-0700") + "||ADT^A04^ADT_A01|" + control + "|P|2.5.1",
		"EVN|A04|" + time.Now().Format("20060102150405-0700"),
		"PID|1||" + ident + "^^^RAMQ^JHN||Client^Banc",
		"PV1|1|E|URG||||||||||||||||" + visit,
	}, "\r") + "\r")
}

// seedBench registers n case managers (token bench-cm-i) and n flagged
// clients (RAMQ BENCHnnnnnn), client i followed by case manager i.
func seedBench(ctx context.Context, l ledger.Ledger, n int) error {
	admin := events.Actor{ID: "admin", Role: events.RoleAdmin}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	for i := range n {
		g.Go(func() error {
			cm := fmt.Sprintf("bench-cm-%d", i)
			if _, err := l.Append(gctx, events.StaffStream(cm), ledger.NoStream, events.MustNew(&events.StaffRegistered{StaffID: cm, Role: events.RoleCaseManager, Name: cm, TokenHash: svcdirectory.HashToken(cm)}, admin)); err != nil {
				return err
			}
			id := fmt.Sprintf("bench-client-%d", i)
			for rev, p := range []events.Payload{
				&events.ClientRegistered{ClientID: id, GivenName: "Client", FamilyName: "Banc", Identifiers: []events.Identifier{{Authority: "RAMQ", Value: fmt.Sprintf("BENCH%06d", i)}}},
				&events.ClientFlagged{ClientID: id, Programme: "defi-sante"},
				&events.CaseManagerAssigned{ClientID: id, StaffID: cm},
			} {
				if _, err := l.Append(gctx, events.ClientStream(id), int64(rev), events.MustNew(p, admin)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}
