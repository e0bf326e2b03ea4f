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

	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/progress"
	"github.com/relais-health/relais/projections/rebuild"
)

func newReplayCmd(g *globals) *cobra.Command {
	var until, out, client string
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "rebuild every projection as it stood at an instant (RFC3339 time or global position) and write them to a folder",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stop, err := parseUntil(until)
			if err != nil {
				return &exitErr{exitUsage, err}
			}
			if out == "" && client == "" {
				return &exitErr{exitUsage, errors.New("give --out DIR (all projections) or --client ID (one client's file)")}
			}
			return withLedger(cmd.Context(), g, func(ctx context.Context, l ledger.Ledger) error {
				head, err := l.Head(ctx)
				if err != nil {
					return err
				}
				total := head
				if stop.Position > 0 && stop.Position < total {
					total = stop.Position
				}
				set := rebuild.New()
				bar := progress.New(os.Stderr, "replay", total, false)
				start := time.Now()
				st, err := rebuild.Replay(ctx, l, stop, set, bar.Set)
				bar.Done()
				if err != nil {
					return err
				}
				el := time.Since(start)
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "replayed %d events (positions 1..%d, last recorded %s) in %.1fs: %.0f events/s\n",
					st.Events, st.Last, st.LastAt.Format(time.RFC3339), el.Seconds(), float64(st.Events)/max(el.Seconds(), 1e-9))
				if st.Events == 0 && !st.FirstAfter.IsZero() {
					fmt.Fprintf(cmd.ErrOrStderr(), "relais: nothing was recorded by %s: the first event was recorded at %s. "+
						"--until TIME is recorded time (what the ledger knew then); a simulated or imported history is "+
						"recorded when it was written, so replay it by global position instead (--until N)\n",
						stop.Time.Format(time.RFC3339), st.FirstAfter.Format(time.RFC3339))
				}
				if client != "" {
					f, ok := set.File(client)
					if !ok {
						return fmt.Errorf("client %s: no file at that instant", client)
					}
					return printIndented(w, f)
				}
				if err := os.MkdirAll(out, 0o750); err != nil {
					return fmt.Errorf("--out %s: %w", out, err)
				}
				if err := set.Export(out, stop.Time); err != nil {
					return err
				}
				meta := map[string]any{"until": until, "last_position": st.Last, "last_recorded_at": st.LastAt, "events": st.Events}
				b, _ := json.MarshalIndent(meta, "", "  ")
				if err := os.WriteFile(filepath.Join(out, "replay.json"), b, 0o640); err != nil {
					return fmt.Errorf("--out %s: %w", out, err)
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
func parseUntil(s string) (rebuild.Until, error) {
	if s == "" {
		return rebuild.Until{}, nil
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		if n == 0 {
			return rebuild.Until{}, errors.New("--until: positions start at 1")
		}
		return rebuild.Until{Position: n}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return rebuild.Until{}, fmt.Errorf("--until %q: neither a global position nor an RFC3339 time", s)
	}
	return rebuild.Until{Time: t}, nil
}
