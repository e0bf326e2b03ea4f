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
	for _, tc := range []struct{ name, note, want string }{
		{"an event in the middle", "note-2", "position 2"},
		{"the last event", "note-3", "position 3 (stream client-c1 revision 3): the stored record cannot be read"},
	} {
		t.Run(tc.name, func(t *testing.T) { tamperAndVerify(t, tc.note, tc.want) })
	}
}

func tamperAndVerify(t *testing.T, note, want string) {
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
	i := bytes.Index(b, []byte(note))
	if i < 0 {
		t.Fatalf("%s not found in the block", note)
	}
	copy(b[i:], strings.ToUpper(note))
	if err := os.WriteFile(blocks[0], b, 0o600); err != nil {
		t.Fatal(err)
	}

	out, _, code := runRelais(t, "verify", "--data", data)
	if code != 3 {
		t.Fatalf("tampered ledger: exit %d, want 3\n%s", code, out)
	}
	if !strings.Contains(out, "BROKEN") || !strings.Contains(out, want) {
		t.Fatalf("verify does not say %q:\n%s", want, out)
	}
}
