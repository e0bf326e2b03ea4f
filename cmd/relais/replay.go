package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/progress"
)

// errStop ends a replay at the chosen instant.
var errStop = errors.New("replay reached --until")

// exporter is a projection that can write itself to a folder.
type exporter interface {
	Apply(ctx context.Context, e events.Event) error
	Export(dir string) error
}

func newReplayCmd(g *globals) *cobra.Command {
	var until, out, client string
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "rebuild every projection as it stood at an instant (RFC3339 time or global position) and write them to a folder",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stopPos, stopAt, err := parseUntil(until)
			if err != nil {
				return &exitErr{exitUsage, err}
			}
			if out == "" && client == "" {
				return &exitErr{exitUsage, errors.New("give --out DIR (all projections) or --client ID (one client's file)")}
			}
			return withLedger(cmd.Context(), g, func(ctx context.Context, l ledger.Ledger) error {
				set := newProjectionSet()
				head, err := l.Head(ctx)
				if err != nil {
					return err
				}
				total := head
				if stopPos > 0 && stopPos < total {
					total = stopPos
				}
				bar := progress.New(os.Stderr, "replay", total, false)
				start := time.Now()
				var n, last uint64
				var lastAt, firstAt time.Time
				opts := []ledger.SubscribeOption{ledger.StopAtHead()}
				if stopPos > 0 {
					opts = append(opts, ledger.Until(stopPos))
				}
				err = l.Subscribe(ctx, 1, func(ctx context.Context, e events.Event) error {
					if !stopAt.IsZero() && e.RecordedAt.After(stopAt) {
						if n == 0 {
							firstAt = e.RecordedAt
						}
						return errStop
					}
					if err := set.apply(ctx, e); err != nil {
						return fmt.Errorf("position %d: %w", e.Position, err)
					}
					n++
					last, lastAt = e.Position, e.RecordedAt
					bar.Set(e.Position)
					return nil
				}, opts...)
				bar.Done()
				if err != nil && !errors.Is(err, errStop) {
					return err
				}
				el := time.Since(start)
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "replayed %d events (positions 1..%d, last recorded %s) in %.1fs: %.0f events/s\n",
					n, last, lastAt.Format(time.RFC3339), el.Seconds(), float64(n)/max(el.Seconds(), 1e-9))
				if n == 0 && !firstAt.IsZero() {
					fmt.Fprintf(cmd.ErrOrStderr(), "relais: nothing was recorded by %s: the first event was recorded at %s. "+
						"--until TIME is recorded time (what the ledger knew then); a simulated or imported history is "+
						"recorded when it was written, so replay it by global position instead (--until N)\n",
						stopAt.Format(time.RFC3339), firstAt.Format(time.RFC3339))
				}
				if client != "" {
					return set.printClient(w, client)
				}
				if err := os.MkdirAll(out, 0o750); err != nil {
					return fmt.Errorf("--out %s: %w", out, err)
				}
				if err := set.export(out, stopAt); err != nil {
					return err
				}
				meta := map[string]any{"until": until, "last_position": last, "last_recorded_at": lastAt, "events": n}
				b, _ := json.MarshalIndent(meta, "", "  ")
				if err := os.WriteFile(filepath.Join(out, "replay.json"), b, 0o640); err != nil {
					return err
				}
				fmt.Fprintf(w, "projections written to %s\n", out)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&until, "until", "", "RFC3339 instant (events recorded after it are left out) or a global position; empty = everything")
	f.StringVar(&out, "out", "", "folder to write every projection to (JSON and CSV)")
	f.StringVar(&client, "client", "", "print this client's file as it stood then")
	return cmd
}

// parseUntil reads --until as a global position or an RFC3339 time.
func parseUntil(s string) (uint64, time.Time, error) {
	if s == "" {
		return 0, time.Time{}, nil
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		if n == 0 {
			return 0, time.Time{}, errors.New("--until: positions start at 1")
		}
		return n, time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("--until %q: neither a global position nor an RFC3339 time", s)
	}
	return 0, t, nil
}
