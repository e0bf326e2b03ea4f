package ledger_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

// chain seals n events on one stream as a backend would store them.
func chain(t *testing.T, n int) []events.Event {
	t.Helper()
	evs := make([]events.Event, n)
	for i := range evs {
		evs[i] = events.MustNew(&events.ContactMade{ClientID: "c1", StaffID: "cm", Channel: "phone", At: time.Unix(int64(i), 0)}, events.Actor{ID: "cm", Role: "case_manager"})
	}
	if err := ledger.Validate("client-c1", evs); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.Seal("client-c1", ledger.Head{}, time.Unix(0, 0).UTC(), evs); err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		evs[i].Position = uint64(i + 1)
	}
	return evs
}

func TestVerifierNamesTheFirstBrokenLink(t *testing.T) {
	tests := []struct {
		name     string
		tamper   func([]events.Event) []events.Event
		wantPos  uint64
		wantText string
	}{
		{"an intact chain passes", func(e []events.Event) []events.Event { return e }, 0, ""},
		{"a changed body is caught by its hash", func(e []events.Event) []events.Event {
			e[2].Raw = []byte(strings.Replace(string(e[2].Raw), "phone", "video", 1))
			return e
		}, 3, "hash"},
		{"a body and hash rewritten together break the next link", func(e []events.Event) []events.Event {
			e[1].Raw = []byte(strings.Replace(string(e[1].Raw), "phone", "video", 1))
			e[1].Hash = events.HashOf(e[1].Raw)
			return e
		}, 3, "prev_hash"},
		{"a removed event is named as an unreadable record of its stream", func(e []events.Event) []events.Event {
			return append(e[:1], e[2:]...)
		}, 2, "stream client-c1 revision 2): the stored record cannot be read"},
		{"the last event removed is named with its stream when the backend cannot tell", func(e []events.Event) []events.Event {
			return e[:4]
		}, 5, "its stream could not be told"},
		{"a replayed event is caught", func(e []events.Event) []events.Event {
			dup := e[1]
			dup.Position = 3
			e[2] = dup
			for i := 3; i < len(e); i++ {
				e[i].Position = uint64(i + 1)
			}
			return e
		}, 3, "revision"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := tt.tamper(chain(t, 5))
			v := ledger.NewVerifier()
			var err error
			for _, e := range evs {
				if err = v.Check(e); err != nil {
					break
				}
			}
			if err == nil {
				err = v.Finish(context.Background(), nil, 5)
			}
			if tt.wantPos == 0 {
				if err != nil {
					t.Fatalf("intact chain refused: %v", err)
				}
				return
			}
			var b *ledger.BrokenLinkError
			if !errors.As(err, &b) || b.Position != tt.wantPos || !strings.Contains(b.Error(), tt.wantText) {
				t.Fatalf("want broken link at %d mentioning %q, got %v", tt.wantPos, tt.wantText, err)
			}
		})
	}
}

// One event id stored at two positions (a sender's reused control id once
// did this, on two visit streams) is named by verify, even when each
// stream's chain is intact.
func TestVerifierNamesAnEventIDStoredTwice(t *testing.T) {
	first := chain(t, 2)
	again := events.MustNew(&events.ContactMade{ClientID: "c2", StaffID: "cm", Channel: "phone", At: time.Unix(9, 0)},
		events.Actor{ID: "cm", Role: "case_manager"}, events.WithID(first[0].ID))
	other := []events.Event{again}
	if _, err := ledger.Seal("client-c2", ledger.Head{}, time.Unix(0, 0).UTC(), other); err != nil {
		t.Fatal(err)
	}
	other[0].Position = 3
	v := ledger.NewVerifier()
	for _, e := range first {
		if err := v.Check(e); err != nil {
			t.Fatalf("intact event %d: %v", e.Position, err)
		}
	}
	err := v.Check(other[0])
	if err == nil || !strings.Contains(err.Error(), "stored twice") || !strings.Contains(err.Error(), "position 1") {
		t.Fatalf("verify said %v, want the id named as stored twice, first at position 1", err)
	}
}

// A record lost and recorded with ledger.record_damaged (relais repair) is
// reported as repaired, naming who and why; a repair event that names a
// position that was read is a break.
func TestVerifierReportsARepairedRecord(t *testing.T) {
	repair := func(pos, rev uint64) func(t *testing.T, evs []events.Event) []events.Event {
		return func(t *testing.T, evs []events.Event) []events.Event {
			r := events.MustNew(&events.RecordDamaged{Position: pos, Revision: rev, Reason: "disk error, no backup"}, events.Actor{ID: "ops-1", Role: "admin"})
			rs := []events.Event{r}
			last := evs[len(evs)-1]
			if _, err := ledger.Seal("client-c1", ledger.Head{Revision: last.Revision, Hash: last.Hash}, time.Unix(0, 0).UTC(), rs); err != nil {
				t.Fatal(err)
			}
			rs[0].Position = 6
			return append(append(evs[:1], evs[2:]...), rs[0])
		}
	}
	tests := []struct {
		name    string
		build   func(*testing.T, []events.Event) []events.Event
		wantErr string
	}{
		{"the repaired record passes and is reported", repair(2, 2), ""},
		{"a repair naming a record that was read is a break", repair(3, 3), "position 3 as unreadable, but that position was read"},
		{"a repair naming the wrong revision is a break", repair(2, 4), "it was revision 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := ledger.NewVerifier()
			var err error
			for _, e := range tt.build(t, chain(t, 5)) {
				if err = v.Check(e); err != nil {
					break
				}
			}
			if err == nil {
				err = v.Finish(context.Background(), nil, 6)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("verify said %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			rep := v.Report().Repaired
			if len(rep) != 1 || rep[0].Position != 2 || rep[0].Stream != "client-c1" || rep[0].Actor != "ops-1" || rep[0].ByPosition != 6 {
				t.Errorf("repaired = %+v, want position 2 of client-c1 by ops-1 at position 6", rep)
			}
		})
	}
}
