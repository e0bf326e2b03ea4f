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
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/adapters/mllp"
)

// The hospital feeds' door (issue 10, section 3): a sender is the
// connection it comes on, never what it writes in MSH-4.

// ledgerEvent is one line of `relais events tail`.
type ledgerEvent struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Stream string `json:"stream"`
	Actor  struct {
		ID string `json:"id"`
	} `json:"actor"`
	Source struct {
		System      string `json:"system"`
		MessageID   string `json:"message_id"`
		Remote      string `json:"remote"`
		Certificate string `json:"certificate"`
	} `json:"source"`
	Data struct {
		VisitNumber string `json:"visit_number"`
	} `json:"data"`
}

// ledgerEvents reads the whole ledger with `relais events tail`.
func ledgerEvents(t *testing.T, data string) []ledgerEvent {
	t.Helper()
	out, errOut, code := runRelais(t, "events", "tail", "--data", data)
	if code != 0 {
		t.Fatalf("events tail: exit %d: %s", code, errOut)
	}
	var evs []ledgerEvent
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var e ledgerEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("events tail printed %q: %v", line, err)
		}
		evs = append(evs, e)
	}
	return evs
}

// visitEvents are the ledger's events of one visit number.
func visitEvents(evs []ledgerEvent, visit string) []ledgerEvent {
	var out []ledgerEvent
	for _, e := range evs {
		if e.Data.VisitNumber == visit && strings.HasPrefix(e.Stream, "visit-") {
			out = append(out, e)
		}
	}
	return out
}

// sendFrom sends one MLLP message from the local address from (e.g.
// 127.0.0.2, any address of 127/8 is this machine) and returns the ACK code.
func sendFrom(t *testing.T, from, to string, msg []byte) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.DialContext(ctx, "tcp", to)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", to, from, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
	if err := mllp.WriteFrame(c, msg); err != nil {
		t.Fatal(err)
	}
	reply, err := mllp.NewReader(c, 0).ReadFrame()
	if err != nil {
		t.Fatalf("no ACK from %s: %v", to, err)
	}
	return ackCode(t, reply)
}

// send sends one message over a new MLLP connection (TLS when cfg is set)
// and returns the ACK code, or "" when the connection was refused.
func send(t *testing.T, addr string, cfg *tls.Config, msg []byte) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := mllp.Dial(ctx, addr, cfg)
	if err != nil {
		return ""
	}
	defer c.Close()
	reply, err := c.Send(ctx, msg)
	if err != nil {
		return ""
	}
	return ackCode(t, reply)
}

// Per-facility networks: HSTA is accepted from 127.0.0.2 only; from
// another address its MSH-4 is a lie, answered AR, and nothing is
// recorded. What is accepted keeps the connection's address.
func TestMLLP_AFacilityIsAcceptedFromItsConfiguredSourceOnly(t *testing.T) {
	data := t.TempDir()
	srv := startServe(t, data, "--demo", "--demo-every", "0", "--hl7-sources", "HSTA=127.0.0.2/32")
	tests := []struct {
		name  string
		from  string
		visit string
		ack   string
	}{
		{"HSTA from an unlisted address is refused", "127.0.0.1", "V9001", "AR"},
		{"HSTA from another unlisted loopback address is refused", "127.0.0.3", "V9002", "AR"},
		{"HSTA from its source is accepted", "127.0.0.2", "V9003", "AA"},
		{"HLAU, with no source configured, is accepted from loopback", "127.0.0.1", "V9004", "AA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			facility := "HSTA"
			if strings.HasPrefix(tt.name, "HLAU") {
				facility = "HLAU"
			}
			if got := sendFrom(t, tt.from, srv.MLLP, adt("A04", "c"+tt.visit, "DEMO00000004", tt.visit, facility)); got != tt.ack {
				t.Fatalf("ACK %s, want %s", got, tt.ack)
			}
		})
	}
	evs := ledgerEvents(t, data)
	for _, tt := range tests {
		got := visitEvents(evs, tt.visit)
		switch {
		case tt.ack != "AA" && len(got) != 0:
			t.Errorf("%s: the refused message was recorded: %+v", tt.name, got)
		case tt.ack == "AA" && (len(got) != 1 || !strings.HasPrefix(got[0].Source.Remote, tt.from+":")):
			t.Errorf("%s: recorded %+v, want one event whose source is %s", tt.name, got, tt.from)
		}
	}
}

// pki is a certificate authority made for one test, and the files serve reads.
type pki struct {
	dir  string
	ca   *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	n    int64
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &pki{dir: t.TempDir(), ca: ca, key: key, pool: x509.NewCertPool(), n: 1}
	p.pool.AddCert(ca)
	p.write(t, "ca.pem", "CERTIFICATE", der)
	return p
}

