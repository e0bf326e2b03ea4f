package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

type serveFlags struct {
	http       string
	natsListen string
}

func newServeCmd(g *globals) *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "run Relais: embedded NATS JetStream ledger, HTTP health and metrics",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), g, f)
		},
	}
	cmd.Flags().StringVar(&f.http, "http", envOr("RELAIS_HTTP", ":8080"), "HTTP listen address for /healthz, /metrics and the API (env RELAIS_HTTP)")
	cmd.Flags().StringVar(&f.natsListen, "nats-listen", envOr("RELAIS_NATS_LISTEN", "127.0.0.1:4222"), "client address of the embedded NATS server; port 0 picks a free one (env RELAIS_NATS_LISTEN)")
	return cmd
}

func runServe(ctx context.Context, g *globals, f *serveFlags) error {
	log := g.logger()
	defer log.Sync() //nolint:errcheck
	b, err := openBackend(ctx, g, log, openOptions{listen: f.natsListen, publish: true})
	if err != nil {
		return err
	}
	defer b.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(newLedgerCollector(b))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if _, err := b.Store.Head(r.Context()); err != nil {
			http.Error(w, "ledger unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	ln, err := net.Listen("tcp", f.http)
	if err != nil {
		return fmt.Errorf("--http %s: %w", f.http, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info("relais serving",
		zap.String("http", ln.Addr().String()),
		zap.Bool("embedded_nats", b.Embedded),
		zap.String("durability", g.durability),
		zap.String("data", g.data))

	grp, gctx := errgroup.WithContext(ctx)
	grp.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	grp.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	return grp.Wait()
}

// ledgerCollector exports the ledger's head and counters at scrape time.
type ledgerCollector struct {
	b                                              *backend
	head, appends, evs, batches, conflicts, failed *prometheus.Desc
}

func newLedgerCollector(b *backend) *ledgerCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &ledgerCollector{b: b,
		head:      d("relais_ledger_head_position", "Global position of the last event in the ledger."),
		appends:   d("relais_ledger_appends_total", "Appends committed by this process."),
		evs:       d("relais_ledger_events_total", "Events committed by this process."),
		batches:   d("relais_ledger_writes_total", "JetStream writes (atomic batches or single publishes); events per write shows group commit."),
		conflicts: d("relais_ledger_conflicts_total", "Appends refused for a wrong expected revision."),
		failed:    d("relais_ledger_failures_total", "Appends that failed (ledger unavailable, timeout)."),
	}
}

func (c *ledgerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.head, c.appends, c.evs, c.batches, c.conflicts, c.failed} {
		ch <- d
	}
}

func (c *ledgerCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if h, err := c.b.Store.Head(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(c.head, prometheus.GaugeValue, float64(h))
	}
	st := c.b.Store.Stats()
	for _, m := range []struct {
		d *prometheus.Desc
		v uint64
	}{{c.appends, st.Appends}, {c.evs, st.Events}, {c.batches, st.Batches}, {c.conflicts, st.Conflicts}, {c.failed, st.Failures}} {
		ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.v))
	}
}
