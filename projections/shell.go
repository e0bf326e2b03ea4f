package projections

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
)

// Checkpoint is what every read model's state records besides its facts:
// the layout version of its snapshot and the global position of the last
// event folded into it. A state embeds it (first, so a snapshot starts
// {"version":…,"position":…}) and so satisfies State.
type Checkpoint struct {
	Version  int    `json:"version"`
	Position uint64 `json:"position"`
}

func (c *Checkpoint) checkpoint() *Checkpoint { return c }

// State is the state of a read model: a pointer to a JSON-encodable struct
// that embeds Checkpoint. It may also implement JSONWriter (its own
// canonical JSON) and Reindexer (what it derives after a restore).
type State interface {
	checkpoint() *Checkpoint
}

// JSONWriter is a state that writes its canonical JSON itself (map keys
// sorted, lists in fold order), for a layout more compact or faster than
// encoding/json's; json.Unmarshal must read it back.
type JSONWriter interface {
	WriteJSON(w io.Writer) error
}

// Reindexer is a state that keeps more than its JSON: Reindex rebuilds
// it (indexes, interned strings, maps a snapshot left null) after the
// state was decoded from a snapshot, or refuses the snapshot.
type Reindexer interface {
	Reindex() error
}

// Shell is what every read model keeps around its pure fold: the state,
// the lock that lets queries run while one goroutine applies events, the
// rule that an event at or below the last applied position is not folded
// again (a redelivery after a restore never counts twice), and the
// snapshot, restore and digest of the state's JSON. The zero value is not
// usable; make one with NewShell.
type Shell[S State] struct {
	name    string
	version int
	fresh   func() S

	mu sync.RWMutex
	st S
}

// NewShell returns the shell of the read model name (used in errors) whose
// snapshots have layout version; fresh returns an empty state.
func NewShell[S State](name string, version int, fresh func() S) *Shell[S] {
	s := &Shell[S]{name: name, version: version, fresh: fresh}
	s.st = s.empty()
	return s
}

func (s *Shell[S]) empty() S {
	st := s.fresh()
	st.checkpoint().Version = s.version
	return st
}

// Fold runs fold on the state under the write lock, unless pos (the
// event's global position) is at or below the last one applied, and then
// records pos. Position 0 (an event not read from a ledger) is always
// folded and moves nothing. A nil fold only records the position: an
// event the read model does not use.
//
// Work that needs no lock, such as decoding the payload, belongs before
// the call: queries wait only for fold itself.
func (s *Shell[S]) Fold(pos uint64, fold func(st S)) {
	s.mu.Lock()
	c := s.st.checkpoint()
	if pos == 0 || pos > c.Position {
		if fold != nil {
			fold(s.st)
		}
		if pos != 0 {
			c.Position = pos
		}
	}
	s.mu.Unlock()
}

// View runs fn with the state under the read lock; fn must not change it
// nor keep any of it after returning.
func (s *Shell[S]) View(fn func(st S)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(s.st)
}

// Position is the global position of the last applied event.
func (s *Shell[S]) Position() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.st.checkpoint().Position
}

// Snapshot returns the state's JSON.
func (s *Shell[S]) Snapshot() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if w, ok := any(s.st).(JSONWriter); ok {
		var buf bytes.Buffer
		if err := w.WriteJSON(&buf); err != nil {
			return nil, fmt.Errorf("%s: snapshot: %w", s.name, err)
		}
		return buf.Bytes(), nil
	}
	return SnapshotJSON(s.name, s.st)
}

// Restore replaces the state with snapshot b, taken by Snapshot. A
// snapshot of another layout version, or without one, is refused and the
// state is left as it was.
func (s *Shell[S]) Restore(b []byte) error {
	st := s.empty()
	c := st.checkpoint()
	c.Version = 0 // a snapshot that names no version must not pass as current
	if err := RestoreJSON(s.name, b, st, &c.Version, s.version); err != nil {
		return err
	}
	if r, ok := any(st).(Reindexer); ok {
		if err := r.Reindex(); err != nil {
			return fmt.Errorf("%s: restore: %w", s.name, err)
		}
	}
	s.mu.Lock()
	s.st = st
	s.mu.Unlock()
	return nil
}

// Digest is the SHA-256 (hex) of the state's canonical JSON (the
// snapshot's bytes): equal digests mean equal read models.
func (s *Shell[S]) Digest() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	w, ok := any(s.st).(JSONWriter)
	if !ok {
		return DigestJSON(s.st)
	}
	h := sha256.New()
	bw := bufio.NewWriterSize(h, 64<<10)
	if err := w.WriteJSON(bw); err != nil {
		return "error: " + err.Error()
	}
	if err := bw.Flush(); err != nil {
		return "error: " + err.Error()
	}
	return hex.EncodeToString(h.Sum(nil))
}
