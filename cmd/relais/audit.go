package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/projections/accesslog"
)

func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "auditor's views of the ledger (read-only)"}
	var client string
	var asCSV bool
	access := &cobra.Command{
		Use:   "access",
		Short: "list who read a client's file and when, and who was refused (file.accessed and file.access_denied events)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !events.ValidStreamName(client) {
				return &exitErr{exitUsage, fmt.Errorf("--client %q: not a client id", client)}
			}
			return withLedger(cmd.Context(), g, func(ctx context.Context, l ledger.Ledger) error {
				entries, found, err := accesslog.Load(ctx, l, client)
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				switch {
				case !found:
					fmt.Fprintf(w, "no recorded access to the file of client %s / aucun accès consigné\n", client)
					return nil
				case asCSV:
					return accesslog.WriteCSV(w, entries)
				}
				return accesslog.WriteTable(w, entries)
			})
		},
	}
	access.Flags().StringVar(&client, "client", "", "client id")
	access.Flags().BoolVar(&asCSV, "csv", false, "CSV instead of a table")
	access.MarkFlagRequired("client") //nolint:errcheck
	cmd.AddCommand(access)
	return cmd
}
