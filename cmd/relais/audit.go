package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "auditor's views of the ledger (read-only)"}
	var client string
	var asCSV bool
	access := &cobra.Command{
		Use:   "access",
		Short: "list who read a client's file and when (from the file-accessed events)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !events.ValidStreamName(client) {
				return &exitErr{exitUsage, fmt.Errorf("--client %q: not a client id", client)}
			}
			return withLedger(cmd.Context(), g, func(ctx context.Context, l ledger.Ledger) error {
				evs, err := l.Read(ctx, events.AccessStream(client), 1)
				if errors.Is(err, ledger.ErrStreamNotFound) {
					fmt.Fprintf(cmd.OutOrStdout(), "no recorded access to the file of client %s / aucun accès consigné\n", client)
					return nil
				}
				if err != nil {
					return err
				}
				return printAccess(cmd, evs, asCSV)
			})
		},
	}
	access.Flags().StringVar(&client, "client", "", "client id")
	access.Flags().BoolVar(&asCSV, "csv", false, "CSV instead of a table")
	access.MarkFlagRequired("client") //nolint:errcheck
	cmd.AddCommand(access)
	return cmd
}

func printAccess(cmd *cobra.Command, evs []events.Event, asCSV bool) error {
	rows := [][]string{{"when", "actor", "role", "view", "position", "event_id"}}
	for _, e := range evs {
		p, err := e.Payload()
		if err != nil {
			return fmt.Errorf("position %d: %w", e.Position, err)
		}
		fa, ok := p.(*events.FileAccessed)
		if !ok {
			continue
		}
		rows = append(rows, []string{e.OccurredAt.UTC().Format(time.RFC3339), fa.ActorID, fa.Role, fa.View, fmt.Sprint(e.Position), e.ID})
	}
	if asCSV {
		w := csv.NewWriter(cmd.OutOrStdout())
		w.WriteAll(rows) //nolint:errcheck
		return w.Error()
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	for _, r := range rows {
		for i, c := range r {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, c)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}
