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

// On NATS servers in operator (JWT) mode, Relais authenticates with a
// .creds file (--nats-creds), and strict durability is checked through the
// system account's .creds file (--nats-system FILE); without the right
// credential the start is a clear refusal.
func TestOperatorModeServersWithCredsFiles(t *testing.T) {
	ctx := context.Background()
	synced := jstest.StartServer(t, jstest.ServerOptions{SyncAlways: true, Operator: true})
	lax := jstest.StartServer(t, jstest.ServerOptions{Operator: true})
	for _, tc := range []struct {
		name           string
		srv            *jstest.Server
		creds, system  string
		want           []string // in the refusal; none: it starts
		wantNotDurable bool
	}{
		{"app and system creds, server fsyncs: starts", synced, synced.AppCreds, synced.SystemCreds, nil, false},
		{"system creds, server does not fsync: refused", lax, lax.AppCreds, lax.SystemCreds, []string{"does not fsync"}, true},
		{"no system account: refused, naming --nats-system", synced, synced.AppCreds, "", []string{"--nats-system"}, true},
		{"the app user as the system account: refused", synced, synced.AppCreds, synced.AppCreds, []string{"not the system account"}, true},
		{"no app creds: refused, naming --nats-creds", synced, "", synced.SystemCreds, []string{"--nats-creds"}, false},
		{"a system creds file that does not exist: refused", synced, synced.AppCreds, synced.SystemCreds + ".missing", []string{"--nats-system", "no such file"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := OpenBackend(ctx, BackendConfig{NATSURL: tc.srv.URL, NATSCreds: tc.creds, NATSSystem: tc.system, Durability: "strict", Replicas: 1}, zap.NewNop())
			if tc.want != nil {
				if err == nil {
					b.Close()
					t.Fatalf("started, want a refusal saying %q", tc.want)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("refusal does not say %q:\n%v", w, err)
					}
				}
				if tc.wantNotDurable && !errors.Is(err, jetstream.ErrServerNotDurable) {
					t.Errorf("refusal %v is not ErrServerNotDurable", err)
				}
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

// A NATS URL's user, password or token never appears in an error.
func TestNATSURLCredentialsAreRedactedInErrors(t *testing.T) {
	_, err := OpenBackend(context.Background(), BackendConfig{NATSURL: "nats://app:s3cret@127.0.0.1:1,nats://t0ken@127.0.0.1:2", Durability: "relaxed", Replicas: 1}, zap.NewNop())
	if err == nil {
		t.Fatal("connected to nothing")
	}
	if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "t0ken") {
		t.Fatalf("the error shows a credential: %v", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("the error does not name the server: %v", err)
	}
}
