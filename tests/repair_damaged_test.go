package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// Issue 11 §2, through the real binary: a flipped byte in a stored record
// (the server stopped cleanly, so its index still counts the record).
// verify used to name the next event ("the next stored event is 297 (stream
// … revision 13)") and every write to the client answered a contradictory
// 409 "expected 13, stream is at 13", for ever. Now verify names the
// damaged position and its stream, writes answer 409 stream_damaged saying
// how to repair, `relais repair` records the loss, the client takes writes
// again, and verify reports the repair.
func TestADamagedRecordIsNamedRefusedAndRepaired(t *testing.T) {
	data := t.TempDir()
	srv := startServe(t, data, "--demo", "--demo-every", "0", "--seal-key", "demo")
	var acked []ack
	for i := range 5 {
		acked = append(acked, postContact(t, srv, fmt.Sprintf("repairnote-%d-xxxxxxxx", i)))
	}
	srv.stop(t)
	blk, b := lastBlock(t, data)
	j := bytes.Index(b, []byte("repairnote-2-"))
	if j < 0 {
		t.Fatalf("note 2 not found in %s", blk)
	}
	b[j+2] ^= 0x01
	if err := os.WriteFile(blk, b, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := acked[2]
	named := fmt.Sprintf("position %d (stream %s revision %d)", bad.Position, bad.Stream, bad.Revision)

	// verify, without serve: the damaged record itself, with its stream.
	out, errOut, code := runRelais(t, "verify", "--data", data, "--seal-key", "demo")
	if code != exitBrokenCode || !strings.Contains(out, named) || !strings.Contains(out, "relais repair --stream "+bad.Stream) {
		t.Fatalf("verify of the damaged ledger: exit %d, want %d naming %q and the repair:\n%s%s", code, exitBrokenCode, named, out, errOut)
	}

	srv = startServe(t, data, "--seal-key", "demo")
	status, body := contactStatus(t, srv, "refused")
	if status != http.StatusConflict || !strings.Contains(body, `"code":"stream_damaged"`) ||
		!strings.Contains(body, fmt.Sprintf("position %d", bad.Position)) || !strings.Contains(body, "relais repair") || strings.Contains(body, "expected") {
		t.Fatalf("write to the damaged client: %d %s, want 409 stream_damaged naming position %d and relais repair", status, body, bad.Position)
	}
	// Through the running serve: verify names it too.
	if out, errOut, code := runRelais(t, "verify", "--data", data, "--seal-key", "demo"); code != exitBrokenCode || !strings.Contains(out, named) {
		t.Fatalf("verify through serve: exit %d, want %d naming %q:\n%s%s", code, exitBrokenCode, named, out, errOut)
	}

	// A wrong position is refused and changes nothing; the right one is recorded.
	if out, errOut, code := runRelais(t, "repair", "--data", data, "--seal-key", "demo", "--stream", bad.Stream,
		"--position", fmt.Sprint(bad.Position+1), "--reason", "wrong"); code == 0 {
		t.Fatalf("repair of a readable position: exit 0\n%s%s", out, errOut)
	}
	out, errOut, code = runRelais(t, "repair", "--data", data, "--seal-key", "demo", "--stream", bad.Stream,
		"--position", fmt.Sprint(bad.Position), "--reason", "disk error; no backup holds it; ticket 4411", "--actor", "ops-1")
	if code != 0 || !strings.Contains(out, "ledger.record_damaged") {
		t.Fatalf("repair: exit %d\n%s%s", code, out, errOut)
	}

	if status, body := contactStatus(t, srv, "after repair"); status != http.StatusCreated {
		t.Fatalf("write after the repair: %d %s, want 201", status, body)
	}
	out, errOut, code = runRelais(t, "verify", "--data", data, "--seal-key", "demo")
	if code != 0 || !strings.Contains(out, "repaired: "+named) || !strings.Contains(out, "ops-1") || !strings.Contains(out, "ticket 4411") {
		t.Fatalf("verify after the repair: exit %d, want 0 reporting the repair of %s by ops-1:\n%s%s", code, named, out, errOut)
	}
}

// exitBrokenCode is verify's exit code for a broken chain (README).
const exitBrokenCode = 3

// contactStatus posts a contact for demo client-01 and returns the answer.
func contactStatus(t *testing.T, s *server, note string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"staff_id": "cm-1", "channel": "phone", "at": time.Now().UTC(), "note": note})
	req, _ := http.NewRequest("POST", "http://"+s.HTTP+"/v1/clients/client-01/contacts", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer demo-cm-1")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
