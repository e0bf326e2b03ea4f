// Package rebuild is the read side as a replay rebuilds it: every read
// model a point-in-time view needs (directory, client files, caseloads,
// reports) fed together from one pass over the ledger, stopped at a global
// position or a recorded instant, and written to a folder. `relais replay`
// exports it, `relais report` rebuilds the reports alone with it, and
// `relais bench replay` measures its throughput.
package rebuild

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/projections/caseload"
	"github.com/relais-health/relais/projections/clientfile"
	"github.com/relais-health/relais/projections/directory"
	"github.com/relais-health/relais/projections/reports"
)

// Set is the read models a replay rebuilds, fed together. The zero value is
// not ready: use New.
type Set struct {
	dir   *directory.Directory
	files *clientfile.Projection
	loads *caseload.Projection
	reps  *reports.Projection
	// at is the instant the replay stands at (for "now"-relative views).
	at time.Time
}

// New returns an empty set, ready to be fed from position 1.
func New() *Set {
	return &Set{dir: directory.New(), files: clientfile.New(), loads: caseload.New(caseload.Config{}), reps: reports.New(reports.Config{})}
}

// Apply feeds one event to every read model of the set, in global order.
func (s *Set) Apply(ctx context.Context, e events.Event) error {
	for _, a := range []Applier{s.dir, s.files, s.loads, s.reps} {
		if err := a.Apply(ctx, e); err != nil {
			return err
		}
	}
	if e.RecordedAt.After(s.at) {
		s.at = e.RecordedAt
	}
	return nil
}

// At is the latest recorded time of the events applied so far.
func (s *Set) At() time.Time { return s.at }

// File is one client's file as the set stands.
func (s *Set) File(clientID string) (clientfile.File, bool) { return s.files.File(clientID) }

// Subscriber is the slice of the ledger a replay reads.
type Subscriber interface {
	Subscribe(ctx context.Context, from uint64, fn func(context.Context, events.Event) error, opts ...ledger.SubscribeOption) error
}

// Until says where a replay stops; the zero value replays everything.
type Until struct {
	// Position, when non-zero, is the last global position applied.
	Position uint64
	// Time, when non-zero, leaves out every event recorded after it (what
	// the ledger knew at that instant).
	Time time.Time
}

// Stats says what a replay applied.
type Stats struct {
	// Events is how many events were applied.
	Events uint64
	// Last and LastAt are the position and recorded time of the last one.
	Last   uint64
	LastAt time.Time
	// FirstAfter is the recorded time of the first event, when even that one
	// was recorded after Until.Time (so nothing was applied); zero otherwise.
	FirstAfter time.Time
}

// errStop ends a replay at Until.Time.
var errStop = errors.New("replay reached its instant")

var _ Applier = (*Set)(nil)

// Applier is a read model fed one event at a time in global order: a Set,
// or any single projection.
type Applier interface {
	Apply(ctx context.Context, e events.Event) error
}

// Replay feeds a from position 1 of l up to until (or the head); progress,
// if not nil, receives the position of each event applied.
func Replay(ctx context.Context, l Subscriber, until Until, a Applier, progress func(uint64)) (Stats, error) {
	var st Stats
	opts := []ledger.SubscribeOption{ledger.StopAtHead()}
	if until.Position > 0 {
		opts = append(opts, ledger.Until(until.Position))
	}
	err := l.Subscribe(ctx, 1, func(ctx context.Context, e events.Event) error {
		if !until.Time.IsZero() && e.RecordedAt.After(until.Time) {
			if st.Events == 0 {
				st.FirstAfter = e.RecordedAt
			}
			return errStop
		}
		if err := a.Apply(ctx, e); err != nil {
			return fmt.Errorf("position %d: %w", e.Position, err)
		}
		st.Events++
		st.Last, st.LastAt = e.Position, e.RecordedAt
		if progress != nil {
			progress(e.Position)
		}
		return nil
	}, opts...)
	if err != nil && !errors.Is(err, errStop) {
		return st, fmt.Errorf("replay: %w", err)
	}
	return st, nil
}

// Export writes every read model to dir as JSON (the reports also as CSV
// and an SVG chart), with each projection's digest. Views relative to "now"
// are computed as of asOf, or of At when asOf is zero.
func (s *Set) Export(dir string, asOf time.Time) error {
	if asOf.IsZero() {
		asOf = s.at
	}
	files := map[string]clientfile.File{}
	for _, id := range s.files.Clients() {
		if f, ok := s.files.File(id); ok {
			files[id] = f
		}
	}
	hu := s.reps.HighUtilizers(reports.Query{End: asOf})
	out := s.reps.Outcomes(reports.OutcomeQuery{AsOf: asOf})
	for name, v := range map[string]any{
		"directory.json":      s.dir.All(),
		"clients.json":        files,
		"caseloads.json":      s.loads.All(asOf),
		"high-utilizers.json": hu,
		"outcomes.json":       out,
		"digests.json":        map[string]string{"clientfile": s.files.Digest(), "caseload": s.loads.Digest(), "reports": s.reps.Digest()},
	} {
		if err := writeJSONFile(filepath.Join(dir, name), v); err != nil {
			return err
		}
	}
	for name, write := range map[string]func(io.Writer) error{
		"high-utilizers.csv": func(w io.Writer) error { return reports.WriteHighUtilizersCSV(w, hu) },
		"outcomes.csv":       func(w io.Writer) error { return reports.WriteCohortsCSV(w, out) },
		"outcomes.svg":       func(w io.Writer) error { return reports.WriteOutcomesSVG(w, out, reports.MetricVisits) },
	} {
		var b bytes.Buffer
		if err := write(&b); err != nil {
			return fmt.Errorf("export %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o640); err != nil {
			return fmt.Errorf("export %s: %w", name, err)
		}
	}
	return nil
}

// writeJSONFile writes v, indented, to path.
func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.WriteFile(path, b, 0o640); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
