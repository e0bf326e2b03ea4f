// Package reports builds the population reports of the programme: the
// archivist's list of the top ED users over a trailing window (with
// exclusion rules, e.g. pregnancy-related visits), and the programme
// manager's outcomes (ED visits and hours in the 12 months before vs after
// enrolment, per client and per enrolment cohort), as JSON-able structs,
// CSV and a standalone SVG chart.
//
// Every ED visit of every patient counts, clients or not, so the fold keeps
// a compact record per encounter (times as Unix seconds, reasons interned,
// the visit identified by a 64-bit hash of facility and visit number) per
// pseudonymous patient key, and nothing else of the events. Visits recorded
// before a person became a client are linked to the client through the
// patient keys of the registration, the visits that carry a client id and
// the hospital's merges.
//
// The fold depends only on events; the report's end instant is a query
// parameter (Config.Now is only its default), so a rebuild equals the live
// projection (compare Digest).
package reports

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/projections"
)

const snapshotVersion = 1

// Config sets the defaults of the queries (never the fold).
type Config struct {
	// Now is the default end of a report (default time.Now).
	Now func() time.Time
	// Location draws the enrolment half-years (default America/Toronto).
	Location *time.Location
	// Exclude is the default exclusion list (see Query.Exclude); nil
	// means {"obstetric"}.
	Exclude []string
}

// Projection is the reports read model. Apply is called by one goroutine at
// a time; queries may run concurrently with it.
type Projection struct {
	cfg Config
	mu  sync.RWMutex
	st  *state
}

// New returns an empty projection.
func New(cfg Config) *Projection {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Location == nil {
		cfg.Location, _ = time.LoadLocation("America/Toronto")
		if cfg.Location == nil {
			cfg.Location = time.UTC
		}
	}
	if cfg.Exclude == nil {
		cfg.Exclude = []string{"obstetric"}
	}
	return &Projection{cfg: cfg, st: newState()}
}

// Apply folds one event; events at or below the position already applied
// are skipped (a redelivery never counts twice).
func (p *Projection) Apply(_ context.Context, e events.Event) error {
	if !used[e.Type] {
		p.mu.Lock()
		p.advance(e.Position)
		p.mu.Unlock()
		return nil
	}
	if x, ok := readEncounter(&e); ok {
		p.mu.Lock()
		defer p.mu.Unlock()
		if e.Position == 0 || e.Position > p.st.Position {
			p.st.encounter(e.Type, &x)
			p.advance(e.Position)
		}
		return nil
	}
	pl, err := e.Payload()
	if err != nil {
		return fmt.Errorf("reports: apply %s at %d: %w", e.Type, e.Position, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Position != 0 && e.Position <= p.st.Position {
		return nil
	}
	p.st.apply(pl, e.OccurredAt)
	p.advance(e.Position)
	return nil
}

func (p *Projection) advance(pos uint64) {
	if pos > p.st.Position {
		p.st.Position = pos
	}
}

// Position is the global position of the last applied event.
func (p *Projection) Position() uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.st.Position
}

// Snapshot returns the full state as JSON.
func (p *Projection) Snapshot() ([]byte, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var buf bytes.Buffer
	if err := p.st.encode(&buf); err != nil {
		return nil, fmt.Errorf("reports: snapshot: %w", err)
	}
	return buf.Bytes(), nil
}

// Restore replaces the state with a snapshot taken by Snapshot.
func (p *Projection) Restore(b []byte) error {
	st := newState()
	if err := projections.RestoreJSON("reports", b, st, &st.Version, snapshotVersion); err != nil {
		return err
	}
	if err := st.reindex(); err != nil {
		return fmt.Errorf("reports: restore: %w", err)
	}
	p.mu.Lock()
	p.st = st
	p.mu.Unlock()
	return nil
}

// Digest is the SHA-256 (hex) of the canonical JSON of the state (the
// snapshot's bytes: map keys sorted, lists in fold order).
func (p *Projection) Digest() string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	h := sha256.New()
	w := bufio.NewWriterSize(h, 64<<10)
	if err := p.st.encode(w); err != nil {
		return "error: " + err.Error()
	}
	if err := w.Flush(); err != nil {
		return "error: " + err.Error()
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Stats says how much the projection holds.
type Stats struct {
	Patients int `json:"patients"`
	Visits   int `json:"visits"`
	Clients  int `json:"clients"`
}

// Stats counts the patients, encounters and clients held.
func (p *Projection) Stats() Stats {
	p.mu.RLock()
	defer p.mu.RUnlock()
	s := Stats{Patients: len(p.st.Patients), Clients: len(p.st.Clients)}
	for _, pt := range p.st.Patients {
		s.Visits += len(pt.Visits)
	}
	return s
}
