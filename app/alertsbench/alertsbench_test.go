package alertsbench_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/app/alertsbench"
)

// A short run on a real embedded server pages every case manager and
// prints the table `relais bench alerts` shows.
func TestShortRunMeasuresAlerts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Relais and runs for a second")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := alertsbench.Run(ctx, alertsbench.Config{Duration: time.Second, Rate: 20, Recipients: 5}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Measured == 0 || res.RelaisMS.Max <= 0 || res.RawNATSMS.P50 <= 0 {
		t.Fatalf("result %+v: want alerts and raw NATS measured", res)
	}
	var b bytes.Buffer
	res.WriteTable(&b)
	for _, want := range []string{"5 SSE recipients connected, 20 background ED messages/s", "(durability relaxed)", "Relais: MLLP ACK -> alert on SSE", "raw NATS: publish -> subscriber", "target: Relais p99 < 10 ms"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
