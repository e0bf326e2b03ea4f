package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relais-health/relais/internal/poll"
)

// defaultEdges are serve's defaults.
var defaultEdges = httpEdges{readHeader: 10 * time.Second, read: 30 * time.Second, write: time.Minute, idle: 2 * time.Minute, maxConns: 1024}

func TestHTTPEdgesValidate(t *testing.T) {
	with := func(change func(*httpEdges)) httpEdges {
		e := defaultEdges
		change(&e)
		return e
	}
	for _, tc := range []struct {
		name  string
		edges httpEdges
		flag  string // "" when valid
	}{
		{"the defaults are valid", defaultEdges, ""},
		{"a zero header timeout is refused", with(func(e *httpEdges) { e.readHeader = 0 }), "--http-read-header-timeout"},
		{"a negative read timeout is refused", with(func(e *httpEdges) { e.read = -time.Second }), "--http-read-timeout"},
		{"a zero idle timeout is refused", with(func(e *httpEdges) { e.idle = 0 }), "--http-idle-timeout"},
		{"a header timeout longer than the read timeout is refused", with(func(e *httpEdges) { e.readHeader = time.Minute }), "--http-read-header-timeout"},
		{"a write timeout that would cut alert streams between heartbeats is refused", with(func(e *httpEdges) { e.write = 10 * time.Second }), "--http-write-timeout"},
		{"no connection at all is refused", with(func(e *httpEdges) { e.maxConns = 0 }), "--http-max-conns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.edges.validate()
			switch {
			case tc.flag == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.flag != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.flag+":")):
				t.Fatalf("got %v, want an error naming %s", err, tc.flag)
			}
		})
	}
}

// serveEdges serves h on a loopback port within e, as serve does.
func serveEdges(t *testing.T, e httpEdges, h http.Handler) string {
	t.Helper()
	ln, err := listenHTTP(&serveFlags{http: "127.0.0.1:0", httpEdges: e})
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(h, e)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln) //nolint:errcheck // ErrServerClosed at cleanup
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// trickle writes b one byte every gap until it is written or the
// connection fails; it reports whether all of b went out.
func trickle(c net.Conn, b string, gap time.Duration) <-chan bool {
	out := make(chan bool, 1)
	go func() {
		for i := 0; i < len(b); i++ {
			if _, err := c.Write([]byte{b[i]}); err != nil {
				out <- false
				return
			}
			time.Sleep(gap)
		}
		out <- true
	}()
	return out
}

// A slow-loris client that sends its headers a byte at a time is
// disconnected at the header timeout, while it is still sending; so is
// one that sends its body a byte at a time, at the read timeout.
func TestSlowClientsAreCutOff(t *testing.T) {
	edges := httpEdges{readHeader: 300 * time.Millisecond, read: 600 * time.Millisecond, write: 20 * time.Second, idle: time.Minute, maxConns: 8}
	bodyErr := make(chan error, 1)
	addr := serveEdges(t, edges, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.Copy(io.Discard, r.Body)
		bodyErr <- err
	}))
	t.Run("headers sent slowly", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		sent := trickle(c, "GET /x HTTP/1.1\r\nHost: relais\r\nX-Slow: "+strings.Repeat("a", 200)+"\r\n\r\n", 20*time.Millisecond)
		// The server closes the connection, with nothing or a bare 400
		// (net/http answers 400 when the deadline falls inside a line).
		c.SetReadDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
		start := time.Now()
		got, err := io.ReadAll(c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("still connected after %v: the header timeout did not cut the client off", time.Since(start))
		}
		if len(got) > 0 && !strings.HasPrefix(string(got), "HTTP/1.1 400 ") {
			t.Fatalf("the server answered a request whose headers were still coming: %q", got)
		}
		select {
		case ok := <-sent:
			if ok {
				t.Fatal("the whole request went out before the server cut the client off")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the client can still write 5s after the server closed the connection")
		}
	})
	t.Run("body sent slowly", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := fmt.Fprint(c, "POST /x HTTP/1.1\r\nHost: relais\r\nContent-Length: 300\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		trickle(c, strings.Repeat("b", 300), 20*time.Millisecond)
		select {
		case err := <-bodyErr:
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("reading the slow body ended with %v, want a timeout", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the handler is still reading a body sent a byte every 20ms after 5s: no read timeout")
		}
	})
}

// An alert stream flushes: it outlives the read and the write timeouts as
// long as it keeps writing, and its request is not cancelled; a response
// that does not flush is cut at the write timeout.
func TestStreamsOutliveTheTimeouts(t *testing.T) {
	edges := httpEdges{readHeader: 100 * time.Millisecond, read: 200 * time.Millisecond, write: 300 * time.Millisecond, idle: time.Second, maxConns: 8}
	const ticks = 20 // 20 × 50ms: over three write timeouts
	addr := serveEdges(t, edges, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(2 * edges.write) // a handler slower than the write timeout
			fmt.Fprintln(w, "late")
			return
		}
		fl := w.(http.Flusher)
		for i := range ticks {
			if r.Context().Err() != nil {
				return
			}
			fmt.Fprintf(w, "tick %d\n", i)
			fl.Flush()
			time.Sleep(50 * time.Millisecond)
		}
	}))
	resp, err := http.Get("http://" + addr + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n := 0
	for sc := bufio.NewScanner(resp.Body); sc.Scan(); n++ {
	}
	if n != ticks {
		t.Fatalf("the stream gave %d ticks before it was cut, want all %d", n, ticks)
	}

	resp, err = http.Get("http://" + addr + "/slow")
	if err == nil {
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if rerr == nil {
			t.Fatalf("a response written after the write timeout arrived: %d %q", resp.StatusCode, b)
		}
	}
}

// No more than --http-max-conns connections are served at once; one more
// waits to be accepted until one of them ends.
func TestConnectionsAreCapped(t *testing.T) {
	edges := defaultEdges
	edges.maxConns = 2
	var inflight atomic.Int32
	release := make(chan struct{})
	addr := serveEdges(t, edges, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inflight.Add(1)
		<-release
		fmt.Fprintln(w, "ok")
	}))
	get := func() <-chan error {
		out := make(chan error, 1)
		go func() {
			c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := c.Get("http://" + addr + "/")
			if err == nil {
				resp.Body.Close()
			}
			out <- err
		}()
		return out
	}
	first, second := get(), get()
	poll.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := inflight.Load(); n != 2 {
			return fmt.Errorf("%d requests in flight", n)
		}
		return nil
	})
	third := get()
	// The third is connected (the kernel accepted it) but not served: it
	// would be in flight within this window if the cap were not there.
	select {
	case err := <-third:
		t.Fatalf("a third connection was served while two held the cap (%v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	if n := inflight.Load(); n != 2 {
		t.Fatalf("%d requests in flight, the cap is 2", n)
	}
	close(release)
	for i, c := range []<-chan error{first, second, third} {
		select {
		case err := <-c:
			if err != nil {
				t.Fatalf("request %d: %v", i+1, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("request %d not answered after the others ended", i+1)
		}
	}
}
