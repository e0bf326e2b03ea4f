package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"go.uber.org/zap"

	"github.com/relais-health/relais/adapters/mllp"
	"github.com/relais-health/relais/app"
)

// newMLLP listens for HL7 feeds; a TLS certificate turns on TLS.
func newMLLP(f *serveFlags, a *app.App, log *zap.Logger) (*mllp.Server, net.Listener, error) {
	srv := &mllp.Server{Handler: a.HL7, Logger: log.Named("mllp")}
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
	ln, err := net.Listen("tcp", f.mllp)
	if err != nil {
		return nil, nil, fmt.Errorf("--mllp %s: %w", f.mllp, err)
	}
	return srv, ln, nil
}
