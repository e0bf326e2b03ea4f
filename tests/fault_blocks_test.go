package tests

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/internal/poll"
)

// Damage to the block files of a killed server (no index.db, the state
// kill -9 leaves) is detected: `relais verify` fails naming the first damaged
// position, it does not rewrite the files, and `serve` on the damaged
// directory never hands out an acknowledged position again.
func TestFaultDamagedBlockFilesAreDetected(t *testing.T) {
	tests := []struct {
		name   string
		damage func(b []byte, at []int) []byte // at: offsets of each acknowledged note
		broken int                             // index of the first damaged acknowledged event
	}{
		{"the tail truncated inside the last record", func(b []byte, at []int) []byte { return b[:at[4]-40] }, 4},
		{"a bit flipped in the middle record", func(b []byte, at []int) []byte {
			c := bytes.Clone(b)
			c[at[2]+2] ^= 0x01
			return c
		}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			srv := startServe(t, data, "--demo", "--demo-every", "0", "--seal-key", "demo")
			var acked []ack
			for i := range 5 {
				acked = append(acked, postContact(t, srv, fmt.Sprintf("blocknote-%d-xxxxxxxx", i)))
			}
			srv.kill(t)

			blk, b := lastBlock(t, data)
			var at []int
			for i := range 5 {
				j := bytes.Index(b, []byte(fmt.Sprintf("blocknote-%d-", i)))
				if j < 0 {
					t.Fatalf("note %d not found in %s", i, blk)
				}
				at = append(at, j)
			}
			if err := os.WriteFile(blk, tc.damage(b, at), 0o600); err != nil {
				t.Fatal(err)
			}
			before := treeSum(t, filepath.Join(data, "jetstream"))

			out, errOut, code := runRelais(t, "verify", "--data", data, "--seal-key", "demo")
			if code == 0 {
				t.Errorf("verify on the damaged ledger: exit 0\n%s%s", out, errOut)
			}
			// "position N" or "positions N..M" (the lost range the high-water mark shows).
			pos := fmt.Sprintf(" %d", acked[tc.broken].Position)
			if !strings.Contains(out+errOut, "position"+pos) && !strings.Contains(out+errOut, "positions"+pos+"..") {
				t.Errorf("verify does not name the damaged %s (stream %s):\n%s%s", pos, acked[tc.broken].Stream, out, errOut)
			}
			if after := treeSum(t, filepath.Join(data, "jetstream")); after != before {
				t.Errorf("verify changed the files under %s/jetstream", data)
			}

			// serve on the damaged directory: refuses, or never reuses a position.
			if s, ok := tryServe(t, data, "--seal-key", "demo"); ok {
				a := postContact(t, s, "after-damage")
				if last := acked[len(acked)-1].Position; a.Position <= last {
					t.Errorf("after the damage serve acknowledged position %d again (the last acknowledged before was %d)", a.Position, last)
				}
			}
		})
	}
}

// postContact records a contact for demo client-01 and returns the 201.
func postContact(t *testing.T, s *server, note string) ack {
	t.Helper()
	code, body := contactStatus(t, s, note)
	var a ack
	if err := json.Unmarshal([]byte(body), &a); err != nil || code != http.StatusCreated {
		t.Fatalf("post contact: %d %v %s", code, err, body)
	}
	return a
}

func lastBlock(t *testing.T, data string) (string, []byte) {
	t.Helper()
	blocks, _ := filepath.Glob(filepath.Join(data, "jetstream", "*", "streams", "RELAIS_EVENTS", "msgs", "*.blk"))
	if len(blocks) == 0 {
		t.Fatal("no message block")
	}
	blk := blocks[len(blocks)-1]
	b, err := os.ReadFile(blk)
	if err != nil {
		t.Fatal(err)
	}
	return blk, b
}

// treeSum hashes every file's name and content under dir.
func treeSum(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", p, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// tryServe starts serve and reports whether it became healthy (false: it
// exited, which is a refusal).
func tryServe(t *testing.T, data string, args ...string) (*server, bool) {
	t.Helper()
	s := &server{Data: data, HTTP: freeAddr(t), NATS: freeAddr(t), MLLP: freeAddr(t), exited: make(chan struct{})}
	full := append([]string{"serve", "--data", data, "--http", s.HTTP, "--nats-listen", s.NATS, "--mllp", s.MLLP}, args...)
	s.cmd = exec.Command(relaisBin, full...)
	s.cmd.Dir = workDir(t, full)
	s.cmd.Stderr = &s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }() //nolint:errcheck
	t.Cleanup(func() { s.stop(t) })
	healthy := false
	poll.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		select {
		case <-s.exited:
			return nil
		default:
		}
		resp, err := http.Get("http://" + s.HTTP + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("healthz %d", resp.StatusCode)
		}
		healthy = true
		return nil
	})
	return s, healthy
}
