package tests

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/relais-health/relais/delivery"
	"github.com/relais-health/relais/infra/natsembed"
	"github.com/relais-health/relais/internal/poll"
)

// The files `relais serve` leaves in its data directory for the other
// commands (app/backend.go).
const (
	natsURLFile  = "relais-nats.url"
	natsSeedFile = "relais-nats.seed"
)

// anonymousSteps are what an attacker on the machine did with the open
// NATS port of c44a18b; each is attempted only if the anonymous client
// gets in, to show what got through.
var anonymousSteps = []struct {
	name string
	do   func(nc *nats.Conn) error
}{
	{"subscribing to > (every ledger event and alert) is refused", func(nc *nats.Conn) error {
		_, err := nc.SubscribeSync(">")
		return err
	}},
	{"publishing a forged staff.registered into relais.ev.staff-x is refused", func(nc *nats.Conn) error {
		return nc.Publish("relais.ev.staff-x", []byte(`{"type":"staff.registered","data":{"staff_id":"x","role":"admin"}}`))
	}},
	{"publishing into the webhook queue is refused", func(nc *nats.Conn) error {
		m := nats.NewMsg("relais.webhooks.deliver")
		m.Header.Set("Relais-Url", "http://127.0.0.1:1/attacker")
		m.Data = []byte(`{"forged":true}`)
		return nc.PublishMsg(m)
	}},
	{"deleting RELAIS_EVENTS through $JS.API is refused", func(nc *nats.Conn) error {
		_, err := nc.Request("$JS.API.STREAM.DELETE.RELAIS_EVENTS", nil, 5*time.Second)
		return err
	}},
}

// Every door of the embedded NATS port is shut to a client without
// credentials, and nothing it tried reaches the ledger; the other relais
// commands still reach the running server through their credential file,
// which only the user running serve can read.
func TestNATSPortRefusesAnonymousClients(t *testing.T) {
	data := t.TempDir()
	srv := startServe(t, data)

	for _, step := range anonymousSteps {
		t.Run(step.name, func(t *testing.T) {
			nc, err := nats.Connect("nats://"+srv.NATS, nats.MaxReconnects(0), nats.Timeout(5*time.Second))
			if err == nil {
				defer nc.Close()
				err := step.do(nc)
				if err == nil {
					err = nc.Flush()
				}
				t.Fatalf("an anonymous client connected to --nats-listen %s; then: %v (nil: it went through)", srv.NATS, err)
			}
			if !errors.Is(err, nats.ErrAuthorization) {
				t.Fatalf("want an authorization violation, got %v", err)
			}
		})
	}

	// The ledger is whole and holds nothing forged: read through the CLI's
	// credentialed path.
	out, stderr, code := runRelais(t, "events", "tail", "--data", data, "--from", "1")
	if code != 0 {
		t.Fatalf("events tail: exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, `"stream":"staff-admin"`) || strings.Contains(out, "staff-x") {
		t.Fatalf("ledger after the anonymous attempts:\n%s", out)
	}
}

// A partner's NATS key, issued through the API, reads its own alert
// subject and nothing else: every step of the anonymous attacker's walk is
// refused by the server, and nothing reaches the ledger.
func TestNATSPartnerKeyDoesOnlyReadItsOwnAlerts(t *testing.T) {
	const admin = "rls_nats-suite-admin-0123456789"
	t.Setenv("RELAIS_ADMIN_TOKEN", admin)
	data := t.TempDir()
	srv := startServe(t, data, "--demo", "--demo-every", "0")

	var key struct {
		PublicKey string `json:"public_key"`
		Seed      string `json:"seed"`
	}
	poll.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		req, _ := http.NewRequest("POST", "http://"+srv.HTTP+"/v1/partners/org-1/nats", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("issue a NATS key to org-1: %d %s", resp.StatusCode, body)
		}
		return json.Unmarshal(body, &key)
	})
	kp, err := nkeys.FromSeed([]byte(key.Seed))
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 32)
	var nc *nats.Conn
	poll.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error { // applied once the directory folded the key
		nc, err = nats.Connect("nats://"+srv.NATS, nats.Nkey(key.PublicKey, kp.Sign), nats.MaxReconnects(0),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
		return err
	})
	defer nc.Close()
	own, err := nc.SubscribeSync(delivery.Subject("org-1"))
	if err != nil {
		t.Fatal(err)
	}

	refusedBy := func(t *testing.T, what string) {
		t.Helper()
		if err := nc.Flush(); err != nil {
			t.Fatalf("flush: %v", err)
		}
		select {
		case err := <-errs:
			if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), what) {
				t.Fatalf("want a permission violation on %s, got %v", what, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the server did not refuse %s", what)
		}
	}
	for _, tc := range []struct {
		name string
		what string
		do   func() error
	}{
		{"subscribing to > is refused", `">"`, func() error { _, err := nc.SubscribeSync(">"); return err }},
		{"subscribing to the ledger's relais.ev.> is refused", `"relais.ev.>"`, func() error { _, err := nc.SubscribeSync("relais.ev.>"); return err }},
		{"subscribing to another partner's alerts is refused", delivery.Subject("org-2"), func() error { _, err := nc.SubscribeSync(delivery.Subject("org-2")); return err }},
		{"publishing a forged event into relais.ev.staff-x is refused", "relais.ev.staff-x", func() error {
			return nc.Publish("relais.ev.staff-x", []byte(`{"type":"staff.registered"}`))
		}},
		{"publishing into the webhook queue is refused", "relais.webhooks.deliver", func() error {
			return nc.Publish("relais.webhooks.deliver", []byte(`{"forged":true}`))
		}},
		{"deleting RELAIS_EVENTS through $JS.API is refused", "$JS.API.STREAM.DELETE.RELAIS_EVENTS", func() error {
			return nc.PublishRequest("$JS.API.STREAM.DELETE.RELAIS_EVENTS", nats.NewInbox(), nil)
		}},
		{"publishing on its own alert subject is refused", delivery.Subject("org-1"), func() error {
			return nc.Publish(delivery.Subject("org-1"), []byte(`{"forged":true}`))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); err != nil {
				t.Fatal(err)
			}
			refusedBy(t, tc.what)
		})
	}
	if !nc.IsConnected() {
		t.Fatal("the partner was disconnected by its refused attempts")
	}
	if m, err := own.NextMsg(0); err == nil {
		t.Fatalf("the partner's own forged alert reached it: %s", m.Data)
	}

	out, stderr, code := runRelais(t, "events", "tail", "--data", data, "--from", "1")
	if code != 0 {
		t.Fatalf("events tail: exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, `"stream":"staff-admin"`) || strings.Contains(out, "staff-x") {
		t.Fatalf("ledger after the partner's attempts:\n%s", out)
	}
}

