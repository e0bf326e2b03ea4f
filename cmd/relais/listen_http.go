package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/net/netutil"
)

// streamHeartbeat is how often an SSE stream writes at the least (delivery/sse's
// default heartbeat; serve leaves app.Config.Heartbeat unset). A stream's
// write deadline is renewed at each of its flushes, so --http-write-timeout
// must be longer.
const streamHeartbeat = 15 * time.Second

// httpEdges are the limits of the --http listener: how long a client may
// take over each part of a request, and how many connections are served at
// once. They bound what a slow or greedy client (slow-loris, a connection
// flood) can hold.
type httpEdges struct {
	readHeader time.Duration
	read       time.Duration
	write      time.Duration
	idle       time.Duration
	maxConns   int
}

// addHTTPFlags declares the --http-* limit flags of serve.
func addHTTPFlags(cmd *cobra.Command, e *httpEdges) {
	fl := cmd.Flags()
	fl.DurationVar(&e.readHeader, "http-read-header-timeout", envDuration("RELAIS_HTTP_READ_HEADER_TIMEOUT", 10*time.Second),
		"time a client has to send a request's headers; a slower one is disconnected (env RELAIS_HTTP_READ_HEADER_TIMEOUT)")
	fl.DurationVar(&e.read, "http-read-timeout", envDuration("RELAIS_HTTP_READ_TIMEOUT", 30*time.Second),
		"time a client has to send a whole request, body included (env RELAIS_HTTP_READ_TIMEOUT)")
	fl.DurationVar(&e.write, "http-write-timeout", envDuration("RELAIS_HTTP_WRITE_TIMEOUT", time.Minute),
		"time to write a response; an alert stream gets it again at each heartbeat, so must be over 15s (env RELAIS_HTTP_WRITE_TIMEOUT)")
	fl.DurationVar(&e.idle, "http-idle-timeout", envDuration("RELAIS_HTTP_IDLE_TIMEOUT", 2*time.Minute),
		"how long an idle keep-alive connection is kept open (env RELAIS_HTTP_IDLE_TIMEOUT)")
	fl.IntVar(&e.maxConns, "http-max-conns", envInt("RELAIS_HTTP_MAX_CONNS", 1024),
		"HTTP connections served at once (alert streams hold one each); more wait to be accepted (env RELAIS_HTTP_MAX_CONNS)")
}

// validate names the first --http-* flag whose value cannot work.
func (e httpEdges) validate() error {
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"--http-read-header-timeout", e.readHeader},
		{"--http-read-timeout", e.read},
		{"--http-write-timeout", e.write},
		{"--http-idle-timeout", e.idle},
	} {
		if d.v <= 0 {
			return fmt.Errorf("%s: must be positive, not %v", d.flag, d.v)
		}
	}
	switch {
	case e.readHeader > e.read:
		return fmt.Errorf("--http-read-header-timeout: %v is longer than --http-read-timeout %v", e.readHeader, e.read)
	case e.write <= streamHeartbeat:
		return fmt.Errorf("--http-write-timeout: %v would cut alert streams between heartbeats (every %v); give more", e.write, streamHeartbeat)
	case e.maxConns < 1:
		return fmt.Errorf("--http-max-conns: must be at least 1, not %d", e.maxConns)
	}
	return nil
}

// listenHTTP opens the --http listener, serving at most --http-max-conns
// connections at once (runServe has validated the edges).
func listenHTTP(f *serveFlags) (net.Listener, error) {
	ln, err := net.Listen("tcp", f.http)
	if err != nil {
		return nil, fmt.Errorf("--http %s: %w", f.http, err)
	}
	return netutil.LimitListener(ln, f.httpEdges.maxConns), nil
}

// newHTTPServer serves h (the API, /healthz and /metrics) within the
// edges' timeouts. The read timeouts end when the request has been read,
// so they never touch a long response; the write timeout runs from the
// request's start to the end of its response, which would cut the alert
// SSE stream: a response that flushes (a stream) gets a new write deadline
// at each flush instead, so it lives as long as it keeps writing to a
// client that keeps reading, and no longer.
func newHTTPServer(h http.Handler, e httpEdges) *http.Server {
	return &http.Server{
		Handler:           keepStreams(h, e.write),
		ReadHeaderTimeout: e.readHeader,
		ReadTimeout:       e.read,
		WriteTimeout:      e.write,
		IdleTimeout:       e.idle,
		MaxHeaderBytes:    64 << 10,
	}
}

// keepStreams wraps every response of h in a streamWriter.
func keepStreams(h http.Handler, write time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&streamWriter{ResponseWriter: w, rc: http.NewResponseController(w), write: write}, r)
	})
}

// streamWriter renews its response's write deadline at each flush.
type streamWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	write time.Duration
}

// Flush implements http.Flusher (what delivery/sse asks for).
func (s *streamWriter) Flush() { s.FlushError() } //nolint:errcheck // a failed write ends the stream by itself

// FlushError moves the write deadline write ahead, then flushes.
func (s *streamWriter) FlushError() error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.write)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return s.rc.Flush()
}

// Unwrap lets http.ResponseController reach the server's writer.
func (s *streamWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