func (p *pki) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue signs a certificate for cn: a server one (for localhost and
// 127.0.0.1) written to files, or a client one.
func (p *pki) issue(t *testing.T, cn string, server bool) (tls.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.n++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.n), Subject: pkix.Name{CommonName: cn, Organization: []string{"Hopital test"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames, tmpl.IPAddresses = []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile := p.write(t, cn+".pem", "CERTIFICATE", der)
	keyFile := p.write(t, cn+".key", "EC PRIVATE KEY", kder)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certFile, keyFile
}

// Mutual TLS: each facility's messages must come with a client certificate
// that names it. HLAU's certificate cannot send as HSTA, a certificate from
// another authority or none at all gets no answer, and what is accepted
// keeps the certificate's subject and the address.
func TestMLLP_MutualTLSAcceptsAFacilityOnlyWithItsOwnCertificate(t *testing.T) {
	ca := newPKI(t, "Relais test CA")
	_, srvCert, srvKey := ca.issue(t, "relais", true)
	hsta, _, _ := ca.issue(t, "HSTA", false)
	hlau, _, _ := ca.issue(t, "HLAU", false)
	rogue, _, _ := newPKI(t, "rogue CA").issue(t, "HSTA", false)
	data := t.TempDir()
	srv := startServe(t, data, "--demo", "--demo-every", "0",
		"--mllp-tls-cert", srvCert, "--mllp-tls-key", srvKey, "--mllp-tls-client-ca", filepath.Join(ca.dir, "ca.pem"))
	client := func(certs ...tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: ca.pool, ServerName: "localhost", Certificates: certs, MinVersion: tls.VersionTLS12}
	}
	tests := []struct {
		name  string
		cfg   *tls.Config
		visit string
		ack   string // "" when the connection gets no answer at all
	}{
		{"HLAU's certificate sending as HSTA is refused", client(hlau), "V9101", "AR"},
		{"a certificate of another authority naming HSTA gets no answer", client(rogue), "V9102", ""},
		{"a client without a certificate gets no answer", client(), "V9103", ""},
		{"plain text gets no answer", nil, "V9104", ""},
		{"HSTA's certificate sending as HSTA is accepted", client(hsta), "V9105", "AA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := send(t, srv.MLLP, tt.cfg, adt("A04", "c"+tt.visit, "DEMO00000004", tt.visit, "HSTA")); got != tt.ack {
				t.Fatalf("ACK %q, want %q", got, tt.ack)
			}
		})
	}
	evs := ledgerEvents(t, data)
	for _, tt := range tests {
		got := visitEvents(evs, tt.visit)
		switch {
		case tt.ack != "AA" && len(got) != 0:
			t.Errorf("%s: the refused message was recorded: %+v", tt.name, got)
		case tt.ack == "AA" && (len(got) != 1 || !strings.Contains(got[0].Source.Certificate, "CN=HSTA") || !strings.HasPrefix(got[0].Source.Remote, "127.0.0.1:")):
			t.Errorf("%s: recorded %+v, want one event with the certificate subject and the address", tt.name, got)
		}
	}
}

