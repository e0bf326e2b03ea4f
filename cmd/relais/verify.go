package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/relais-health/relais/app"
	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/progress"
)

func newVerifyCmd(g *globals) *cobra.Command {
	var unsealedUntil uint64
	var allowEmpty bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "recompute every stream's hash chain, check the global sequence, event-id uniqueness and (with --seal-key) every event's seal; exit 3 naming the first bad event",
		Long: "verify is read-only. It recomputes every stream's hash chain, checks that global positions have no gap and that no event id is stored twice, " +
			"and with --seal-key that every event carries a seal made with the key (it came through Relais's own append path). " +
			"Exit 0: intact; 3: the first bad event is named (stream, position); 1: no ledger, an empty ledger, or an error.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.natsURL == "" {
				if _, err := os.Stat(g.data); errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("verify --data %s: %w: the directory does not exist", g.data, ledger.ErrNoLedger)
				}
			}
			bc := g.backend()
			// Read-only: nothing created, nothing synced, and without a
			// running serve the embedded server reads a copy of the store.
			bc.Existing, bc.ReadOnly, bc.Durability = true, true, "relaxed"
			b, err := app.OpenBackend(cmd.Context(), bc, g.logger())
			if err != nil {
				return fmt.Errorf("verify: %w", err)
			}
			defer b.Close()
			var opts []ledger.VerifyOption
			if g.sealKeys != nil {
				opts = append(opts, ledger.WithKeys(g.sealKeys), ledger.UnsealedUntil(unsealedUntil))
			}
			if allowEmpty {
				opts = append(opts, ledger.AllowEmpty())
			}
			return verify(cmd.Context(), b.Store, cmd.OutOrStdout(), opts)
		},
	}
	cmd.Flags().Uint64Var(&unsealedUntil, "unsealed-until", 0, "with --seal-key: accept events without a seal up to this global position (a ledger written before it had a seal key)")
	cmd.Flags().BoolVar(&allowEmpty, "allow-empty", false, "an empty ledger is ok (a fresh install never served); by default it is an error")
	return cmd
}

func verify(ctx context.Context, l ledger.Ledger, out io.Writer, opts []ledger.VerifyOption) error {
	head, err := l.Head(ctx)
	if err != nil {
		return err
	}
	bar := progress.New(os.Stderr, "verify", head, false)
	start := time.Now()
	// Up to the head seen now: on a live ledger (through the running
	// serve) writes go on meanwhile, and are checked by the next verify.
	rep, err := ledger.Verify(ctx, l, bar.Set, append(opts, ledger.UpTo(head))...)
	bar.Done()
	var broken *ledger.BrokenLinkError
	if errors.As(err, &broken) {
		fmt.Fprintf(out, "BROKEN: %v\nverified %d events before it\n", broken, rep.Events)
		return &exitErr{exitBroken, err}
	}
	if err != nil {
		return err
	}
	el := time.Since(start)
	gap := "without gap"
	if n := len(rep.Repaired); n > 0 {
		gap = fmt.Sprintf("without gap but %d unreadable record(s) recorded as lost (below)", n)
	}
	fmt.Fprintf(out, "ok: %d events in %d streams, positions 1..%d %s, every hash chain intact, no event id stored twice; %s (%.1fs, %.0f events/s)\n",
		rep.Events, rep.Streams, rep.Head, gap, sealLine(rep), el.Seconds(), float64(rep.Events)/max(el.Seconds(), 1e-9))
	fmt.Fprintf(out, "verified up to the head at start: position %d (events appended since are checked by the next verify)\n", rep.UpTo)
	for _, r := range rep.Repaired {
		fmt.Fprintf(out, "repaired: position %d (stream %s revision %d) is unreadable and recorded as lost by %s at position %d (event %s, by %s on %s): %s\n",
			r.Position, r.Stream, r.Revision, events.TypeRecordDamaged, r.ByPosition, r.ByEventID, r.Actor, r.At.Format(time.RFC3339), r.Reason)
	}
	return nil
}

// sealLine says what the seals prove, no more.
func sealLine(r ledger.VerifyReport) string {
	switch {
	case r.KeyID == "" && r.FirstSealed == 0:
		return "no event is sealed, so an event forged with a recomputed hash would pass (serve with --seal-key)"
	case r.KeyID == "":
		return fmt.Sprintf("seals NOT checked (no --seal-key): events are sealed from position %d, every one after it carries a seal", r.FirstSealed)
	}
	s := fmt.Sprintf("%d events sealed by Relais (key %s)", r.Sealed, r.KeyID)
	if r.Unsealed > 0 {
		s += fmt.Sprintf(", %d written before the seal key (not authenticated)", r.Unsealed)
	}
	if r.Demo {
		s += "; the key is the PUBLIC DEMO KEY: the seals prove nothing"
	}
	return s
}
