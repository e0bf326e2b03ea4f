package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/relais-health/relais/app"
	"github.com/relais-health/relais/events"
)

func newRepairCmd(g *globals) *cobra.Command {
	var stream, reason, actorID string
	var position uint64
	cmd := &cobra.Command{
		Use:   "repair",
		Short: "record the loss of an unreadable stored record (a stream named damaged by verify or a 409 stream_damaged), so its stream takes new events again",
		Long: "repair appends a ledger.record_damaged event to --stream naming --position (the unreadable record), --reason and the operator (--actor). " +
			"It changes no stored record: the loss stays visible, and verify reports the record as repaired (who, when, why) instead of broken. " +
			"Restore --data from a backup first if one holds the record. Exit 0: recorded; 1: the position is not an unreadable record of the stream, or an error.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case !events.ValidStreamName(stream):
				return &exitErr{exitUsage, fmt.Errorf("--stream %q: not a stream name", stream)}
			case position == 0:
				return &exitErr{exitUsage, errors.New("--position: required (the global position verify or the error named)")}
			case strings.TrimSpace(reason) == "":
				return &exitErr{exitUsage, errors.New("--reason: required (what happened, why the record cannot be restored)")}
			}
			b, err := app.OpenBackend(cmd.Context(), g.backend(), g.logger())
			if err != nil {
				return fmt.Errorf("repair: %w", err)
			}
			defer b.Close()
			res, err := b.Store.Repair(cmd.Context(), stream, position, events.Actor{ID: actorID, Role: events.RoleAdmin}, reason)
			if err != nil {
				return err
			}
			ev := res.Events[0]
			fmt.Fprintf(cmd.OutOrStdout(), "repaired: stream %s, the unreadable record at position %d is recorded as lost by event %s (%s) at position %d, revision %d, actor %s; the stream takes new events again\n",
				stream, position, ev.ID, events.TypeRecordDamaged, res.Position, res.Revision, actorID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&stream, "stream", "", "the damaged stream (as named by verify or the error)")
	f.Uint64Var(&position, "position", 0, "global position of the unreadable record")
	f.StringVar(&reason, "reason", "", "why the record is lost and cannot be restored (kept in the ledger)")
	f.StringVar(&actorID, "actor", envOr("USER", "operator"), "the operator recording the repair")
	return cmd
}
