package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
)

// `relais events append --nats …` with strict durability (the default)
// is refused on a server that does not fsync, and --nats-system lets it
// confirm a server that does.
func TestStrictAppendOnExternalNATSChecksTheServer(t *testing.T) {
	lax := jstest.StartServer(t, jstest.ServerOptions{})
	synced := jstest.StartServer(t, jstest.ServerOptions{SyncAlways: true})
	for _, tc := range []struct {
		name string
		args []string
		want string // in the error; "" succeeds
	}{
		{"no system account: refused, naming the flag", []string{"--nats", lax.ClientURL}, "--nats-system"},
		{"read and found not to fsync: refused", []string{"--nats", lax.ClientURL, "--nats-system", lax.SystemURL}, "does not fsync"},
		{"read and found to fsync: appended", []string{"--nats", synced.ClientURL, "--nats-system", synced.SystemURL}, ""},
		{"relaxed chosen explicitly: appended", []string{"--nats", lax.ClientURL, "--durability", "relaxed"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			root := newRoot()
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs(append([]string{"events", "append", "--stream", "client-c1", "--type", "contact.made", "--log-level", "error",
				"--payload", `{"client_id":"c1","staff_id":"cm-1","channel":"phone","at":"2026-11-01T10:00:00Z"}`}, tc.args...))
			err := root.ExecuteContext(context.Background())
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("append: %v\n%s", err, out.String())
			case tc.want == "" && !strings.Contains(out.String(), `"revision"`):
				t.Fatalf("append printed %q, want its result", out.String())
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("append: %v, want a refusal saying %q", err, tc.want)
			case err != nil:
				t.Logf("refused: %v", err)
			}
		})
	}
}
