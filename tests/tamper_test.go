package tests

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An event altered on disk after it was written is caught by relais verify,
// which exits non-zero and names where the chain breaks.
func TestVerifyCatchesAnEventTamperedOnDisk(t *testing.T) {
	data := t.TempDir()
	for i := 1; i <= 3; i++ {
		payload := fmt.Sprintf(`{"client_id":"c1","staff_id":"cm-1","channel":"phone","at":"2026-11-0%dT10:00:00Z","note":"note-%d"}`, i, i)
		if out, errs, code := runRelais(t, "events", "append", "--data", data, "--stream", "client-c1", "--expected", fmt.Sprint(i-1), "--type", "contact.made", "--payload", payload); code != 0 {
			t.Fatalf("append %d: exit %d %s %s", i, code, out, errs)
		}
	}
	if out, _, code := runRelais(t, "verify", "--data", data); code != 0 || !strings.HasPrefix(out, "ok: 3 events") {
		t.Fatalf("intact ledger: exit %d: %s", code, out)
	}

	blocks, _ := filepath.Glob(filepath.Join(data, "jetstream", "*", "streams", "RELAIS_EVENTS", "msgs", "*.blk"))
	if len(blocks) == 0 {
		t.Fatal("no message block found to tamper with")
	}
	b, err := os.ReadFile(blocks[0])
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("note-2"))
	if i < 0 {
		t.Fatal("second event not found in the block")
	}
	copy(b[i:], "NOTE-2")
	if err := os.WriteFile(blocks[0], b, 0o600); err != nil {
		t.Fatal(err)
	}

	out, _, code := runRelais(t, "verify", "--data", data)
	if code != 3 {
		t.Fatalf("tampered ledger: exit %d, want 3\n%s", code, out)
	}
	if !strings.Contains(out, "BROKEN") || !strings.Contains(out, "position 2") {
		t.Fatalf("verify does not name the broken link at position 2:\n%s", out)
	}
}
