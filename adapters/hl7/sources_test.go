package hl7

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
)

func peerAt(t *testing.T, hostport string, cert *x509.Certificate) Peer {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", hostport)
	if err != nil {
		t.Fatal(err)
	}
	return Peer{Addr: a, Certificate: cert}
}

// certFor is a client certificate issued to cn with DNS names dns.
func certFor(t *testing.T, cn string, dns ...string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn, Organization: []string{"Hopital"}}, DNSNames: dns,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSourcesAcceptAFacilityOnlyFromItsConnection(t *testing.T) {
	nets, err := ParseSources("HSTA=10.0.0.0/24,10.0.9.7,HLAU=2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	byNet := Sources{Networks: nets}
	byCert := Sources{Certificates: true}
	both := Sources{Networks: nets, Certificates: true}
	tests := []struct {
		name     string
		s        Sources
		facility string
		peer     Peer
		ok       bool
	}{
		{"a facility from its network is accepted", byNet, "HSTA", peerAt(t, "10.0.0.42:5000", nil), true},
		{"a facility from its single host is accepted", byNet, "HSTA", peerAt(t, "10.0.9.7:5000", nil), true},
		{"an IPv4-mapped address is read as IPv4", byNet, "HSTA", peerAt(t, "[::ffff:10.0.0.42]:5000", nil), true},
		{"a facility from another network is refused", byNet, "HSTA", peerAt(t, "10.0.1.42:5000", nil), false},
		{"a facility from the other facility's network is refused", byNet, "HLAU", peerAt(t, "10.0.0.42:5000", nil), false},
		{"a listed facility from loopback is refused (its source is its network)", byNet, "HSTA", peerAt(t, "127.0.0.1:5000", nil), false},
		{"an IPv6 network is honoured", byNet, "HLAU", peerAt(t, "[2001:db8::9]:5000", nil), true},
		{"a facility without a source is accepted from loopback", Sources{}, "HSTA", peerAt(t, "127.0.0.1:5000", nil), true},
		{"a facility without a source is accepted from IPv6 loopback", Sources{}, "HSTA", peerAt(t, "[::1]:5000", nil), true},
		{"a facility without a source is refused from elsewhere", Sources{}, "HSTA", peerAt(t, "10.0.0.42:5000", nil), false},
		{"a certificate whose CN names the facility is accepted", byCert, "HSTA", peerAt(t, "10.9.9.9:5000", certFor(t, "HSTA")), true},
		{"the CN is compared without case", byCert, "HSTA", peerAt(t, "10.9.9.9:5000", certFor(t, "hsta")), true},
		{"a certificate whose DNS SAN names the facility is accepted", byCert, "HSTA", peerAt(t, "10.9.9.9:5000", certFor(t, "interface-engine", "hsta")), true},
		{"a certificate naming another facility is refused", byCert, "HSTA", peerAt(t, "10.9.9.9:5000", certFor(t, "HLAU")), false},
		{"no certificate is refused when certificates are required", byCert, "HSTA", peerAt(t, "127.0.0.1:5000", nil), false},
		{"with both, the right certificate from the wrong network is refused", both, "HSTA", peerAt(t, "10.9.9.9:5000", certFor(t, "HSTA")), false},
		{"with both, the right certificate from the right network is accepted", both, "HSTA", peerAt(t, "10.0.0.1:5000", certFor(t, "HSTA")), true},
		{"a peer without an address is refused", byNet, "HSTA", Peer{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Allow(tt.facility, tt.peer)
			if (err == nil) != tt.ok {
				t.Fatalf("Allow = %v, want accepted %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrSource) {
				t.Fatalf("the refusal does not wrap ErrSource: %v", err)
			}
		})
	}
}

func TestParseSourcesNamesTheBadEntry(t *testing.T) {
	got, err := ParseSources(" HSTA=10.0.0.7/24 , HLAU=10.1.2.3/32,10.1.2.4 ")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]netip.Prefix{"HSTA": {netip.MustParsePrefix("10.0.0.0/24")},
		"HLAU": {netip.MustParsePrefix("10.1.2.3/32"), netip.MustParsePrefix("10.1.2.4/32")}}
	if len(got) != len(want) || len(got["HLAU"]) != 2 || got["HSTA"][0] != want["HSTA"][0] || got["HLAU"][1] != want["HLAU"][1] {
		t.Fatalf("ParseSources = %v, want %v", got, want)
	}
	for _, bad := range []string{"10.0.0.0/24", "HSTA=10.0.0.0/33", "=10.0.0.0/24", "HSTA=hospital.example"} {
		t.Run("the entry "+bad+" is refused", func(t *testing.T) {
			_, err := ParseSources(bad)
			if !errors.Is(err, ErrSourceConfig) || !strings.Contains(err.Error(), bad) {
				t.Fatalf("ParseSources(%q) = %v, want ErrSourceConfig naming the entry", bad, err)
			}
		})
	}
}

func TestSourcesCheckRefusesAnOpenListenerWithoutASourceForEveryFacility(t *testing.T) {
	nets, _ := ParseSources("HSTA=10.0.0.0/24")
	all, _ := ParseSources("HSTA=10.0.0.0/24,HLAU=10.1.2.3")
	stray, _ := ParseSources("EVIL=10.0.0.0/8")
	tests := []struct {
		name     string
		s        Sources
		loopback bool
		missing  string
	}{
		{"loopback without sources is allowed", Sources{}, true, ""},
		{"off loopback without sources is refused", Sources{}, false, "HSTA, HLAU"},
		{"off loopback with a source for one facility only is refused", Sources{Networks: nets}, false, "HLAU"},
		{"off loopback with a source for every facility is allowed", Sources{Networks: all}, false, ""},
		{"off loopback with client certificates is allowed", Sources{Certificates: true}, false, ""},
		{"a source for a facility that is not accepted is refused", Sources{Networks: stray}, true, "EVIL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Check([]string{"HSTA", "HLAU"}, tt.loopback)
			if tt.missing == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrSourceConfig) || !strings.Contains(err.Error(), tt.missing) {
				t.Fatalf("Check = %v, want ErrSourceConfig naming %s", err, tt.missing)
			}
		})
	}
}

