package ledgerbench

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// The bench runs end to end at a tiny size and reports every figure.
func TestRunSmall(t *testing.T) {
	var out bytes.Buffer
	rep, err := Run(context.Background(), Config{Dir: t.TempDir(), Duration: 200 * time.Millisecond, Writers: 4, Pipeline: 8, ReplayEvents: 2000, Progress: &out})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 4 || rep.PayloadBytes < 200 {
		t.Fatalf("report %+v", rep)
	}
	for i, r := range rep.Results {
		if r.Raw <= 0 || r.Relais <= 0 {
			t.Fatalf("%s: raw %f relais %f", r.Name, r.Raw, r.Relais)
		}
		// The three write phases also measure raw JetStream with the
		// server's per-stream check; the replay has none.
		if checked := r.RawChecked > 0; checked != (i < 3) {
			t.Fatalf("%s: raw with check %f", r.Name, r.RawChecked)
		}
	}
	rep.WriteTable(&out)
	t.Log("\n" + out.String())
}
