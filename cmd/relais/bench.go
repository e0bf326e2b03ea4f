package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/relais-health/relais/app/alertsbench"
	"github.com/relais-health/relais/app/replaybench"
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
				return printBenchJSON(cmd.OutOrStdout(), rep)
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
	return cmd
}

func newBenchAlertsCmd(g *globals) *cobra.Command {
	var cfg alertsbench.Config
	var asJSON, flagged bool
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "latency from the MLLP ACK of an A04 for a flagged client to the alert on the case manager's SSE stream, under background ED traffic, beside raw NATS",
		Long: "Without --flagged: 50 flagged-client arrivals a second among --rate background ED messages for strangers, " +
			"ACK -> alert on SSE beside raw NATS publish -> subscribe (target p99 < 10 ms).\n\n" +
			"With --flagged: a flood where every arrival is a new visit of a flagged client, at each offered rate of --flagged-rates " +
			"for --duration; per rate it prints p50/p99 ACK -> alert and whether the alerts queue drained (the backlog when sending " +
			"stopped, the time to the last alert owed, waiting up to --drain).\n\n" +
			"Both run on a fresh embedded server in a temporary directory (--nats and --data are not used), or with --cluster on a " +
			"3-node nats-server cluster the bench starts for the run (streams with 3 replicas, sync_interval: always) from the " +
			"binary given by --nats-server or found in PATH.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Strict = g.durability == "strict"
			if flagged {
				res, err := alertsbench.RunFlagged(cmd.Context(), cfg, os.Stderr)
				if err != nil {
					return err
				}
				if asJSON {
					return printBenchJSON(cmd.OutOrStdout(), res)
				}
				res.WriteTable(cmd.OutOrStdout())
				return nil
			}
			res, err := alertsbench.Run(cmd.Context(), cfg, os.Stderr)
			if err != nil {
				return err
			}
			if asJSON {
				return printBenchJSON(cmd.OutOrStdout(), res)
			}
			res.WriteTable(cmd.OutOrStdout())
			return nil
		},
	}
	f := cmd.Flags()
	f.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measurement time")
	f.IntVar(&cfg.Rate, "rate", 1000, "background ED messages per second (strangers: recorded, nobody paged)")
	f.IntVar(&cfg.Recipients, "recipients", 1000, "case managers connected to their SSE stream")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.BoolVar(&flagged, "flagged", false, "flood mode: every arrival a flagged client's, at each rate of --flagged-rates (duration per rate: --duration)")
	f.IntSliceVar(&cfg.FlaggedRates, "flagged-rates", alertsbench.DefaultFlaggedRates, "offered flagged arrivals per second, one phase each (with --flagged)")
	f.DurationVar(&cfg.Drain, "drain", 2*time.Minute, "how long a --flagged phase waits for the alerts still owed once it stops sending")
	f.BoolVar(&cfg.Cluster, "cluster", false, "run on a 3-node nats-server cluster started for the run (R3, sync_interval: always) instead of the embedded server")
	f.StringVar(&cfg.NATSServer, "nats-server", "", "nats-server binary for --cluster (default: nats-server in PATH; build one with go build -o /tmp/nats-server github.com/nats-io/nats-server/v2)")
	return cmd
}

func newBenchReplayCmd() *cobra.Command {
	var cfg replaybench.Config
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "rebuild every projection over a simulated ledger beside a raw JetStream ordered-consumer read of the same stream; events/s, ratio, peak memory per size",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := replaybench.Run(cmd.Context(), cfg, os.Stderr)
			if err != nil {
				return err
			}
			if asJSON {
				return printBenchJSON(cmd.OutOrStdout(), res)
			}
			res.WriteTable(cmd.OutOrStdout())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntSliceVar(&cfg.People, "people", []int{200_000, 900_000}, "simulated population sizes (900,000 people over 3 years write about 5,000,000 events)")
	f.IntVar(&cfg.Years, "years", 3, "years of simulated history")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the Relais rebuild (the last size's) to this file")
	return cmd
}

// printBenchJSON prints a benchmark result as indented JSON.
func printBenchJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
