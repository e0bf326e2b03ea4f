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
	"context"
	"fmt"
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
	// MinFollowUp is the default OutcomeQuery.MinFollowUp (0:
	// DefaultMinFollowUp).
	MinFollowUp time.Duration
}

// Projection is the reports read model. Apply is called by one goroutine at
// a time; queries may run concurrently with it.
type Projection struct {
	cfg Config
	sh  *projections.Shell[*state]
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
	if cfg.MinFollowUp <= 0 {
		cfg.MinFollowUp = DefaultMinFollowUp
	}
	return &Projection{cfg: cfg, sh: projections.NewShell("reports", snapshotVersion, newState)}
}

// Apply folds one event; events at or below the position already applied
// are skipped (a redelivery never counts twice).
func (p *Projection) Apply(_ context.Context, e events.Event) error {
	if !used[e.Type] {
		p.sh.Fold(e.Position, nil)
		return nil
	}
	// Read the event outside the lock: readers wait only for the fold.
	if x, ok := readEncounter(&e); ok {
		p.sh.Fold(e.Position, func(st *state) { st.encounter(e.Type, &x) })
		return nil
	}
	pl, err := e.Payload()
	if err != nil {
		return fmt.Errorf("reports: apply %s at %d: %w", e.Type, e.Position, err)
	}
	p.sh.Fold(e.Position, func(st *state) { st.apply(pl, e.OccurredAt) })
	return nil
}

// Position is the global position of the last applied event.
func (p *Projection) Position() uint64 { return p.sh.Position() }

// Snapshot returns the full state as JSON.
func (p *Projection) Snapshot() ([]byte, error) { return p.sh.Snapshot() }

// Restore replaces the state with a snapshot taken by Snapshot.
func (p *Projection) Restore(b []byte) error { return p.sh.Restore(b) }

// Digest is the SHA-256 (hex) of the canonical JSON of the state (the
// snapshot's bytes: map keys sorted, lists in fold order).
func (p *Projection) Digest() string { return p.sh.Digest() }

// Stats says how much the projection holds.
type Stats struct {
	Patients int `json:"patients"`
	Visits   int `json:"visits"`
	Clients  int `json:"clients"`
}

// Stats counts the patients, encounters and clients held.
func (p *Projection) Stats() (s Stats) {
	p.sh.View(func(st *state) {
		s = Stats{Patients: len(st.Patients), Clients: len(st.Clients)}
		for _, pt := range st.Patients {
			s.Visits += len(pt.Visits)
		}
	})
	return s
}
