package httpapi

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/projections/caseload"
	"github.com/relais-health/relais/projections/clientfile"
	"github.com/relais-health/relais/projections/reports"
)

// fakeReports answers one high-utilizer row whose identifier a hospital
// sent as a formula.
type fakeReports struct{}

func (fakeReports) HighUtilizers(reports.Query) []reports.Row {
	return []reports.Row{{Rank: 1, PatientKey: "pk1", Visits: 9, Identifier: &events.Identifier{Authority: "HSTA", Value: `=HYPERLINK("http://evil.example","x")`}}}
}
func (fakeReports) Outcomes(reports.OutcomeQuery) reports.Outcomes { return reports.Outcomes{} }

// fakeLoads is an empty caseload read model.
type fakeLoads struct{}

func (fakeLoads) Caseload(string, time.Time) caseload.Caseload { return caseload.Caseload{} }
func (fakeLoads) All(time.Time) []caseload.Caseload            { return nil }
func (fakeLoads) Has(string) bool                              { return true }

func edgeServer(t *testing.T) *Server {
	t.Helper()
	s := newServer(nil)
	s.RegisterFiles(fakeFiles{file: clientfile.File{ClientID: "c1", GivenName: "Hélène"}}, fakeLoads{}, fakeReports{}, &fakeAccess{}, time.Now)
	s.HandlePublic("GET", "/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) }) //nolint:errcheck
	return s
}

// Every response, whatever answers it (a route, the authentication, the
// error table, the mux's fallback), tells browsers and caches not to keep
// it and not to guess its type: it may carry health data.
func TestEveryResponseIsNotStoredNorSniffed(t *testing.T) {
	srv := newTestServer(t, edgeServer(t))
	for _, tc := range []struct {
		name, method, path, token string
		status                    int
	}{
		{"a client file read", "GET", "/v1/clients/c1", "tok-auditor", http.StatusOK},
		{"a CSV report", "GET", "/v1/reports/high-utilizers?format=csv", "tok-admin", http.StatusOK},
		{"a request without a token", "GET", "/v1/clients/c1", "", http.StatusUnauthorized},
		{"a role the route refuses", "GET", "/v1/caseloads", "tok-pharmacy", http.StatusForbidden},
		{"an unknown client", "GET", "/v1/clients/c9", "tok-auditor", http.StatusNotFound},
		{"an unknown path", "GET", "/v1/nothing-here", "tok-admin", http.StatusNotFound},
		{"a wrong method", "DELETE", "/v1/clients/c1", "tok-admin", http.StatusMethodNotAllowed},
		{"the public health check", "GET", "/healthz", "", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, srv, tc.method, tc.path, tc.token, "")
			if a.status != tc.status {
				t.Fatalf("status %d %s, want %d", a.status, a.body, tc.status)
			}
			if got := a.header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", got)
			}
			if got := a.header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
		})
	}
}

// A request no route matches gets the API's JSON error body, like every
// other error (docs/API.md), not the mux's text/plain; a wrong method says
// which are allowed. (call fails the test when an error body is not
// {"error","status"} with the response's status.)
func TestUnroutedRequestsGetJSONErrors(t *testing.T) {
	srv := newTestServer(t, edgeServer(t))
	for _, tc := range []struct {
		name, method, path, token string
		status                    int
		says, allow               string
	}{
		{"an unknown path under /v1 is a JSON 404", "GET", "/v1/clients/c1/secrets", "tok-admin", http.StatusNotFound, "no endpoint GET /v1/clients/c1/secrets", ""},
		{"an unknown path without a token is a JSON 404", "GET", "/v1/nope", "", http.StatusNotFound, "no endpoint", ""},
		{"an unknown path outside /v1 is a JSON 404", "GET", "/favicon.ico", "", http.StatusNotFound, "no endpoint", ""},
		{"a wrong method on a known path is a JSON 405 naming the allowed ones", "POST", "/v1/clients/c1/timeline", "tok-admin", http.StatusMethodNotAllowed, "allowed: GET, HEAD", "GET, HEAD"},
		{"a wrong method on the health check is a JSON 405", "DELETE", "/healthz", "", http.StatusMethodNotAllowed, "method DELETE not allowed", "GET, HEAD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, srv, tc.method, tc.path, tc.token, "")
			if a.status != tc.status {
				t.Fatalf("status %d %s, want %d", a.status, a.body, tc.status)
			}
			if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			if !strings.Contains(a.err.Error, tc.says) {
				t.Errorf("error %q, want it to say %q", a.err.Error, tc.says)
			}
			if got := a.header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
		})
	}
}

// A path the mux cleans is still redirected (the route exists), not
// turned into a 404.
func TestUncleanPathIsStillRedirected(t *testing.T) {
	srv := newTestServer(t, edgeServer(t))
	req, _ := http.NewRequest("GET", srv.URL+"/v1/clients/../clients/c1", nil)
	req.URL.Opaque = "/v1/clients/../clients/c1" // keep the dots on the wire
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "/v1/clients/c1" {
		t.Fatalf("got %d Location %q, want 307 to /v1/clients/c1", resp.StatusCode, resp.Header.Get("Location"))
	}
}
