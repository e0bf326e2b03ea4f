package natsembed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// startAuth runs a server with a credential file and a ledger-like stream
// (relais.ev.>) and a webhook-like work queue, as Relais lays them out.
func startAuth(t *testing.T, partners ...Partner) (*Server, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	dir := t.TempDir()
	srv, err := Start(Config{DataDir: dir, Port: -1, CredentialFile: filepath.Join(dir, "relais-nats.seed"), Partners: partners})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL(), nats.InProcessServer(srv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, sc := range []jetstream.StreamConfig{
		{Name: "RELAIS_EVENTS", Subjects: []string{"relais.ev.>"}},
		{Name: "RELAIS_WEBHOOKS", Subjects: []string{"relais.webhook.>"}, Retention: jetstream.WorkQueuePolicy},
	} {
		if _, err := js.CreateStream(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	return srv, nc, js
}

// newPartner draws an nkey for partner id.
func newPartner(t *testing.T, id string) (Partner, nkeys.KeyPair) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return Partner{ID: id, NKey: pub}, kp
}

// connectPartner connects with kp's nkey over TCP; errs receives the
// server's asynchronous refusals (permission violations).
func connectPartner(t *testing.T, srv *Server, kp nkeys.KeyPair, opts ...nats.Option) (*nats.Conn, chan error, error) {
	t.Helper()
	pub, _ := kp.PublicKey()
	errs := make(chan error, 16)
	opts = append(opts, nats.Nkey(pub, kp.Sign), nats.MaxReconnects(0),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	nc, err := nats.Connect(srv.LocalURL(), opts...)
	if err == nil {
		t.Cleanup(nc.Close)
	}
	return nc, errs, err
}

// refused waits for the server's permission violation naming subject.
func refused(t *testing.T, errs chan error, subject string) {
	t.Helper()
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), subject) {
			t.Fatalf("want a permission violation on %s, got %v", subject, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no permission violation on %s", subject)
	}
}

// A client without credentials is refused at the door, whatever it then
// wanted to do.
func TestAnonymousClientIsRefused(t *testing.T) {
	srv, _, _ := startAuth(t)
	for _, tc := range []struct {
		name string
		url  string
	}{
		{"a client with no credential is refused", srv.LocalURL()},
		{"a client guessing the system user's name with a wrong password is refused", strings.Replace(srv.LocalURL(), "nats://", "nats://relais:guess@", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := nats.Connect(tc.url, nats.MaxReconnects(0))
			if err == nil {
				nc.Close()
				t.Fatal("connected")
			}
			if !errors.Is(err, nats.ErrAuthorization) {
				t.Fatalf("want an authorization violation, got %v", err)
			}
		})
	}
}

// A partner's user subscribes to its own alert subject and does nothing
// else: every other subscription and every publish is refused by the
// server, and nothing reaches the ledger, the webhook queue or the
// JetStream API.
func TestPartnerDoesOnlyReadItsOwnAlerts(t *testing.T) {
	p, kp := newPartner(t, "pharm-1")
	other, _ := newPartner(t, "clinic-2")
	srv, sys, js := startAuth(t, p, other)
	ctx := context.Background()

	nc, errs, err := connectPartner(t, srv, kp)
	if err != nil {
		t.Fatalf("partner connect: %v", err)
	}
	own, err := nc.SubscribeSync(AlertSubject(p.ID))
	if err != nil {
		t.Fatal(err)
	}
	refusedSubs := map[string]*nats.Subscription{}
	for _, subj := range []string{">", "relais.ev.>", "relais.alerts.*", AlertSubject(other.ID), "$JS.API.>", "relais.webhook.>"} {
		sub, err := nc.SubscribeSync(subj)
		if err != nil {
			t.Fatal(err)
		}
		refused(t, errs, fmt.Sprintf("%q", subj))
		refusedSubs[subj] = sub
	}
	for _, tc := range []struct {
		name    string
		subject string
	}{
		{"a forged ledger event into relais.ev.staff-x is refused", "relais.ev.staff-x"},
		{"a body into the webhook queue is refused", "relais.webhook.deliver"},
		{"deleting the ledger stream through the JetStream API is refused", "$JS.API.STREAM.DELETE.RELAIS_EVENTS"},
		{"publishing on its own alert subject is refused", AlertSubject(p.ID)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := nc.PublishRequest(tc.subject, "_INBOX.x", []byte(`{"forged":true}`)); err != nil {
				t.Fatal(err)
			}
			refused(t, errs, tc.subject)
		})
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	// Later markers from Relais itself: the partner gets its own alert and
	// nothing on the refused subscriptions; only Relais's own writes are
	// stored.
	for _, subj := range []string{AlertSubject(other.ID), "relais.ev.marker", AlertSubject(p.ID)} {
		if err := sys.Publish(subj, []byte("marker")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.Publish(ctx, "relais.webhook.marker", []byte("marker")); err != nil {
		t.Fatal(err)
	}
	if m, err := own.NextMsg(10 * time.Second); err != nil || string(m.Data) != "marker" {
		t.Fatalf("own alert subject: %v %v", m, err)
	}
	for subj, sub := range refusedSubs {
		if m, err := sub.NextMsg(0); err == nil {
			t.Errorf("refused subscription %s received %s: %s", subj, m.Subject, m.Data)
		}
	}
	for stream, want := range map[string]uint64{"RELAIS_EVENTS": 1, "RELAIS_WEBHOOKS": 1} {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			t.Fatalf("%s after the partner's attempts: %v", stream, err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs != want {
			t.Errorf("%s holds %d messages, want %d (Relais's marker only)", stream, info.State.Msgs, want)
		}
	}
}

// SetPartners applies at once: a new partner can connect, a revoked one
// is disconnected and refused, a rotated key replaces the old one; bad
// input changes nothing.
func TestSetPartnersIssuesRotatesAndRevokes(t *testing.T) {
	srv, sys, _ := startAuth(t)
	ctx := context.Background()
	p, kp := newPartner(t, "pharm-1")

	if _, _, err := connectPartner(t, srv, kp); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("before issue: want authorization violation, got %v", err)
	}
	if err := srv.SetPartners(ctx, []Partner{p}); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	nc, _, err := connectPartner(t, srv, kp, nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatalf("after issue: %v", err)
	}
	sub, err := nc.SubscribeSync(AlertSubject(p.ID))
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := sys.Publish(AlertSubject(p.ID), []byte("a1")); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("issued partner gets its alert: %v", err)
	}

	bad := []struct {
		name string
		ps   []Partner
	}{
		{"an id with a dot is refused", []Partner{{ID: "pharm.1", NKey: p.NKey}}},
		{"a wildcard id is refused", []Partner{{ID: ">", NKey: p.NKey}}},
		{"an empty id is refused", []Partner{{ID: "", NKey: p.NKey}}},
		{"a seed instead of a public key is refused", []Partner{{ID: "pharm-1", NKey: "SUAxxx"}}},
		{"the same id twice is refused", []Partner{p, {ID: p.ID, NKey: mustKey(t)}}},
		{"the same key for two partners is refused", []Partner{p, {ID: "clinic-2", NKey: p.NKey}}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if err := srv.SetPartners(ctx, tc.ps); !errors.Is(err, ErrBadPartner) {
				t.Fatalf("want ErrBadPartner, got %v", err)
			}
			if got := srv.Partners(); len(got) != 1 || got[0] != p {
				t.Fatalf("partners changed to %v", got)
			}
		})
	}
	if !nc.IsConnected() {
		t.Fatal("refused changes disconnected the partner")
	}

	rotated, kp2 := newPartner(t, p.ID)
	if err := srv.SetPartners(ctx, []Partner{rotated}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the partner's old key was not disconnected by the rotation")
	}
	if _, _, err := connectPartner(t, srv, kp); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("old key after rotation: want authorization violation, got %v", err)
	}
	nc2, _, err := connectPartner(t, srv, kp2)
	if err != nil {
		t.Fatalf("new key after rotation: %v", err)
	}
	closed2 := make(chan struct{})
	nc2.SetClosedHandler(func(*nats.Conn) { close(closed2) })

	if err := srv.SetPartners(ctx, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed2:
	case <-time.After(10 * time.Second):
		t.Fatal("the revoked partner was not disconnected")
	}
	if _, _, err := connectPartner(t, srv, kp2); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("after revocation: want authorization violation, got %v", err)
	}
}