// `relais events append` beside a running serve goes through serve's
// credential: a 0600 nkey seed beside a URL file that holds no secret; a
// credential others can read is refused with an error naming it, and
// nothing is appended.
func TestCLIReachesServeWithItsCredential(t *testing.T) {
	data := t.TempDir()
	startServe(t, data)
	seed := filepath.Join(data, natsSeedFile)

	fi, err := os.Stat(seed)
	if err != nil {
		t.Fatalf("serve wrote no credential beside %s: %v", natsURLFile, err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s mode %04o, want 0600", natsSeedFile, fi.Mode().Perm())
	}
	url, err := os.ReadFile(filepath.Join(data, natsURLFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(url), "@") {
		t.Fatalf("%s carries credentials: %s", natsURLFile, url)
	}

	appendContact := func(stream string) (string, int) {
		payload := fmt.Sprintf(`{"client_id":%q,"staff_id":"cm-1","channel":"phone","at":"2024-05-01T10:00:00Z"}`, stream)
		_, stderr, code := runRelais(t, "events", "append", "--data", data, "--stream", stream, "--type", "contact.made", "--payload", payload)
		return stderr, code
	}
	for _, tc := range []struct {
		name     string
		mode     os.FileMode
		stream   string
		wantCode int
		wantErr  string
	}{
		{"an append through the owner's credential is recorded", 0o600, "client-cli-ok", 0, ""},
		{"a credential readable by the group is refused and nothing is appended", 0o640, "client-cli-refused", 1, "readable by other users"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.Chmod(seed, tc.mode); err != nil {
				t.Fatal(err)
			}
			defer os.Chmod(seed, 0o600) //nolint:errcheck
			stderr, code := appendContact(tc.stream)
			if code != tc.wantCode || !strings.Contains(stderr, tc.wantErr) {
				t.Fatalf("exit %d, want %d (%q): %s", code, tc.wantCode, tc.wantErr, stderr)
			}
		})
	}
	out, stderr, code := runRelais(t, "events", "tail", "--data", data, "--from", "1")
	if code != 0 {
		t.Fatalf("events tail: exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, `"stream":"client-cli-ok"`) || strings.Contains(out, "client-cli-refused") {
		t.Fatalf("ledger:\n%s", out)
	}
}

// The NATS listener leaves loopback only with TLS, or with an explicit
// --nats-insecure that is logged; with TLS the CLI still reaches serve (it
// pins the certificate serve published) and anonymous clients are still
// refused, in clear or over TLS.
func TestNATSListenBeyondLoopbackNeedsTLS(t *testing.T) {
	port := func() string { _, p, _ := net.SplitHostPort(freeAddr(t)); return p }

	t.Run("a non-loopback listen without TLS is refused at start, naming the flag", func(t *testing.T) {
		data := t.TempDir()
		stderr, code := runRelaisWithin(t, 20*time.Second, "serve", "--data", data, "--http", freeAddr(t), "--mllp", freeAddr(t), "--nats-listen", "0.0.0.0:"+port())
		if code != 2 || !strings.Contains(stderr, "--nats-listen") || !strings.Contains(stderr, "--nats-tls-cert") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if _, err := os.Stat(filepath.Join(data, natsURLFile)); err == nil {
			t.Fatal("serve published a URL before refusing")
		}
	})

	t.Run("--nats-insecure allows it with a warning, and clients still authenticate", func(t *testing.T) {
		data := t.TempDir()
		p := port()
		srv := startServe(t, data, "--nats-listen", "0.0.0.0:"+p, "--nats-insecure")
		if !strings.Contains(srv.logs(), "--nats-insecure") {
			t.Fatalf("no warning in the logs:\n%s", srv.logs())
		}
		if nc, err := nats.Connect("nats://127.0.0.1:"+p, nats.MaxReconnects(0)); !errors.Is(err, nats.ErrAuthorization) {
			if nc != nil {
				nc.Close()
			}
			t.Fatalf("anonymous client: want authorization violation, got %v", err)
		}
	})

	t.Run("with TLS the CLI appends through the pinned certificate and anonymous clients are refused", func(t *testing.T) {
		data := t.TempDir()
		cert, key := selfSignedCert(t)
		p := port()
		startServe(t, data, "--nats-listen", "0.0.0.0:"+p, "--nats-tls-cert", cert, "--nats-tls-key", key)
		payload := `{"client_id":"client-tls","staff_id":"cm-1","channel":"phone","at":"2024-05-01T10:00:00Z"}`
		if _, stderr, code := runRelais(t, "events", "append", "--data", data, "--stream", "client-tls", "--type", "contact.made", "--payload", payload); code != 0 {
			t.Fatalf("append over TLS: exit %d: %s", code, stderr)
		}
		for _, opts := range [][]nats.Option{
			nil, // clear text: the server requires TLS first
			{nats.Secure(&tls.Config{InsecureSkipVerify: true})}, //nolint:gosec // the attacker does not care who the server is
		} {
			nc, err := nats.Connect("nats://127.0.0.1:"+p, append(opts, nats.MaxReconnects(0))...)
			if err == nil {
				nc.Close()
				t.Fatal("an anonymous client connected")
			}
			if len(opts) > 0 && !errors.Is(err, nats.ErrAuthorization) {
				t.Fatalf("anonymous TLS client: want authorization violation, got %v", err)
			}
		}
	})
}

// Partners' NATS users may subscribe only to the subject delivery
// publishes their alerts on: both packages must name it alike.
func TestPartnerNATSSubjectIsDeliverySubject(t *testing.T) {
	if got, want := natsembed.AlertSubject("pharm-1"), delivery.Subject("pharm-1"); got != want {
		t.Fatalf("natsembed allows %q, delivery publishes on %q", got, want)
	}
}

// natsConnect connects to srv's embedded NATS the way the other relais
// commands do: with the credential serve wrote in its data directory.
func (s *server) natsConnect(t *testing.T, opts ...nats.Option) *nats.Conn {
	t.Helper()
	cred, err := natsembed.Credential(filepath.Join(s.Data, natsSeedFile))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("nats://"+s.NATS, append(opts, cred)...)
	if err != nil {
		t.Fatalf("connect to relais serve's nats with its credential: %v", err)
	}
	return nc
}

// runRelaisWithin runs a relais command that must end within d (a serve
// that should refuse to start), killing it after d.
func runRelaisWithin(t *testing.T, d time.Duration, args ...string) (stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, relaisBin, args...)
	cmd.Dir = workDir(t, args)
	var errb strings.Builder
	cmd.Stderr = &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("relais %s still running after %s:\n%s", strings.Join(args, " "), d, errb.String())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return errb.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return errb.String(), 0
}

// selfSignedCert writes a certificate and key for 127.0.0.1 and returns
// their paths.
func selfSignedCert(t *testing.T) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "relais-test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}
