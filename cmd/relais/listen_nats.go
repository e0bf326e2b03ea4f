package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"go.uber.org/zap"
)

// natsTLS checks where the embedded NATS server's client listener binds
// (--nats-listen) and loads its TLS certificate: an address other than
// loopback carries health data off the machine, so it needs TLS
// (--nats-tls-cert, --nats-tls-key) or an explicit --nats-insecure, which
// is logged as a warning. Every client authenticates in any case.
func natsTLS(f *serveFlags, log *zap.Logger) (*tls.Config, error) {
	if (f.natsTLSCert == "") != (f.natsTLSKey == "") {
		return nil, &exitErr{exitUsage, errors.New("--nats-tls-cert and --nats-tls-key go together")}
	}
	host, _, err := net.SplitHostPort(f.natsListen)
	if err != nil {
		return nil, &exitErr{exitUsage, fmt.Errorf("--nats-listen %q: %w", f.natsListen, err)}
	}
	var cfg *tls.Config
	if f.natsTLSCert != "" {
		cert, err := tls.LoadX509KeyPair(f.natsTLSCert, f.natsTLSKey)
		if err != nil {
			return nil, fmt.Errorf("--nats-tls-cert: %w", err)
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if cfg == nil && !isLoopback(host) {
		if !f.natsInsecure {
			return nil, &exitErr{exitUsage, fmt.Errorf("--nats-listen %s: not a loopback address, and no TLS: give --nats-tls-cert and --nats-tls-key (or --nats-insecure to send the ledger in clear text)", f.natsListen)}
		}
		log.Warn("--nats-insecure: the embedded NATS listener takes clear-text connections from the network", zap.String("nats_listen", f.natsListen))
	}
	return cfg, nil
}

// isLoopback says whether host names only this machine: "localhost" or a
// loopback IP. An empty host binds every address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
