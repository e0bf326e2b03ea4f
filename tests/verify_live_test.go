package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-health/relais/internal/poll"
)

// Issue 11 §2: verify on a live ledger, through the running serve, while
// writers append. It used to exit 3 "events N to M are missing at the end"
// (it read the head twice: before and after its walk). Now it verifies up
// to the head it saw at the start, names that head, and exits 0.
func TestVerifyOnALiveLedgerChecksUpToTheHeadAtStart(t *testing.T) {
	data := t.TempDir()
	srv := startServe(t, data, "--demo", "--demo-every", "0", "--durability", "relaxed")
	// Enough history that the walk takes a while (through the running
	// serve), so writes land while it runs.
	bulk := filepath.Join(t.TempDir(), "bulk.jsonl")
	var lines strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&lines, `{"type":"contact.made","data":{"client_id":"bulk","staff_id":"cm-1","channel":"phone","at":"2026-11-01T10:00:00Z","note":"bulk-%d"}}`+"\n", i)
	}
	if err := os.WriteFile(bulk, []byte(lines.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		if _, errs, code := runRelais(t, "events", "append", "--data", data, "--seal-key", "demo", "--stream", fmt.Sprintf("client-bulk%d", i), "--file", bulk); code != 0 {
			t.Fatalf("bulk append %d: exit %d: %s", i, code, errs)
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	var (
		mu    sync.Mutex
		top   uint64 // highest position acknowledged to a writer
		acks  int
		wErrs []error
		wg    sync.WaitGroup
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := fmt.Sprintf("client-%02d", w+1)
			for i := 0; ctx.Err() == nil; i++ {
				a, err := tryContact(ctx, srv, client, fmt.Sprintf("live-%d-%d", w, i))
				mu.Lock()
				switch {
				case err != nil && ctx.Err() == nil:
					wErrs = append(wErrs, err)
				case err == nil:
					acks++
					top = max(top, a.Position)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	t.Cleanup(func() { stop(); wg.Wait() })
	// The writers are running before verify starts.
	poll.CheckFor(t, 30*time.Second, 10*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(wErrs) > 0 {
			return nil
		}
		if acks < 20 {
			return fmt.Errorf("%d appends acknowledged", acks)
		}
		return nil
	})
	out, errOut, code := runRelais(t, "verify", "--data", data)
	mu.Lock()
	topAtEnd := top
	mu.Unlock()
	stop()
	wg.Wait()
	if len(wErrs) > 0 {
		t.Fatalf("writer: %v", wErrs[0])
	}
	if code != 0 {
		t.Fatalf("verify while writers append: exit %d, want 0\n%s%s", code, out, errOut)
	}
	m := regexp.MustCompile(`verified up to the head at start: position (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("verify does not name the head it verified up to:\n%s", out)
	}
	head, _ := strconv.ParseUint(m[1], 10, 64)
	if topAtEnd <= head {
		t.Errorf("no append was acknowledged past the head verify named (%d, last ack %d): the ledger did not move while verify ran", head, topAtEnd)
	}
}

// tryContact is postContact for a writer goroutine: errors are returned.
func tryContact(ctx context.Context, s *server, client, note string) (ack, error) {
	body, _ := json.Marshal(map[string]any{"staff_id": "cm-1", "channel": "phone", "at": time.Now().UTC(), "note": note})
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+s.HTTP+"/v1/clients/"+client+"/contacts", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer demo-cm-1")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ack{}, err
	}
	defer resp.Body.Close()
	var a ack
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || resp.StatusCode != http.StatusCreated {
		return ack{}, fmt.Errorf("post contact to %s: %d %v", client, resp.StatusCode, err)
	}
	return a, nil
}
