package hl7

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// Peer is the connection a message came on, as the MLLP server saw it.
type Peer struct {
	// Addr is the peer's address.
	Addr net.Addr
	// Certificate is the peer's verified client certificate (mutual TLS),
	// nil without one.
	Certificate *x509.Certificate
}

// IP is the peer's IP address (IPv4-mapped IPv6 addresses unmapped); not
// valid when the address is not an IP one.
func (p Peer) IP() netip.Addr {
	if p.Addr == nil {
		return netip.Addr{}
	}
	if t, ok := p.Addr.(*net.TCPAddr); ok {
		a, _ := netip.AddrFromSlice(t.IP)
		return a.Unmap()
	}
	ap, err := netip.ParseAddrPort(p.Addr.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// Remote is the peer's address as a string (empty when unknown).
func (p Peer) Remote() string {
	if p.Addr == nil {
		return ""
	}
	return p.Addr.String()
}

// Subject is the client certificate's subject, empty without one.
func (p Peer) Subject() string {
	if p.Certificate == nil {
		return ""
	}
	return p.Certificate.Subject.String()
}

// names is what the certificate is issued to: its common name and DNS
// subject alternative names.
func (p Peer) names() []string {
	if p.Certificate == nil {
		return nil
	}
	return append([]string{p.Certificate.Subject.CommonName}, p.Certificate.DNSNames...)
}

// Sources binds each sending facility to the connections it may send from:
// MSH-4 is what the sender says it is, the connection is who it is.
//
// A facility's message is accepted when every configured check holds:
// with Certificates, the connection's client certificate names the
// facility (its CN or a DNS SAN, in any case); with Networks for the
// facility, the peer's address is in one of them. A facility with neither
// is accepted from a loopback address only (an interface engine on the
// same machine, or a test), which is why a listener that is not on
// loopback needs Check to pass: every facility then has a source.
type Sources struct {
	// Networks lists, per facility (MSH-4.1 exactly), the networks its
	// messages may come from.
	Networks map[string][]netip.Prefix
	// Certificates is set when the listener requires a client certificate
	// (mutual TLS): a facility's messages must come on a connection whose
	// certificate names it, by its id or one of its Names.
	Certificates bool
	// Names lists, per facility, the certificate names (CN or DNS SAN)
	// that speak for it besides its id (a facility id with spaces is
	// rarely a certificate name).
	Names map[string][]string
}

// Allow returns nil when facility may send on p, or an error wrapping
// ErrSource that says why not.
func (s Sources) Allow(facility string, p Peer) error {
	accepted := append([]string{facility}, s.Names[facility]...)
	names := func(n string) bool {
		return slices.ContainsFunc(accepted, func(a string) bool { return strings.EqualFold(n, a) })
	}
	if s.Certificates && !slices.ContainsFunc(p.names(), names) {
		if p.Certificate == nil {
			return fmt.Errorf("%w: MSH-4 %q needs a client certificate naming it", ErrSource, facility)
		}
		return fmt.Errorf("%w: MSH-4 %q is not named by the client certificate (%s)", ErrSource, facility, p.Subject())
	}
	ip := p.IP()
	nets, ok := s.Networks[facility]
	switch {
	case ok && len(nets) > 0:
		if !ip.IsValid() || !slices.ContainsFunc(nets, func(n netip.Prefix) bool { return n.Contains(ip) }) {
			return fmt.Errorf("%w: MSH-4 %q is not accepted from %s", ErrSource, facility, p.Remote())
		}
	case !s.Certificates && !ip.IsLoopback():
		return fmt.Errorf("%w: MSH-4 %q has no configured source and %s is not loopback", ErrSource, facility, p.Remote())
	}
	return nil
}

// Check verifies the configuration against the accepted facilities: every
// facility with networks is accepted, and, when the listener is reachable
// from other machines (not loopback), every facility has a source (networks
// or client certificates). The error names the facilities at fault.
func (s Sources) Check(facilities []string, loopback bool) error {
	for f := range s.Networks {
		if !slices.Contains(facilities, f) {
			return fmt.Errorf("%w: facility %q has a source but is not an accepted sending facility", ErrSourceConfig, f)
		}
	}
	if loopback || s.Certificates {
		return nil
	}
	var missing []string
	for _, f := range facilities {
		if len(s.Networks[f]) == 0 {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: a listener that is not on loopback needs a source for every facility; none for %s",
			ErrSourceConfig, strings.Join(missing, ", "))
	}
	return nil
}

// ParseSources reads a source list: comma-separated FACILITY=CIDR entries
// (HSTA=10.0.0.0/24,HLAU=10.1.2.3/32); a CIDR without a facility adds to
// the facility before it (HSTA=10.0.0.0/24,10.0.9.0/24), and a bare address
// is that one host. An empty list gives no networks.
func ParseSources(spec string) (map[string][]netip.Prefix, error) {
	out := map[string][]netip.Prefix{}
	facility := ""
	for _, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		cidr := entry
		if f, c, ok := strings.Cut(entry, "="); ok {
			facility, cidr = strings.TrimSpace(f), strings.TrimSpace(c)
			if facility == "" {
				return nil, fmt.Errorf("%w: %q: facility missing before '='", ErrSourceConfig, entry)
			}
		} else if facility == "" {
			return nil, fmt.Errorf("%w: %q: FACILITY=CIDR expected", ErrSourceConfig, entry)
		}
		p, err := parsePrefix(cidr)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrSourceConfig, entry, err)
		}
		out[facility] = append(out[facility], p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