// An A11 with an unrelated PID-3 cannot withdraw a client's ED alert: AE,
// nothing recorded, and the alert stays until the visit's own patient's
// A11 withdraws it.
func TestMLLP_ACancelForAnotherPatientLeavesTheAlert(t *testing.T) {
	data := t.TempDir()
	srv := startServe(t, data, "--demo", "--demo-every", "0")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := openSSE(t, ctx, "http://"+srv.HTTP, "demo-cm-1", "")
	c, err := mllp.Dial(ctx, srv.MLLP, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if code := ackCode(t, must(c.Send(ctx, adt("A04", "9201", "DEMO00000001", "V9201", "HSTA")))); code != "AA" {
		t.Fatalf("A04: %s", code)
	}
	if ev := nextEvent(t, stream, 5*time.Second); ev.Name != "alert.raised" {
		t.Fatalf("after the A04 the case manager got %+v", ev)
	}
	// Another person's identifiers (RAMQ and MRN) on the same visit number.
	spoof := adt("A11", "9202", "ZZZZ99999999", "V9201", "HSTA")
	reply := must(c.Send(ctx, spoof))
	if code := ackCode(t, reply); code != "AE" || !strings.Contains(string(reply), "V9201") {
		t.Fatalf("A11 with an unrelated PID-3: %s %q, want AE naming the visit", code, reply)
	}
	// A marker: alerts move in ledger order, so a withdrawal caused by the
	// spoofed A11 would reach the stream before the marker's alert.
	if code := ackCode(t, must(c.Send(ctx, adt("A04", "9203", "DEMO00000005", "V9203", "HSTA")))); code != "AA" {
		t.Fatalf("the marker arrival: %s", code)
	}
	if ev := nextEvent(t, stream, 5*time.Second); ev.Name != "alert.raised" || ev.Data["alert"].(map[string]any)["client_id"] != "client-05" {
		t.Fatalf("after the spoofed A11 the case manager got %+v, want only the marker's alert", ev)
	}
	if got := visitEvents(ledgerEvents(t, data), "V9201"); len(got) != 1 {
		t.Fatalf("visit V9201 holds %d events after the spoofed A11, want the A04 only", len(got))
	}
	if code := ackCode(t, must(c.Send(ctx, adt("A11", "9204", "DEMO00000001", "V9201", "HSTA")))); code != "AA" {
		t.Fatalf("the patient's own A11: %s", code)
	}
	ev := nextEvent(t, stream, 5*time.Second)
	if a, _ := ev.Data["alert"].(map[string]any); a["client_id"] != "client-01" || ev.Name != "alert.withdrawn" && a["status"] != "cancelled" {
		t.Fatalf("after the patient's own A11 the case manager got %+v, want client-01's alert cancelled", ev)
	}
}

// A control id reused for a different visit is two events with two ids,
// each acknowledged because each is recorded; the same message again is
// recorded once.
func TestMLLP_AReusedControlIDNeverStoresOneIDTwice(t *testing.T) {
	data := t.TempDir()
	srv := startServe(t, data, "--demo", "--demo-every", "0")
	for _, m := range [][]byte{
		adt("A04", "9301", "DEMO00000002", "V9301", "HSTA"),
		adt("A04", "9301", "DEMO00000003", "V9302", "HSTA"),
	} {
		if code := send(t, srv.MLLP, nil, m); code != "AA" {
			t.Fatalf("ACK %s, want AA", code)
		}
	}
	evs := ledgerEvents(t, data)
	seen := map[string]string{}
	for _, e := range evs {
		if prev, ok := seen[e.ID]; ok {
			t.Fatalf("event id %s stored twice: in %s and %s", e.ID, prev, e.Stream)
		}
		seen[e.ID] = e.Stream
	}
	for _, v := range []string{"V9301", "V9302"} {
		if got := visitEvents(evs, v); len(got) != 1 {
			t.Fatalf("visit %s holds %d events, want 1 (each AA recorded)", v, len(got))
		}
	}
}

// Over HTTP, the actor recorded is the caller, and HSTA's system token
// cannot post an arrival for HLAU.
func TestHTTP_ArrivalsAreBoundToTheCallersFacility(t *testing.T) {
	data := t.TempDir()
	srv := startServe(t, data, "--demo", "--demo-every", "0")
	post := func(token, facility, visit string) int {
		body := `{"facility":"` + facility + `","control_id":"c-` + visit + `","trigger":"A04","at":"2026-11-20T14:30:00Z",` +
			`"identifiers":[{"authority":"RAMQ","value":"DEMO00000006"}],"visit_number":"` + visit + `"}`
		req, _ := http.NewRequest("POST", "http://"+srv.HTTP+"/v1/ed/arrivals", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("demo-hl7-hsta", "HLAU", "V9401"); code != http.StatusForbidden {
		t.Fatalf("HSTA's token posting for HLAU: %d, want 403", code)
	}
	if code := post("demo-hl7-hsta", "HSTA", "V9402"); code != http.StatusCreated {
		t.Fatalf("HSTA's token posting for HSTA: %d, want 201", code)
	}
	evs := ledgerEvents(t, data)
	if got := visitEvents(evs, "V9401"); len(got) != 0 {
		t.Fatalf("the forbidden arrival was recorded: %+v", got)
	}
	if got := visitEvents(evs, "V9402"); len(got) != 1 || got[0].Actor.ID != "hl7-hsta" || got[0].Source.Remote == "" {
		t.Fatalf("HSTA's arrival recorded as %+v, want actor hl7-hsta (the caller) and the caller's address", got)
	}
}

// A listener reachable from other machines without a source for every
// facility is refused at start, naming the flag; the default listens on
// loopback; the connection cap closes one connection too many.
func TestMLLP_TheListenerIsLoopbackUnlessEveryFacilityHasASource(t *testing.T) {
	out, _, _ := runRelais(t, "serve", "--help")
	if !strings.Contains(out, `--mllp string`) || !strings.Contains(out, `(default "127.0.0.1:2575")`) {
		t.Fatalf("serve --help does not show a loopback MLLP default:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := []string{"serve", "--data", t.TempDir(), "--http", freeAddr(t), "--nats-listen", freeAddr(t), "--mllp", "0.0.0.0:0",
		"--hl7-sources", "HSTA=10.0.0.0/24"}
	cmd := exec.CommandContext(ctx, relaisBin, args...)
	cmd.Dir = workDir(t, args)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatal("relais serve --mllp 0.0.0.0:0 without a source for HLAU kept running")
	}
	if err == nil || !strings.Contains(stderr.String(), "--mllp") || !strings.Contains(stderr.String(), "--hl7-sources") || !strings.Contains(stderr.String(), "HLAU") {
		t.Fatalf("serve off loopback without a source for HLAU: %v\n%s", err, stderr.String())
	}

	srv := startServe(t, t.TempDir(), "--mllp-max-conns", "1")
	c, err := mllp.Dial(context.Background(), srv.MLLP, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if code := ackCode(t, must(c.Send(context.Background(), adt("A04", "9501", "X1", "V9501", "HSTA")))); code != "AA" {
		t.Fatalf("the first connection: %s", code)
	}
	if code := send(t, srv.MLLP, nil, adt("A04", "9502", "X2", "V9502", "HSTA")); code != "" {
		t.Fatalf("a second connection with --mllp-max-conns 1 was answered %s", code)
	}
}
