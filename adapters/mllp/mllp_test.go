package mllp

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/relais-health/relais/internal/poll"
)

func echoServer(t *testing.T, cfg *tls.Config, max int) (string, context.CancelFunc, chan error) {
	t.Helper()
	return serveWith(t, &Server{TLSConfig: cfg, MaxSize: max, Handler: func(_ context.Context, _ Peer, msg []byte) []byte {
		return append([]byte("ACK:"), msg...)
	}})
}

// serveWith serves s on a random loopback port until the test ends.
func serveWith(t *testing.T, s *Server) (string, context.CancelFunc, chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String(), cancel, done
}

func TestServerAnswersEachMessageInOrder(t *testing.T) {
	addr, _, _ := echoServer(t, nil, 0)
	c, err := Dial(context.Background(), addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, m := range []string{"MSH|1", "MSH|2é", "MSH|3"} {
		reply, err := c.Send(context.Background(), []byte(m))
		if err != nil || string(reply) != "ACK:"+m {
			t.Fatalf("send %q: %q %v", m, reply, err)
		}
	}
}

func TestServerOverTLS(t *testing.T) {
	cert := selfSigned(t)
	addr, _, _ := echoServer(t, &tls.Config{Certificates: []tls.Certificate{cert}}, 0)
	pool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	pool.AddCert(leaf)
	c, err := Dial(context.Background(), addr, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if reply, err := c.Send(context.Background(), []byte("MSH|tls")); err != nil || string(reply) != "ACK:MSH|tls" {
		t.Fatalf("%q %v", reply, err)
	}
	// A plain-text peer gets nothing from a TLS listener.
	plain, err := Dial(context.Background(), addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := plain.Send(ctx, []byte("MSH|plain")); err == nil {
		t.Fatal("plain text peer was answered by a TLS server")
	}
}

func TestServerClosesOnOversizedFrameAndSurvivesBrokenPeers(t *testing.T) {
	addr, _, _ := echoServer(t, nil, 16)
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	WriteFrame(raw, bytes.Repeat([]byte("x"), 100)) //nolint:errcheck
	raw.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := NewReader(raw, 0).ReadFrame(); err == nil {
		t.Fatal("oversized frame was answered")
	}
	raw.Close()
	// A peer that disconnects in the middle of a frame.
	half, _ := net.Dial("tcp", addr)
	half.Write([]byte{startBlock, 'M', 'S'}) //nolint:errcheck
	half.Close()
	// The server still serves others.
	c, err := Dial(context.Background(), addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if reply, err := c.Send(context.Background(), []byte("ok")); err != nil || string(reply) != "ACK:ok" {
		t.Fatalf("%q %v", reply, err)
	}
}

func TestServeStopsWhenContextEnds(t *testing.T) {
	addr, cancel, done := echoServer(t, nil, 0)
	c, err := Dial(context.Background(), addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cancel()
	select {
	case err := <-done:
		done <- err // for the cleanup
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel with a connection open")
	}
}

// The reader takes what senders really write: junk before a start block
// is skipped, the CR after the end block may be missing (and is never
// waited for), and a start block inside a frame is data the handler
// answers, not a reason to drop the connection.
func TestReaderTakesTheFramesSendersReallyWrite(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		frames  []string
		skipped int
	}{
		{"junk before a start block is skipped", "junk\x0bMSH|1\x1c\x0d", []string{"MSH|1"}, 4},
		{"an end block without CR ends the frame", "\x0bMSH|1\x1c\x0bMSH|2\x1c", []string{"MSH|1", "MSH|2"}, 0},
		{"a CR after an end block that came alone is not junk", "\x0bMSH|1\x1c\x0d\x0bMSH|2\x1c\x0d", []string{"MSH|1", "MSH|2"}, 0},
		{"a byte after the end block that is not CR is junk before the next frame", "\x0bMSH|1\x1cX\x0bMSH|2\x1c\x0d", []string{"MSH|1", "MSH|2"}, 1},
		{"a start block inside a frame is kept for the handler to answer", "\x0bMSH|1\x0bPID\x1c\x0d\x0bMSH|2\x1c\x0d", []string{"MSH|1\x0bPID", "MSH|2"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader([]byte(tt.in)), 0)
			for _, want := range tt.frames {
				m, err := r.ReadFrame()
				if err != nil || string(m) != want {
					t.Fatalf("frame %q, %v; want %q", m, err, want)
				}
			}
			if _, err := r.ReadFrame(); !errors.Is(err, io.EOF) {
				t.Fatalf("after the frames: %v, want EOF", err)
			}
			if r.Skipped != tt.skipped {
				t.Fatalf("skipped %d bytes, want %d", r.Skipped, tt.skipped)
			}
		})
	}
	r := NewReader(bytes.NewReader([]byte("\x0bMSH")), 0)
	if _, err := r.ReadFrame(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("want unexpected EOF, got %v", err)
	}
}

// A sender that writes the end block without CR and waits gets its answer:
// the server never waits for a CR that is not coming.
func TestServerAnswersAFrameWithoutTheFinalCR(t *testing.T) {
	addr, _, _ := echoServer(t, nil, 0)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("\x0bMSH|1\x1c")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
	got, err := NewReader(c, 0).ReadFrame()
	if err != nil || string(got) != "ACK:MSH|1" {
		t.Fatalf("reply %q, %v", got, err)
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte("\x0bMSH|^~\\&|A\x1c\x0d"))
	f.Add([]byte("junk\x0b\x1c\x0d"))
	f.Add([]byte("\x0b\x0b\x1c"))
	f.Add([]byte("\x0bMSH|1\x1c\x0bMSH|2\x1c"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in), 64)
		total := 0
		for range 100 {
			m, err := r.ReadFrame()
			if err != nil {
				return
			}
			total += len(m) + 2
			if len(m) > 64 || bytes.IndexByte(m, endBlock) >= 0 || total > len(in) {
				t.Fatalf("bad frame %q from %q", m, in)
			}
		}
	})
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// issue signs a certificate for cn with the CA (ca, caKey); client says
// whether it is a client or a server certificate.
func issue(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, serial int64, cn string, client bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn, Organization: []string{"Test"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, DNSNames: []string{"localhost"}}
	if client {
		tmpl.ExtKeyUsage, tmpl.DNSNames = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// newCA makes a certificate authority for one test.
func newCA(t *testing.T, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca, key
}

// Over mutual TLS the handler is told the verified client certificate, and
// a peer without one, or with one from another authority, is never
// answered.
func TestMutualTLSHandsTheVerifiedCertificateToTheHandler(t *testing.T) {
	ca, caKey := newCA(t, "Relais test CA")
	other, otherKey := newCA(t, "another CA")
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	srv := &Server{
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{issue(t, ca, caKey, 2, "relais", false)}, ClientCAs: pool,
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12},
		Handler: func(_ context.Context, p Peer, msg []byte) []byte {
			if p.Certificate == nil {
				return []byte("no certificate")
			}
			return []byte(p.Certificate.Subject.CommonName + "@" + p.Addr.Network())
		},
	}
	addr, _, _ := serveWith(t, srv)
	tests := []struct {
		name   string
		certs  []tls.Certificate
		answer string
	}{
		{"a client certificate of the configured authority reaches the handler", []tls.Certificate{issue(t, ca, caKey, 3, "HSTA", true)}, "HSTA@tcp"},
		{"a client without a certificate is not answered", nil, ""},
		{"a client certificate of another authority is not answered", []tls.Certificate{issue(t, other, otherKey, 4, "HSTA", true)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := Dial(ctx, addr, &tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: tt.certs})
			if err != nil {
				if tt.answer == "" {
					return // refused at the handshake (TLS 1.2)
				}
				t.Fatal(err)
			}
			defer c.Close()
			reply, err := c.Send(ctx, []byte("MSH|1"))
			if tt.answer == "" {
				if err == nil {
					t.Fatalf("answered %q", reply)
				}
				return
			}
			if err != nil || string(reply) != tt.answer {
				t.Fatalf("reply %q, %v; want %q", reply, err, tt.answer)
			}
		})
	}
}

// One connection past MaxConns is closed at once; once a connection ends,
// a new one is served again.
func TestConnectionsBeyondTheCapAreClosed(t *testing.T) {
	addr, _, _ := serveWith(t, &Server{MaxConns: 2, Handler: func(_ context.Context, _ Peer, msg []byte) []byte { return msg }})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var open []*Client
	for i := range 2 {
		c, err := Dial(ctx, addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// A reply proves the server counts this connection.
		if _, err := c.Send(ctx, []byte{'0' + byte(i)}); err != nil {
			t.Fatalf("connection %d under the cap: %v", i, err)
		}
		open = append(open, c)
	}
	extra, err := Dial(ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if reply, err := extra.Send(ctx, []byte("x")); err == nil {
		t.Fatalf("a third connection with a cap of two was answered %q", reply)
	}
	open[0].Close()
	poll.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		c, err := Dial(ctx, addr, nil)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Send(ctx, []byte("y"))
		return err
	})
}

// FuzzMLLPFrame: any message without an end block, framed with or without
// the final CR, is read back exactly, and the next frame after it too.
// Seeded with the public corpus (adapters/hl7/testdata/corpus).
func FuzzMLLPFrame(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join("..", "hl7", "testdata", "corpus", "*.hl7"))
	if len(names) == 0 {
		f.Fatal("no corpus to seed from")
	}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, true)
	}
	f.Add([]byte("MSH|\x0b"), false)
	f.Fuzz(func(t *testing.T, msg []byte, cr bool) {
		if bytes.IndexByte(msg, endBlock) >= 0 {
			return
		}
		var buf bytes.Buffer
		if err := WriteFrame(&buf, msg); err != nil {
			t.Fatal(err)
		}
		if !cr {
			buf.Truncate(buf.Len() - 1)
		}
		WriteFrame(&buf, []byte("MSH|next")) //nolint:errcheck
		r := NewReader(&buf, len(msg)+16)
		for _, want := range [][]byte{msg, []byte("MSH|next")} {
			got, err := r.ReadFrame()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("read %q, %v; want %q", got, err, want)
			}
		}
	})
}
