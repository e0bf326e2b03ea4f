package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Issue 11 §2: a tail lost after kill -9 (here: the last block file cut
// in half, no index.db, as a running server leaves it) used to pass
// verify with exit 0, and serve then reused the lost positions. The
// high-water mark outside JetStream's files names the lost range; serve
// refuses to start and verify exits non-zero.
func TestTruncatedTailIsCaughtByTheHighWaterMark(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	srv := startServe(t, data)
	for i := range 6 {
		if _, errs, code := appendOne(t, data, "client-hw"+string(rune('a'+i))); code != 0 {
			t.Fatalf("append %d: exit %d: %s", i, code, errs)
		}
	}
	srv.kill(t)
	msgs := filepath.Join(data, "jetstream", "$G", "streams", "RELAIS_EVENTS", "msgs")
	os.Remove(filepath.Join(msgs, "index.db"))
	blocks, _ := filepath.Glob(filepath.Join(msgs, "*.blk"))
	if len(blocks) == 0 {
		t.Fatalf("no block file in %s", msgs)
	}
	last := blocks[len(blocks)-1]
	fi, err := os.Stat(last)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(last, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	lost := regexp.MustCompile(`positions (\d+)\.\.(\d+) of RELAIS_EVENTS were acknowledged`)
	_, errs, code := runRelaisFor(t, time.Minute, "verify", "--data", data)
	if code == 0 || !lost.MatchString(errs) {
		t.Errorf("verify of a truncated tail: exit %d, want non-zero naming the lost positions: %s", code, errs)
	}
	_, errs, code = runRelaisFor(t, time.Minute, "serve", "--data", data, "--http", freeAddr(t), "--nats-listen", freeAddr(t), "--mllp", freeAddr(t))
	if code == 0 || !lost.MatchString(errs) || !strings.Contains(errs, "backup") {
		t.Errorf("serve on a truncated tail: exit %d, want a refusal naming the lost positions: %s", code, errs)
	}
	// Nor may a one-shot command reuse a lost position.
	if _, errs, code := appendOne(t, data, "client-reuse"); code == 0 || !lost.MatchString(errs) {
		t.Errorf("append on a truncated tail: exit %d, want a refusal naming the lost positions: %s", code, errs)
	}
}
