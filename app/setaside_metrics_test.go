package app

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/relais-health/relais/projections"
)

// Every projection reports its set-aside events, 0 included.
func TestSetAsideMetricNamesEveryProjection(t *testing.T) {
	a := &App{runners: []*projections.Runner{{Name: "alerts"}, {Name: "reports"}}}
	want := `# HELP relais_set_aside_events Events a projection set aside after failing deterministically (listed at GET /v1/set-aside).
# TYPE relais_set_aside_events gauge
relais_set_aside_events{projection="alerts"} 0
relais_set_aside_events{projection="reports"} 0
`
	if err := testutil.CollectAndCompare(newSetAsideCollector(a), strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
