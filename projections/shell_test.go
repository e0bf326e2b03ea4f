package projections_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/relais-health/relais/projections"
)

// tally is a read model's state for the shell tests: what it folded, in
// order, and (not in its JSON) an index Reindex rebuilds.
type tally struct {
	projections.Checkpoint
	Seen []string `json:"seen"`

	index map[string]bool
}

func newTally() *tally { return &tally{index: map[string]bool{}} }

func (t *tally) add(s string) { t.Seen, t.index[s] = append(t.Seen, s), true }

func (t *tally) Reindex() error {
	for _, s := range t.Seen {
		if s == "" {
			return errors.New("empty entry")
		}
		t.index[s] = true
	}
	return nil
}

func seen(sh *projections.Shell[*tally]) (out []string, indexed int) {
	sh.View(func(t *tally) { out, indexed = append(out, t.Seen...), len(t.index) })
	return out, indexed
}

func TestShellFoldsEachPositionOnce(t *testing.T) {
	for _, c := range []struct {
		name      string
		positions []uint64
		want      string
		wantPos   uint64
	}{
		{"events in order are each folded", []uint64{1, 2, 3}, "1 2 3", 3},
		{"a redelivered event is not folded again", []uint64{1, 2, 2, 3, 3}, "1 2 3", 3},
		{"an event below the last position is skipped", []uint64{1, 5, 3, 6}, "1 5 6", 6},
		{"an event without a position is always folded and moves nothing", []uint64{4, 0, 0}, "4 0 0", 4},
		{"gaps in positions are normal (other projections' events)", []uint64{10, 200}, "10 200", 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			sh := projections.NewShell("tally", 1, newTally)
			for _, pos := range c.positions {
				sh.Fold(pos, func(st *tally) { st.add(fmt.Sprint(pos)) })
			}
			if got, _ := seen(sh); strings.Join(got, " ") != c.want {
				t.Fatalf("folded %v, want %s", got, c.want)
			}
			if sh.Position() != c.wantPos {
				t.Fatalf("position %d, want %d", sh.Position(), c.wantPos)
			}
		})
	}
}

func TestShellRecordsThePositionOfAnEventItDoesNotUse(t *testing.T) {
	sh := projections.NewShell("tally", 1, newTally)
	sh.Fold(7, nil)
	sh.Fold(7, func(st *tally) { st.add("7") })
	sh.Fold(8, func(st *tally) { st.add("8") })
	if got, _ := seen(sh); strings.Join(got, " ") != "8" || sh.Position() != 8 {
		t.Fatalf("folded %v at %d, want [8] at 8", got, sh.Position())
	}
}

func TestShellSnapshotRestoresToAnEqualState(t *testing.T) {
	live := projections.NewShell("tally", 3, newTally)
	for i, s := range []string{"a", "b", "c"} {
		live.Fold(uint64(i+1), func(st *tally) { st.add(s) })
	}
	snap, err := live.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"version":3,"position":3,"seen":["a","b","c"]}`; string(snap) != want {
		t.Fatalf("snapshot %s, want %s", snap, want)
	}
	resumed := projections.NewShell("tally", 3, newTally)
	if err := resumed.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if resumed.Digest() != live.Digest() || resumed.Position() != 3 {
		t.Fatalf("restored digest %s at %d, want %s at 3", resumed.Digest(), resumed.Position(), live.Digest())
	}
	if _, indexed := seen(resumed); indexed != 3 {
		t.Fatalf("Reindex rebuilt %d entries, want 3", indexed)
	}
	// After the restore, the checkpoint still guards: position 3 is done.
	resumed.Fold(3, func(st *tally) { st.add("c again") })
	resumed.Fold(4, func(st *tally) { st.add("d") })
	live.Fold(4, func(st *tally) { st.add("d") })
	if resumed.Digest() != live.Digest() {
		t.Fatalf("after one more event: resumed %s, live %s", resumed.Digest(), live.Digest())
	}
	if live.Digest() == projections.NewShell("tally", 3, newTally).Digest() {
		t.Fatal("the digest of a folded state equals an empty one")
	}
}

func TestShellRestoreRefusesWhatItCannotResume(t *testing.T) {
	for _, c := range []struct {
		name, snapshot, wantErr string
	}{
		{"a snapshot of another layout version is refused", `{"version":2,"position":9,"seen":["x"]}`, "snapshot version 2, want 1"},
		{"a snapshot that names no version is refused", `{"position":9,"seen":["x"]}`, "snapshot version 0, want 1"},
		{"a snapshot that is not JSON is refused", `{"version":1,`, "tally: restore"},
		{"a snapshot the state cannot reindex is refused", `{"version":1,"position":9,"seen":[""]}`, "empty entry"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sh := projections.NewShell("tally", 1, newTally)
			sh.Fold(1, func(st *tally) { st.add("kept") })
			err := sh.Restore([]byte(c.snapshot))
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("Restore: %v, want an error with %q", err, c.wantErr)
			}
			if got, _ := seen(sh); strings.Join(got, " ") != "kept" || sh.Position() != 1 {
				t.Fatalf("after a refused restore: %v at %d, want [kept] at 1", got, sh.Position())
			}
		})
	}
}

// compact is a state that writes its own JSON.
type compact struct {
	projections.Checkpoint
	N int `json:"n"`
}

func (c *compact) WriteJSON(w io.Writer) error {
	_, err := fmt.Fprintf(w, `{"version":%d,"position":%d,"n":%d}`, c.Version, c.Position, c.N)
	return err
}

func TestShellUsesTheStatesOwnJSONForSnapshotAndDigest(t *testing.T) {
	sh := projections.NewShell("compact", 1, func() *compact { return &compact{} })
	sh.Fold(5, func(st *compact) { st.N = 42 })
	snap, err := sh.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"version":1,"position":5,"n":42}`; string(snap) != want {
		t.Fatalf("snapshot %s, want %s", snap, want)
	}
	sum := sha256.Sum256(snap)
	if sh.Digest() != hex.EncodeToString(sum[:]) {
		t.Fatalf("digest %s is not the SHA-256 of the snapshot", sh.Digest())
	}
	back := projections.NewShell("compact", 1, func() *compact { return &compact{} })
	if err := back.Restore(snap); err != nil || back.Digest() != sh.Digest() {
		t.Fatalf("restore: %v, digest %s, want %s", err, back.Digest(), sh.Digest())
	}
}

func TestShellQueriesRunWhileEventsAreFolded(t *testing.T) {
	sh := projections.NewShell("tally", 1, newTally)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for pos := uint64(1); pos <= 500; pos++ {
			sh.Fold(pos, func(st *tally) { st.add("e") })
		}
	}()
	for range 100 {
		_, _ = seen(sh)
		_ = sh.Position()
		_ = sh.Digest()
		if _, err := sh.Snapshot(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if got, _ := seen(sh); len(got) != 500 {
		t.Fatalf("folded %d events, want 500", len(got))
	}
}
