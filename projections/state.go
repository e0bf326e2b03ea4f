package projections

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// The read models keep their whole state in one JSON-encodable value with
// a Version field; these are the snapshot and digest steps they share.
// Shell applies them; a read model that keeps its own lock may call them
// directly.

// SnapshotJSON encodes the state st of projection name for a snapshot.
func SnapshotJSON(name string, st any) ([]byte, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("%s: snapshot: %w", name, err)
	}
	return b, nil
}

// RestoreJSON decodes snapshot b into st and checks that the version it
// holds (read through version, a field of st) is want.
func RestoreJSON(name string, b []byte, st any, version *int, want int) error {
	if err := json.Unmarshal(b, st); err != nil {
		return fmt.Errorf("%s: restore: %w", name, err)
	}
	if *version != want {
		return fmt.Errorf("%s: restore: snapshot version %d, want %d", name, *version, want)
	}
	return nil
}

// DigestJSON is the SHA-256 (hex) of st's JSON (map keys sorted, lists in
// fold order): equal digests mean equal read models.
func DigestJSON(st any) string {
	h := sha256.New()
	if err := json.NewEncoder(h).Encode(st); err != nil {
		return "error: " + err.Error()
	}
	return hex.EncodeToString(h.Sum(nil))
}
