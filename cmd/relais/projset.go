package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/projections/caseload"
	"github.com/relais-health/relais/projections/clientfile"
	"github.com/relais-health/relais/projections/directory"
	"github.com/relais-health/relais/projections/reports"
)

// projectionSet is the read models a replay rebuilds, fed together.
type projectionSet struct {
	dir   *directory.Directory
	files *clientfile.Projection
	loads *caseload.Projection
	reps  *reports.Projection
	// at is the instant the replay stands at (for "now"-relative views).
	at time.Time
}

func newProjectionSet() *projectionSet {
	return &projectionSet{dir: directory.New(), files: clientfile.New(), loads: caseload.New(caseload.Config{}), reps: reports.New(reports.Config{})}
}

func (p *projectionSet) apply(ctx context.Context, e events.Event) error {
	for _, a := range []interface {
		Apply(context.Context, events.Event) error
	}{p.dir, p.files, p.loads, p.reps} {
		if err := a.Apply(ctx, e); err != nil {
			return err
		}
	}
	if e.RecordedAt.After(p.at) {
		p.at = e.RecordedAt
	}
	return nil
}

// export writes every projection as JSON (and the reports as CSV and SVG).
func (p *projectionSet) export(dir string, asOf time.Time) error {
	if asOf.IsZero() {
		asOf = p.at
	}
	files := map[string]clientfile.File{}
	for _, id := range p.files.Clients() {
		if f, ok := p.files.File(id); ok {
			files[id] = f
		}
	}
	hu := p.reps.HighUtilizers(reports.Query{End: asOf})
	out := p.reps.Outcomes(reports.OutcomeQuery{AsOf: asOf})
	for name, v := range map[string]any{
		"directory.json":      p.dir.All(),
		"clients.json":        files,
		"caseloads.json":      p.loads.All(asOf),
		"high-utilizers.json": hu,
		"outcomes.json":       out,
		"digests.json":        map[string]string{"clientfile": p.files.Digest(), "caseload": p.loads.Digest(), "reports": p.reps.Digest()},
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
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o640); err != nil {
			return err
		}
	}
	return nil
}

func (p *projectionSet) printClient(w io.Writer, clientID string) error {
	f, ok := p.files.File(clientID)
	if !ok {
		return fmt.Errorf("client %s: no file at that instant", clientID)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(f)
}

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
