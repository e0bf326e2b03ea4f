package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/projections/directory"
)

// projectionSet is every read model Relais builds, fed together; replay and
// serve use the same set.
type projectionSet struct {
	dir *directory.Directory
}

func newProjectionSet() *projectionSet {
	return &projectionSet{dir: directory.New()}
}

func (p *projectionSet) appliers() []interface {
	Apply(context.Context, events.Event) error
} {
	return []interface {
		Apply(context.Context, events.Event) error
	}{p.dir}
}

func (p *projectionSet) apply(ctx context.Context, e events.Event) error {
	for _, a := range p.appliers() {
		if err := a.Apply(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

func (p *projectionSet) export(dir string) error {
	return writeJSONFile(filepath.Join(dir, "directory.json"), p.dir.All())
}

func (p *projectionSet) printClient(w io.Writer, clientID string) error {
	return fmt.Errorf("client files are not built yet")
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
