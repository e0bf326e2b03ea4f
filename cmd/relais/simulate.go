package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/progress"
	"github.com/relais-health/relais/services/simulate"
)

func newSimulateCmd(g *globals) *cobra.Command {
	var cfg simulate.Config
	var end string
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "write a realistic synthetic territory history (ED visits, enrolments, plans, pharmacy, referrals) through the ledger",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if end != "" {
				t, err := time.Parse(time.RFC3339, end)
				if err != nil {
					return &exitErr{exitUsage, fmt.Errorf("--end %q: not an RFC3339 time: %w", end, err)}
				}
				cfg.End = t
			}
			if cfg.Clients <= 0 || cfg.Years <= 0 {
				return &exitErr{exitUsage, fmt.Errorf("--clients and --years must be positive")}
			}
			secret, err := patientSecret(g)
			if err != nil {
				return err
			}
			cfg.PatientSecret = secret
			return withLedger(cmd.Context(), g, func(ctx context.Context, l ledger.Ledger) error {
				bar := progress.New(os.Stderr, "simulate (events)", 0, false)
				cfg.Progress = bar.Set
				st, err := simulate.Run(ctx, l, cfg)
				bar.Done()
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "simulated %d people over %d years (seed %d): %d ED visits, %d enrolled clients, %d events in %.1fs (%.0f events/s)\n",
					st.Patients, cfg.Years, cfg.Seed, st.Visits, st.Enrolled, st.Events, st.Duration.Seconds(), float64(st.Events)/st.Duration.Seconds())
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Clients, "clients", 1000, "people in the simulated population")
	f.IntVar(&cfg.Years, "years", 3, "years of history, ending now (or --end)")
	f.Uint64Var(&cfg.Seed, "seed", 1, "random seed: the same seed writes the same history")
	f.StringVar(&end, "end", "", "end of the history (RFC3339; default now)")
	f.IntVar(&cfg.Workers, "workers", 64, "concurrent appenders")
	return cmd
}

// patientSecret returns the installation's key for pseudonymous patient
// keys: RELAIS_PATIENT_SECRET (hex), or a default for demos that the logs
// warn about.
func patientSecret(g *globals) ([]byte, error) {
	v := os.Getenv("RELAIS_PATIENT_SECRET")
	if v == "" {
		return []byte("relais-demo-patient-secret"), nil
	}
	b, err := hex.DecodeString(v)
	if err != nil || len(b) < 16 {
		return nil, &exitErr{exitUsage, fmt.Errorf("RELAIS_PATIENT_SECRET: must be at least 16 bytes in hex")}
	}
	return b, nil
}
