package main

import (
	"fmt"
	"strconv"

	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/relais-health/relais/app"
	"github.com/relais-health/relais/delivery"
	"github.com/relais-health/relais/delivery/webhook"
	"github.com/relais-health/relais/infra/ledger/jetstream"
)

// newAdminCmd groups the commands that change the ledger's JetStream
// configuration. No other command does: serve, verify, events, ... create
// what is missing and only report a difference.
func newAdminCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "change the ledger's JetStream configuration (the only commands that do)",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "replicas N",
		Short: "set the replicas (1 or 3) of the ledger stream, checkpoint bucket, snapshot store, set-aside bucket, webhook queue/buckets and alert publisher buckets, and print what changed",
		Long: "Other commands never rescale: started with a --replicas that differs from the streams', they log a warning and leave them. " +
			"`relais admin replicas 3 --nats URL` scales a ledger created with one replica to a 3-node cluster (and 1 scales it back). " +
			"Streams or buckets that do not exist yet are skipped.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[0])
			if err != nil || (n != 1 && n != 3) {
				return &exitErr{exitUsage, fmt.Errorf("admin replicas: %q: want 1 or 3", args[0])}
			}
			bc := g.backend()
			bc.Existing, bc.Durability, bc.Replicas = true, "relaxed", n
			b, err := app.OpenBackend(cmd.Context(), bc, g.logger())
			if err != nil {
				return fmt.Errorf("admin replicas: %w", err)
			}
			defer b.Close()
			js, err := natsjs.New(b.Conn)
			if err != nil {
				return fmt.Errorf("admin replicas: %w", err)
			}
			changed, err := jetstream.SetReplicas(cmd.Context(), js, n,
				webhook.StreamName, "KV_"+webhook.DeadBucket, "KV_"+webhook.DeliveredBucket,
				"KV_"+delivery.LeaseBucket, "KV_"+delivery.ProgressBucket)
			out := cmd.OutOrStdout()
			for _, c := range changed {
				fmt.Fprintf(out, "%s: %d -> %d replicas\n", c.What, c.From, c.To)
			}
			if err != nil {
				return fmt.Errorf("admin replicas: %w", err)
			}
			if len(changed) == 0 {
				fmt.Fprintf(out, "nothing changed: every stream and bucket already has %d replicas\n", n)
			}
			return nil
		},
	})
	return cmd
}
