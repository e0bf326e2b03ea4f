package app

import (
	"github.com/prometheus/client_golang/prometheus"
)

// setAsideCollector exports, per projection, how many events it set aside
// (relais_set_aside_events{projection}), at scrape time.
type setAsideCollector struct {
	a *App
	d *prometheus.Desc
}

func newSetAsideCollector(a *App) *setAsideCollector {
	return &setAsideCollector{a: a, d: prometheus.NewDesc("relais_set_aside_events",
		"Events a projection set aside after failing deterministically (listed at GET /v1/set-aside).", []string{"projection"}, nil)}
}

func (c *setAsideCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.d }

func (c *setAsideCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.a.runners {
		ch <- prometheus.MustNewConstMetric(c.d, prometheus.GaugeValue, float64(len(r.DeadLetters())), r.Name)
	}
}
