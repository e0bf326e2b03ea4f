package webhook_test

import (
	"context"
	"strings"
	"testing"

	natsjs "github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/relais-health/relais/delivery/webhook"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
)

// A second instance started without --replicas 3 on a 3-node cluster
// leaves the webhook queue, its consumer and both buckets at three
// replicas and says so in a warning; it never rescales them.
func TestNewNeverRescalesTheWebhookQueue(t *testing.T) {
	ctx := context.Background()
	c := jstest.StartCluster(t)
	nc := c.Connect(t)
	first, err := webhook.New(ctx, nc, webhook.Config{Replicas: 3})
	if err != nil {
		t.Fatalf("first instance (replicas 3): %v", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- first.Run(runCtx) }() // creates the consumer
	js, _ := natsjs.New(nc)
	names := []string{webhook.StreamName, "KV_" + webhook.DeadBucket, "KV_" + webhook.DeliveredBucket}

	for _, tc := range []struct {
		name     string
		replicas int
		warns    int
	}{
		{"an instance with replicas 1 reports the three differences", 1, 3},
		{"an instance with replicas 3 reports none", 3, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.WarnLevel)
			if _, err := webhook.New(ctx, nc, webhook.Config{Replicas: tc.replicas, Log: zap.New(core)}); err != nil {
				t.Fatalf("instance with replicas %d: %v", tc.replicas, err)
			}
			for _, name := range names {
				st, err := js.Stream(ctx, name)
				if err != nil {
					t.Fatalf("stream %s: %v", name, err)
				}
				if got := st.CachedInfo().Config.Replicas; got != 3 {
					t.Errorf("%s has %d replicas after an instance with replicas %d started, want 3 (rescaled)", name, got, tc.replicas)
				}
			}
			var warned []string
			for _, e := range logs.FilterMessageSnippet("replicas mismatch").All() {
				warned = append(warned, e.Message)
			}
			if len(warned) != tc.warns {
				t.Errorf("got %d replicas warnings %q, want %d", len(warned), warned, tc.warns)
			}
			for _, w := range warned {
				if !strings.Contains(w, "relais admin replicas") {
					t.Errorf("warning %q does not say how to change it", w)
				}
			}
		})
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
