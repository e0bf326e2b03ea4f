package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ledgerCollector exports the ledger's head and counters at scrape time.
type ledgerCollector struct {
	b                                              *Backend
	head, appends, evs, batches, conflicts, failed *prometheus.Desc
}

func newLedgerCollector(b *Backend) *ledgerCollector {
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
