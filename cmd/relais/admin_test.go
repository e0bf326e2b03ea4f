package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/relais-health/relais/delivery/webhook"
	"github.com/relais-health/relais/infra/ledger/jetstream"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
)

// `relais admin replicas N` is the one command that rescales, and says
// what it changed; verify run without --replicas 3 leaves an R3 ledger R3.
func TestAdminReplicasRescalesAndSaysSo(t *testing.T) {
	ctx := context.Background()
	c := jstest.StartCluster(t)
	st, err := jetstream.Open(ctx, c.Connect(t), jetstream.Config{Replicas: 3, SyncAlways: true})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	st.Close()
	if _, err := webhook.New(ctx, c.Connect(t), webhook.Config{Replicas: 3}); err != nil {
		t.Fatalf("webhook queue: %v", err)
	}
	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		root := newRoot()
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append(args, "--nats", c.URLs(), "--log-level", "error"))
		err := root.ExecuteContext(ctx)
		if err != nil && args[0] == "admin" {
			t.Fatalf("relais %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	run("verify", "--allow-empty")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"admin", "replicas", "3"}, "nothing changed"},
		{[]string{"admin", "replicas", "1"}, "RELAIS_EVENTS: 3 -> 1 replicas"},
		{[]string{"admin", "replicas", "3"}, "RELAIS_WEBHOOKS: 1 -> 3 replicas"},
		{[]string{"admin", "replicas", "1"}, "KV_RELAIS_WEBHOOK_DELIVERED: 3 -> 1 replicas"},
		{[]string{"admin", "replicas", "1"}, "nothing changed"},
		{[]string{"admin", "replicas", "3"}, "KV_RELAIS_CHECKPOINTS: 1 -> 3 replicas"},
	} {
		if out := run(tc.args...); !strings.Contains(out, tc.want) {
			t.Errorf("relais %v said %q, want %q", tc.args, out, tc.want)
		}
	}
}
