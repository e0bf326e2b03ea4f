package replaybench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/app/replaybench"
)

// A small population rebuilds on a real embedded server; the result prints
// as `relais bench replay` shows it and encodes as the same JSON array.
func TestSmallPopulation(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a population on an embedded server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := replaybench.Run(ctx, replaybench.Config{People: []int{100}, Years: 1}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Clients != 100 || res[0].Events == 0 || res[0].RawPerSec <= 0 || res[0].RelaisPerSec <= 0 || res[0].Target != replaybench.Target {
		t.Fatalf("result %+v", res)
	}
	var b bytes.Buffer
	res.WriteTable(&b)
	if lines := strings.Split(strings.TrimSpace(b.String()), "\n"); len(lines) != 3 || !strings.Contains(lines[0], "raw events/s") || !strings.HasPrefix(lines[2], "target: ratio >= 0.7 ") {
		t.Fatalf("table:\n%s", b.String())
	}
	js, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(js), `[{"simulated_people":100,"events":`) {
		t.Fatalf("json %s", js)
	}
}
