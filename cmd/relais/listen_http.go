package main

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/relais-health/relais/app"
)

// listenHTTP opens the --http listener.
func listenHTTP(f *serveFlags) (net.Listener, error) {
	ln, err := net.Listen("tcp", f.http)
	if err != nil {
		return nil, fmt.Errorf("--http %s: %w", f.http, err)
	}
	return ln, nil
}

// newHTTPServer serves the API, /healthz and /metrics.
func newHTTPServer(a *app.App) *http.Server {
	return &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
}
