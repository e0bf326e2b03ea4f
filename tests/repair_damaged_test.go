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

	"github.com/relais-health/relais/events"
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
	flipByteIn(t, data, "repairnote-2-")
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

// Issue 11 §3: the last record of the ledger unreadable but still counted
// (a clean stop keeps the server's index, then a byte flips in the newest
// record). serve used to wait for it for ever, then for --start-timeout: a
// projection, and the event-id index, waited on a position the server will
// never deliver. Now serve starts, the damaged stream is refused with the
// repair to run, and the other clients take writes.
func TestADamagedLastRecordDoesNotStopTheStart(t *testing.T) {
	data := t.TempDir()
	srv := startServe(t, data, "--demo", "--demo-every", "0", "--seal-key", "demo")
	var last ack
	for i := range 3 {
		last = postContact(t, srv, fmt.Sprintf("tailnote-%d-xxxxxxxx", i))
	}
	srv.stop(t)
	flipByteIn(t, data, "tailnote-2-")

	srv, healthy := tryServe(t, data, "--seal-key", "demo", "--start-timeout", "20s")
	if !healthy {
		t.Fatalf("serve on a ledger whose last record is damaged did not become healthy:\n%s", srv.logs())
	}
	status, body := contactStatus(t, srv, "refused")
	if status != http.StatusConflict || !strings.Contains(body, `"code":"stream_damaged"`) || !strings.Contains(body, fmt.Sprintf("position %d", last.Position)) {
		t.Fatalf("write to the damaged client: %d %s, want 409 stream_damaged naming position %d", status, body, last.Position)
	}
	// The CLI's append at the stream's revision, through the running serve:
	// refused the same way, never a contradictory "expected N, stream is at N".
	for _, exp := range []string{fmt.Sprint(last.Revision), fmt.Sprint(last.Revision - 1), "any"} {
		out, errOut, code := runRelais(t, "events", "append", "--data", data, "--seal-key", "demo", "--stream", last.Stream, "--expected", exp,
			"--type", events.TypeContactMade, "--payload", `{"client_id":"client-01","staff_id":"cm-1","channel":"phone","at":"2026-12-03T08:00:00Z","note":"cli"}`)
		if code == 0 || !strings.Contains(out+errOut, "damaged") || !strings.Contains(out+errOut, fmt.Sprintf("position %d", last.Position)) {
			t.Errorf("events append --expected %s to the damaged stream: exit %d, want a refusal naming the damage at position %d:\n%s%s", exp, code, last.Position, out, errOut)
		}
	}
	if code, body := call(t, "POST", "http://"+srv.HTTP+"/v1/clients/client-02/contacts", "demo-cm-1",
		map[string]any{"staff_id": "cm-1", "channel": "phone", "at": time.Now().UTC(), "note": "another client"}); code != http.StatusCreated {
		t.Fatalf("write to another client: %d %s, want 201", code, body)
	}
}

// flipByteIn flips one byte inside the stored record that holds marker, in
// the last message block of the ledger under data (the server stopped).
func flipByteIn(t *testing.T, data, marker string) {
	t.Helper()
	blk, b := lastBlock(t, data)
	j := bytes.LastIndex(b, []byte(marker))
	if j < 0 {
		t.Fatalf("%q not found in %s", marker, blk)
	}
	b[j+2] ^= 0x01
	if err := os.WriteFile(blk, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
