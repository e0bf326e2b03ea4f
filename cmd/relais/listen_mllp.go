package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"

	"go.uber.org/zap"

	"github.com/relais-health/relais/adapters/hl7"
	"github.com/relais-health/relais/adapters/mllp"
	"github.com/relais-health/relais/app"
)

// readFacilities reads --facilities FILE, or builds the facilities of
// --hl7-facilities (the short form: every setting at its default). The
// error names the file and line.
func readFacilities(f *serveFlags) (*hl7.Facilities, error) {
	if f.facilitiesFile == "" {
		ids := splitList(f.facilities)
		if len(ids) == 0 {
			return nil, &exitErr{exitUsage, app.ErrNoFacilities}
		}
		return hl7.NewFacilities(ids...), nil
	}
	file, err := os.Open(f.facilitiesFile)
	if err != nil {
		return nil, &exitErr{exitUsage, fmt.Errorf("--facilities: %w", err)}
	}
	defer file.Close()
	fs, err := hl7.ParseFacilities(file, f.facilitiesFile)
	if err != nil {
		return nil, &exitErr{exitUsage, fmt.Errorf("--facilities: %w", err)}
	}
	return fs, nil
}

// mllpSources reads which connections each facility may send from
// (--hl7-sources and the facilities file's sources, --mllp-tls-client-ca
// and the file's certificate names) and refuses a listener off loopback
// that would take some facility's word for who it is.
func mllpSources(f *serveFlags, fs *hl7.Facilities) (hl7.Sources, error) {
	facilities := fs.IDs()
	nets, err := hl7.ParseSources(f.sources)
	if err != nil {
		return hl7.Sources{}, &exitErr{exitUsage, fmt.Errorf("--hl7-sources: %w", err)}
	}
	for id, p := range fs.Networks() {
		nets[id] = append(nets[id], p...)
	}
	if f.clientCA != "" && f.tlsCert == "" {
		return hl7.Sources{}, &exitErr{exitUsage, errors.New("--mllp-tls-client-ca needs --mllp-tls-cert and --mllp-tls-key (mutual TLS)")}
	}
	if f.mllpConns <= 0 {
		return hl7.Sources{}, &exitErr{exitUsage, fmt.Errorf("--mllp-max-conns: %d, want at least 1", f.mllpConns)}
	}
	s := hl7.Sources{Networks: nets, Certificates: f.clientCA != "", Names: fs.Names()}
	if err := s.Check(facilities, loopbackAddr(f.mllp)); err != nil {
		return hl7.Sources{}, &exitErr{exitUsage, fmt.Errorf("--mllp %s: %w (set --hl7-sources or --mllp-tls-client-ca)", f.mllp, err)}
	}
	return s, nil
}

// loopbackAddr reports whether a listen address is reachable from this
// machine only: localhost or a loopback IP. An empty host (every
// interface) or any other name is not.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newMLLP listens for HL7 feeds; a TLS certificate turns on TLS, a client
// CA mutual TLS.
func newMLLP(f *serveFlags, h mllp.Handler, log *zap.Logger) (*mllp.Server, net.Listener, error) {
	srv := &mllp.Server{Handler: h, Logger: log.Named("mllp"), MaxConns: f.mllpConns}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return nil, nil, &exitErr{exitUsage, errors.New("--mllp-tls-cert and --mllp-tls-key go together")}
	}
	if f.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return nil, nil, fmt.Errorf("--mllp-tls-cert: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if f.clientCA != "" {
		pem, err := os.ReadFile(f.clientCA)
		if err != nil {
			return nil, nil, fmt.Errorf("--mllp-tls-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, &exitErr{exitUsage, fmt.Errorf("--mllp-tls-client-ca %s: no PEM certificate in it", f.clientCA)}
		}
		srv.TLSConfig.ClientCAs, srv.TLSConfig.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	ln, err := net.Listen("tcp", f.mllp)
	if err != nil {
		return nil, nil, fmt.Errorf("--mllp %s: %w", f.mllp, err)
	}
	return srv, ln, nil
}
