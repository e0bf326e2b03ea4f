package clientindex

import (
	"fmt"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/projections"
)

// snapshotVersion is the layout of the index's snapshot.
const snapshotVersion = 1

// snapState is the whole index (identifiers as a list: JSON keys are
// strings), so a restart restores it instead of replaying the ledger from
// position 1. TestSnapshotHoldsEveryField keeps it in step with Index.
type snapState struct {
	projections.Checkpoint
	ByID   []snapIdent       `json:"by_id"`
	ByKey  map[string]string `json:"by_key"`
	Client map[string]bool   `json:"client"`
	Into   map[string]string `json:"into"`
}

type snapIdent struct {
	events.Identifier
	Client string `json:"client"`
}

// Snapshot returns the index as JSON (projections.Snapshotter).
func (x *Index) Snapshot() ([]byte, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := snapState{Checkpoint: projections.Checkpoint{Version: snapshotVersion}, ByID: make([]snapIdent, 0, len(x.byID)),
		ByKey: x.byKey, Client: x.client, Into: x.into}
	for id, c := range x.byID {
		out.ByID = append(out.ByID, snapIdent{Identifier: id, Client: c})
	}
	return projections.SnapshotJSON("clientindex", out)
}

// Restore replaces the index with snapshot b, taken by Snapshot; a
// snapshot of another layout is refused and the index is left as it was.
func (x *Index) Restore(b []byte) error {
	var in snapState
	if err := projections.RestoreJSON("clientindex", b, &in, &in.Version, snapshotVersion); err != nil {
		return err
	}
	byID := make(map[events.Identifier]string, len(in.ByID))
	for _, s := range in.ByID {
		if _, dup := byID[s.Identifier]; dup {
			return fmt.Errorf("clientindex: restore: identifier %s/%s listed twice", s.Authority, s.Value)
		}
		byID[s.Identifier] = s.Client
	}
	for _, m := range []*map[string]string{&in.ByKey, &in.Into} {
		if *m == nil {
			*m = map[string]string{}
		}
	}
	if in.Client == nil {
		in.Client = map[string]bool{}
	}
	x.mu.Lock()
	x.byID, x.byKey, x.client, x.into = byID, in.ByKey, in.Client, in.Into
	x.mu.Unlock()
	return nil
}
