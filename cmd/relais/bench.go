package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/relais-health/relais/infra/ledger/ledgerbench"
)

func newBenchCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "side-by-side benchmarks against raw JetStream (figures in docs/BENCHMARKS.md)"}
	var cfg ledgerbench.Config
	var asJSON bool
	ledgerCmd := &cobra.Command{
		Use:   "ledger",
		Short: "Relais ledger vs raw JetStream on the same embedded server: strict group commit, synchronous and pipelined appends, full replay",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var progress io.Writer = os.Stderr
			cfg.Progress = progress
			start := time.Now()
			rep, err := ledgerbench.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			rep.WriteTable(cmd.OutOrStdout())
			fmt.Fprintf(cmd.OutOrStdout(), "\n(%.0fs)\n", time.Since(start).Seconds())
			return nil
		},
	}
	f := ledgerCmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	f.DurationVar(&cfg.Duration, "duration", 3*time.Second, "length of each timed write phase")
	f.IntVar(&cfg.Writers, "writers", 64, "concurrent writers in the strict phase")
	f.IntVar(&cfg.Pipeline, "pipeline", 1024, "concurrent appenders in the pipelined phase")
	f.IntVar(&cfg.ReplayEvents, "replay-events", 1_000_000, "events in the replay phase")
	f.StringVar(&cfg.Dir, "dir", os.TempDir(), "where the temporary data directories go (same disk as production data for meaningful strict figures)")
	cmd.AddCommand(ledgerCmd, newBenchAlertsCmd(g), newBenchReplayCmd())
	_ = g
	return cmd
}
