package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/progress"
)

func newVerifyCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "recompute every stream's hash chain and check the global sequence; exit 3 naming the first broken event",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withLedger(cmd.Context(), g, func(ctx context.Context, l ledger.Ledger) error {
				head, err := l.Head(ctx)
				if err != nil {
					return err
				}
				bar := progress.New(os.Stderr, "verify", head, false)
				start := time.Now()
				rep, err := ledger.Verify(ctx, l, bar.Set)
				bar.Done()
				out := cmd.OutOrStdout()
				var broken *ledger.BrokenLinkError
				if errors.As(err, &broken) {
					fmt.Fprintf(out, "BROKEN: %v\nverified %d events before it\n", broken, rep.Events)
					return &exitErr{exitBroken, err}
				}
				if err != nil {
					return err
				}
				el := time.Since(start)
				fmt.Fprintf(out, "ok: %d events in %d streams, positions 1..%d without gap, every hash chain intact (%.1fs, %.0f events/s)\n",
					rep.Events, rep.Streams, rep.Head, el.Seconds(), float64(rep.Events)/max(el.Seconds(), 1e-9))
				return nil
			})
		},
	}
}
