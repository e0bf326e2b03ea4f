package jetstream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
)

var operator = events.Actor{ID: "ops-1", Role: events.RoleAdmin}

func note(text string) events.Event {
	return events.MustNew(&events.ContactMade{ClientID: "c1", StaffID: "cm-1", Channel: "phone", At: time.Now(), Note: text},
		events.Actor{ID: "cm-1", Role: events.RoleCaseManager})
}

// damagedLedger writes notes 0..n-1 alternately to client-a and client-b
// (positions 1..n), stops the server cleanly (its index kept: the record
// stays counted), flips a byte inside note bad, and restarts.
func damagedLedger(t *testing.T, n, bad int) *jstest.Env {
	t.Helper()
	dir := t.TempDir()
	env := jstest.Start(t, jstest.Options{Dir: dir})
	for i := range n {
		if _, err := env.Store.Append(context.Background(), []string{"client-a", "client-b"}[i%2], ledger.Any, note(fmt.Sprintf("note-%d-xxxx", i))); err != nil {
			t.Fatal(err)
		}
	}
	env.Stop()
	blocks, _ := filepath.Glob(filepath.Join(dir, "jetstream", "*", "streams", "RELAIS_EVENTS", "msgs", "*.blk"))
	if len(blocks) == 0 {
		t.Fatal("no block file")
	}
	blk := blocks[len(blocks)-1]
	b, err := os.ReadFile(blk)
	if err != nil {
		t.Fatal(err)
	}
	j := bytes.Index(b, []byte(fmt.Sprintf("note-%d-", bad)))
	if j < 0 {
		t.Fatalf("note %d not in %s", bad, blk)
	}
	b[j+2] ^= 0x01
	if err := os.WriteFile(blk, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return jstest.Start(t, jstest.Options{Dir: dir})
}

// Issue 11 §2: one unreadable record made its stream unwritable for ever,
// with a self-contradictory conflict ("expected 13, stream is at 13"), or
// (the stream's last record) let an append start the stream over at
// revision 1. The stream is now named damaged, with the position, until
// Repair records the loss; then it takes events again.
func TestADamagedRecordMarksItsStreamUntilRepaired(t *testing.T) {
	tests := []struct {
		name     string
		bad      int    // the damaged note (position bad+1)
		stream   string // its stream
		revision uint64
	}{
		{"a record in the middle of its stream", 4, "client-a", 3},
		{"the last record of its stream", 8, "client-a", 5},
		{"the first record of its stream", 1, "client-b", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := damagedLedger(t, 10, tc.bad)
			ctx := context.Background()
			pos := uint64(tc.bad + 1)
			_, err := env.Store.Read(ctx, tc.stream, 1)
			var dmg *ledger.DamagedError
			if !errors.As(err, &dmg) || !errors.Is(err, ledger.ErrStreamDamaged) {
				t.Fatalf("read %s: %v, want a DamagedError", tc.stream, err)
			}
			if got := dmg.Records[0]; dmg.Stream != tc.stream || got.Position != pos || got.Revision != tc.revision {
				t.Errorf("damage named %s revision %d position %d, want %s revision %d position %d",
					dmg.Stream, got.Revision, got.Position, tc.stream, tc.revision, pos)
			}
			if !strings.Contains(err.Error(), "relais repair --stream "+tc.stream+fmt.Sprintf(" --position %d", pos)) {
				t.Errorf("the error does not say how to repair: %v", err)
			}
			// verify names the damaged record itself, with its stream.
			_, verr := ledger.Verify(ctx, env.Store, nil)
			var b *ledger.BrokenLinkError
			if !errors.As(verr, &b) || b.Position != pos || b.Stream != tc.stream || b.Revision != tc.revision || !errors.Is(verr, ledger.ErrStreamDamaged) {
				t.Errorf("verify: %v, want the damaged position %d of %s revision %d", verr, pos, tc.stream, tc.revision)
			}
			// The other stream is untouched.
			other := map[string]string{"client-a": "client-b", "client-b": "client-a"}[tc.stream]
			if _, err := env.Store.Read(ctx, other, 1); err != nil {
				t.Errorf("read %s: %v", other, err)
			}
			// Writes to the damaged stream are refused, naming the damage.
			_, err = ledger.Update(ctx, env.Store, tc.stream, func([]events.Event) ([]events.Event, error) { return []events.Event{note("update")}, nil })
			if !errors.Is(err, ledger.ErrStreamDamaged) || errors.Is(err, ledger.ErrWrongRevision) {
				t.Errorf("update of the damaged stream: %v, want ErrStreamDamaged", err)
			}
			if _, err := env.Store.Append(ctx, tc.stream, ledger.Any, note("any")); tc.revision == 5 && !errors.Is(err, ledger.ErrStreamDamaged) {
				t.Errorf("append any after an unreadable last record: %v, want ErrStreamDamaged", err)
			}
			// Repair: a wrong position is refused, the right one recorded.
			if _, err := env.Store.Repair(ctx, tc.stream, pos+1, operator, "test"); !errors.Is(err, ledger.ErrInvalidEvent) {
				t.Errorf("repair at a readable position: %v, want ErrInvalidEvent", err)
			}
			if _, err := env.Store.Repair(ctx, other, pos, operator, "test"); !errors.Is(err, ledger.ErrInvalidEvent) {
				t.Errorf("repair of the healthy stream: %v, want ErrInvalidEvent", err)
			}
			res, err := env.Store.Repair(ctx, tc.stream, pos, operator, "disk error, no backup holds it")
			if err != nil {
				t.Fatalf("repair: %v", err)
			}
			if res.Events[0].Type != events.TypeRecordDamaged {
				t.Errorf("repair appended %s", res.Events[0].Type)
			}
			if _, err := env.Store.Repair(ctx, tc.stream, pos, operator, "again"); !errors.Is(err, ledger.ErrInvalidEvent) {
				t.Errorf("a second repair of the same record: %v, want ErrInvalidEvent", err)
			}
			up, err := ledger.Update(ctx, env.Store, tc.stream, func([]events.Event) ([]events.Event, error) { return []events.Event{note("after repair")}, nil })
			if err != nil {
				t.Fatalf("update after the repair: %v", err)
			}
			if up.Revision != res.Revision+1 {
				t.Errorf("update after the repair landed at revision %d, want %d", up.Revision, res.Revision+1)
			}
			rep, err := ledger.Verify(ctx, env.Store, nil)
			if err != nil {
				t.Fatalf("verify after the repair: %v", err)
			}
			if len(rep.Repaired) != 1 || rep.Repaired[0].Position != pos || rep.Repaired[0].Actor != operator.ID || rep.Repaired[0].ByPosition != res.Position {
				t.Errorf("verify reports repaired %+v, want position %d by %s (event at %d)", rep.Repaired, pos, operator.ID, res.Position)
			}
			evs, err := env.Store.Read(ctx, tc.stream, 1)
			if err != nil {
				t.Fatalf("read after the repair: %v", err)
			}
			for _, e := range evs {
				if e.Position == pos {
					t.Errorf("read returned the damaged position %d", pos)
				}
			}
		})
	}
}
