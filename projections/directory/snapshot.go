package directory

import (
	"fmt"

	"github.com/relais-health/relais/projections"
)

// snapshotVersion is the layout of the directory's snapshot.
const snapshotVersion = 1

// snapState is the whole directory: every entry with its token's hash
// (the SHA-256 the ledger already holds, never a token) and the token
// index, so a restart restores them instead of replaying the ledger from
// position 1. TestSnapshotHoldsEveryField keeps it in step with Directory.
type snapState struct {
	projections.Checkpoint
	ByID    map[string]snapEntry `json:"by_id"`
	ByToken map[string]string    `json:"by_token"`
}

type snapEntry struct {
	Entry
	TokenHash string `json:"token_hash,omitempty"`
}

// Snapshot returns the directory as JSON (projections.Snapshotter).
func (d *Directory) Snapshot() ([]byte, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := snapState{Checkpoint: projections.Checkpoint{Version: snapshotVersion}, ByID: make(map[string]snapEntry, len(d.byID)), ByToken: d.byToken}
	for id, e := range d.byID {
		out.ByID[id] = snapEntry{Entry: e, TokenHash: e.tokenHash}
	}
	return projections.SnapshotJSON("directory", out)
}

// Restore replaces the directory with snapshot b, taken by Snapshot; a
// snapshot of another layout, or whose token index names an entry it does
// not hold, is refused and the directory is left as it was.
func (d *Directory) Restore(b []byte) error {
	var in snapState
	if err := projections.RestoreJSON("directory", b, &in, &in.Version, snapshotVersion); err != nil {
		return err
	}
	byID := make(map[string]Entry, len(in.ByID))
	for id, e := range in.ByID {
		if e.ID != id {
			return fmt.Errorf("directory: restore: entry %q holds id %q", id, e.ID)
		}
		en := e.Entry
		en.tokenHash = e.TokenHash
		byID[id] = en
	}
	if in.ByToken == nil {
		in.ByToken = map[string]string{}
	}
	for h, id := range in.ByToken {
		if byID[id].tokenHash != h {
			return fmt.Errorf("directory: restore: the token index names %q, whose entry holds another token", id)
		}
	}
	d.mu.Lock()
	d.byID, d.byToken = byID, in.ByToken
	d.mu.Unlock()
	d.signalNATS() // the partners' NATS keys changed
	return nil
}
