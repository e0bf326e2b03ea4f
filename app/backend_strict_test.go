package app

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
)

// Strict durability on an external NATS is refused unless every
// acknowledged append is durable: the ledger stream is R3 (majority ack),
// or the server fsyncs every write (sync_interval: always, read in its
// VARZ through the system account). A refusal says how to fix it and
// creates nothing on the server.
func TestStrictRefusesAServerThatDoesNotFsync(t *testing.T) {
	ctx := context.Background()
	lax := jstest.StartServer(t, jstest.ServerOptions{})
	synced := jstest.StartServer(t, jstest.ServerOptions{SyncAlways: true})
	cluster := jstest.StartCluster(t)
	fixes := []string{"jetstream { sync_interval: always }", "--replicas 3", "--durability relaxed"}
	for _, tc := range []struct {
		name       string
		url, sys   string
		durability string
		replicas   int
		want       []string // in the refusal; none: it starts
	}{
		{"a server without sync_interval: always is refused when its setting cannot be read",
			lax.ClientURL, "", "strict", 1, append([]string{"cannot be read", "--nats-system"}, fixes...)},
		{"a server without sync_interval: always is refused when read through the system account",
			lax.ClientURL, lax.SystemURL, "strict", 1, append([]string{"does not fsync before acknowledging", "sync_interval"}, fixes...)},
		{"a server with sync_interval: always is refused when nothing can read it",
			synced.ClientURL, "", "strict", 1, append([]string{"cannot be read", "--nats-system"}, fixes...)},
		{"an application user given as the system account is refused",
			synced.ClientURL, synced.ClientURL, "strict", 1, append([]string{"not the system account"}, fixes...)},
		{"a server with sync_interval: always read through the system account starts",
			synced.ClientURL, synced.SystemURL, "strict", 1, nil},
		{"a 3-node cluster with --replicas 3 starts without system account",
			cluster.URLs(), "", "strict", 3, nil},
		{"relaxed durability chosen explicitly starts on a server that does not fsync",
			lax.ClientURL, "", "relaxed", 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := OpenBackend(ctx, BackendConfig{NATSURL: tc.url, NATSSystem: tc.sys, Durability: tc.durability, Replicas: tc.replicas}, zap.NewNop())
			if tc.want != nil {
				if err == nil {
					b.Close()
					t.Fatalf("started %s on %s, want it refused", tc.durability, tc.url)
				}
				if !errors.Is(err, jetstream.ErrServerNotDurable) {
					t.Errorf("error %v is not ErrServerNotDurable", err)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("refusal does not say %q:\n%v", w, err)
					}
				}
				assertNoLedger(t, tc.url)
				return
			}
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer b.Close()
			ev := events.MustNew(&events.ClientFlagged{ClientID: "c-1", Programme: "defi-sante"}, events.Actor{ID: "cm-1", Role: events.RoleCaseManager})
			if _, err := b.Store.Append(ctx, "client-1", ledger.Any, ev); err != nil {
				t.Fatalf("append: %v", err)
			}
		})
	}
}

// assertNoLedger checks a refused start created no ledger stream.
func assertNoLedger(t *testing.T, url string) {
	t.Helper()
	b, err := OpenBackend(context.Background(), BackendConfig{NATSURL: url, Durability: "relaxed", Existing: true}, zap.NewNop())
	if err == nil {
		b.Close()
		t.Errorf("a refused start left a ledger stream on %s", url)
		return
	}
	if !errors.Is(err, ledger.ErrNoLedger) {
		t.Errorf("looking for the ledger after a refusal: %v", err)
	}
}
