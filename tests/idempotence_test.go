package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	ledgerjs "github.com/relais-health/relais/infra/ledger/jetstream"
	"github.com/relais-health/relais/infra/natsembed"
	"github.com/relais-health/relais/internal/poll"
)

// The same event id appended with `relais events append --expected any`
// twice, the second time after JetStream's duplicate window (made 1s with
// --duplicate-window), lands once: the second answer is the first's
// position, marked duplicate.
func TestIdempotenceBeyondTheDuplicateWindow(t *testing.T) {
	data := t.TempDir()
	srv := startServe(t, data, "--duplicate-window", "1s")
	id := uuid.Must(uuid.NewV7()).String()
	file := filepath.Join(t.TempDir(), "event.jsonl")
	line := fmt.Sprintf(`{"id":%q,"type":"contact.made","data":{"client_id":"c1","staff_id":"cm-1","channel":"phone","at":"2026-11-01T10:00:00Z"}}`, id)
	if err := os.WriteFile(file, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		Position  uint64 `json:"position"`
		Revision  uint64 `json:"revision"`
		Duplicate bool   `json:"duplicate"`
	}
	appendIt := func() answer {
		t.Helper()
		out, errs, code := runRelaisFor(t, time.Minute, "events", "append", "--data", data, "--stream", "client-idem", "--expected", "any", "--file", file)
		if code != 0 {
			t.Fatalf("events append: exit %d: %s", code, errs)
		}
		var a answer
		if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &a); err != nil {
			t.Fatalf("events append printed %q: %v", out, err)
		}
		return a
	}
	first := appendIt()
	if first.Duplicate {
		t.Fatalf("the first append is reported as a duplicate: %+v", first)
	}
	waitWindowForgets(t, srv, id)
	again := appendIt()
	if again.Position != first.Position || again.Revision != first.Revision || !again.Duplicate {
		t.Fatalf("the same id after the window: %+v, want the original %+v marked duplicate", again, first)
	}
	out, errs, code := runRelaisFor(t, time.Minute, "events", "read", "--data", data, "--stream", "client-idem")
	if code != 0 {
		t.Fatalf("events read: exit %d: %s", code, errs)
	}
	if n := strings.Count(strings.TrimSpace(out), "\n") + 1; n != 1 {
		t.Fatalf("client-idem holds %d events, want 1:\n%s", n, out)
	}
}

// waitWindowForgets waits until serve's ledger stream no longer remembers
// id for de-duplication, writing nothing: a publish with id and an expected
// last message id that never matches is a duplicate while JetStream
// remembers id, and refused for the wrong last message id after.
func waitWindowForgets(t *testing.T, srv *server, id string) {
	t.Helper()
	cred, err := natsembed.Credential(filepath.Join(srv.Data, "relais-nats.seed"))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("nats://"+srv.NATS, cred)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	poll.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		m := nats.NewMsg(ledgerjs.SubjectPrefix + "window-probe")
		m.Header.Set(jetstream.MsgIDHeader, id)
		m.Header.Set(jetstream.ExpectedLastMsgIDHeader, "no-such-message-id")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ack, err := js.PublishMsg(ctx, m)
		var apiErr *jetstream.APIError
		switch {
		case err == nil && ack.Duplicate:
			return fmt.Errorf("JetStream still remembers %s", id)
		case errors.As(err, &apiErr) && apiErr.ErrorCode == 10070: // wrong last msg ID
			return nil
		case err == nil:
			t.Fatalf("the window probe was written at position %d", ack.Sequence)
		}
		return fmt.Errorf("window probe: %w", err)
	})
}