func mustKey(t *testing.T) string {
	t.Helper()
	p, _ := newPartner(t, "x")
	return p.NKey
}

// The credential file is the owner's only, carries every permission the
// CLI needs, is refused when others can read it, and is gone at shutdown.
func TestCredentialFile(t *testing.T) {
	srv, _, _ := startAuth(t)
	path := srv.credFile
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("credential file mode %04o, want 0600", fi.Mode().Perm())
	}
	opt, err := Credential(path)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(srv.LocalURL(), opt, nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("connect with the credential: %v", err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.Publish(context.Background(), "relais.ev.cli", []byte("x")); err != nil {
		t.Fatalf("the credential's user appends: %v", err)
	}

	for _, tc := range []struct {
		name   string
		path   string
		prep   func(p string)
		reason string
	}{
		{"a missing file is refused", filepath.Join(t.TempDir(), "none"), func(string) {}, "no such file"},
		{"a group-readable copy is refused", filepath.Join(t.TempDir(), "seed"), func(p string) {
			b, _ := os.ReadFile(path)
			os.WriteFile(p, b, 0o640) //nolint:errcheck
		}, "readable by other users"},
		{"a file that is not a seed is refused", filepath.Join(t.TempDir(), "seed"), func(p string) {
			os.WriteFile(p, []byte("nats://127.0.0.1:4222\n"), 0o600) //nolint:errcheck
		}, "seed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.prep(tc.path)
			if _, err := Credential(tc.path); !errors.Is(err, ErrCredential) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("want ErrCredential (%s), got %v", tc.reason, err)
			}
		})
	}

	srv.Shutdown()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("credential file left after shutdown: %v", err)
	}
}

// The embedded server holds no plaintext password, and says nothing about
// one at start (an operator reading the log would take it for a fault).
func TestTheEmbeddedServerKeepsNoPlaintextPassword(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	srv, err := Start(Config{DataDir: t.TempDir(), Port: -1, NoListen: true, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL(), nats.InProcessServer(srv))
	if err != nil {
		t.Fatalf("Relais's own connection: %v", err)
	}
	nc.Close()
	for _, e := range logs.All() {
		if strings.Contains(strings.ToLower(e.Message), "plaintext password") {
			t.Errorf("the server logged %q", e.Message)
		}
	}
}
