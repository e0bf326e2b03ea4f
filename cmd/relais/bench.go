package main

import (
	"github.com/spf13/cobra"
)

func newBenchCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "side-by-side benchmarks against raw JetStream"}
	return cmd
}