// A sender is its connection, not its MSH-4: a message from a connection
// that is not the facility's source is refused (AR) and nothing is
// recorded; one from its source is recorded with the connection.
func TestHandleRefusesAFacilityFromAnotherSourceAndRecordsTheConnection(t *testing.T) {
	h, l := intakeOn(t)
	nets, _ := ParseSources("HSTA=10.0.0.0/24")
	h.Sources = Sources{Networks: nets}
	ctx := context.Background()
	spoof := peerAt(t, "10.6.6.6:4444", nil)
	if code := ackOf(t, h.Handle(ctx, spoof, sample(t, "a04.hl7"))); code != AR {
		t.Fatalf("a spoofed HSTA from 10.6.6.6 got %s, want AR", code)
	}
	stream := events.VisitStream("HSTA", "V100")
	if evs, _ := l.Read(ctx, stream, 1); len(evs) != 0 {
		t.Fatalf("the spoofed message was recorded: %d events", len(evs))
	}
	real := peerAt(t, "10.0.0.5:4444", nil)
	if code := ackOf(t, h.Handle(ctx, real, sample(t, "a04.hl7"))); code != AA {
		t.Fatalf("HSTA from its network got %s, want AA", code)
	}
	evs, err := l.Read(ctx, stream, 1)
	if err != nil || len(evs) != 1 {
		t.Fatalf("read %s: %d events, %v", stream, len(evs), err)
	}
	if src := evs[0].Source; src.Remote != "10.0.0.5:4444" || src.System != "HSTA" || src.MessageID != "1001" {
		t.Fatalf("recorded source %+v, want HSTA 1001 from 10.0.0.5:4444", src)
	}
}

// An A11, A13 or A08 about a visit must name the visit's patient: with
// another patient's PID-3 it gets AE naming the mismatch and the visit is
// untouched.
func TestHandleRefusesACancelForAnotherPatient(t *testing.T) {
	h, l := intakeOn(t)
	ctx := context.Background()
	if code := ackOf(t, h.Handle(ctx, loopback, sample(t, "a04.hl7"))); code != AA {
		t.Fatalf("A04 got %s", code)
	}
	for _, name := range []string{"a11.hl7", "a13.hl7", "a08.hl7"} {
		t.Run(name+" with an unrelated PID-3 is refused", func(t *testing.T) {
			raw := strings.Replace(string(sample(t, name)), "BELH12345678^^^RAMQ^JHN", "OTHR99999999^^^RAMQ^JHN", 1)
			reply := h.Handle(ctx, loopback, []byte(raw))
			ack, err := Parse(reply)
			if err != nil {
				t.Fatal(err)
			}
			if code := ack.Get("MSA", 1, 0); code != AE || !strings.Contains(ack.Get("MSA", 3, 0), "V100") {
				t.Fatalf("MSA %s %q, want AE naming the visit", code, ack.Get("MSA", 3, 0))
			}
		})
	}
	evs, _ := l.Read(ctx, events.VisitStream("HSTA", "V100"), 1)
	if len(evs) != 1 {
		t.Fatalf("the visit holds %d events after refused messages, want 1", len(evs))
	}
	if code := ackOf(t, h.Handle(ctx, loopback, sample(t, "a11.hl7"))); code != AA {
		t.Fatalf("the visit's own patient's A11 got %s, want AA", code)
	}
}

func ackOf(t *testing.T, reply []byte) string {
	t.Helper()
	ack, err := Parse(reply)
	if err != nil {
		t.Fatalf("the ACK does not parse: %v", err)
	}
	return ack.Get("MSA", 1, 0)
}
