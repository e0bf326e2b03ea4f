package httpapi

import (
	"fmt"
	"net/http"
)

// protect sets the headers every response carries: health data is never
// kept by a browser or a proxy cache (no-store), and a browser never
// guesses a content type other than the one declared (nosniff), so a JSON
// body or a CSV cell is never run as HTML or script.
func protect(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

// unrouted answers a request no route matches: the mux decides what it is
// (unknown path 404, known path with another method 405 with its Allow
// header, a path to clean a redirect) and the answer is the API's JSON
// error body, not the mux's text/plain.
func (s *Server) unrouted(w http.ResponseWriter, r *http.Request) {
	h, _ := s.mux.Handler(r)
	c := &capture{header: http.Header{}}
	h.ServeHTTP(c, r)
	switch c.status {
	case http.StatusNotFound:
		writeErrorCode(w, http.StatusNotFound, CodeNoEndpoint, fmt.Sprintf("no endpoint %s %s (see docs/API.md)", r.Method, shorten(r.URL.Path)))
	case http.StatusMethodNotAllowed:
		allow := c.header.Get("Allow")
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, shorten(r.URL.Path), allow))
	default:
		if loc := c.header.Get("Location"); loc != "" {
			w.Header().Set("Location", loc)
		}
		w.WriteHeader(c.status)
	}
}

// shorten bounds the path an error message repeats.
func shorten(path string) string {
	const max = 200
	if len(path) > max {
		return path[:max] + "..."
	}
	return path
}

// capture records what the mux's own fallback handler would answer; its
// text body is dropped.
type capture struct {
	header http.Header
	status int
}

func (c *capture) Header() http.Header { return c.header }

func (c *capture) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}

func (c *capture) Write(b []byte) (int, error) {
	c.WriteHeader(http.StatusOK)
	return len(b), nil
}
