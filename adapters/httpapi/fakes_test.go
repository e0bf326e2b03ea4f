package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/projections/clientfile"
	"github.com/relais-health/relais/services/directory"
)

// tokens is the fake directory: token → principal.
type tokens map[string]Principal

func (t tokens) Authenticate(token string) (Principal, bool) {
	p, ok := t[token]
	return p, ok
}

// testTokens has one actor per role the tests use.
var testTokens = tokens{
	"tok-admin":    {ID: "admin-1", Role: events.RoleAdmin},
	"tok-cm":       {ID: "cm-1", Role: events.RoleCaseManager},
	"tok-auditor":  {ID: "aud-1", Role: events.RoleAuditor},
	"tok-pharmacy": {ID: "ph-1", Role: events.CategoryPharmacy, Partner: true},
}

// newTestServer serves s with httptest and stops it at cleanup.
func newTestServer(t *testing.T, s *Server) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

// newServer is a Server over testTokens that logs to log (or nowhere).
func newServer(log *zap.Logger) *Server { return NewServer(testTokens, log) }

// answer is one response, its body read and decoded when it is an error.
type answer struct {
	status int
	header http.Header
	body   string
	err    errorBody
}

// call makes one request with token ("" for none) and reads the answer.
func call(t *testing.T, srv *httptest.Server, method, path, token, body string) answer {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(b, &a.err); err != nil {
			t.Fatalf("error body %q is not {error, status}: %v", b, err)
		}
		if a.err.Status != resp.StatusCode {
			t.Fatalf("error body says status %d, response is %d", a.err.Status, resp.StatusCode)
		}
	}
	return a
}

// failing is a handler that returns err.
func failing(err error) HandlerFunc {
	return func(http.ResponseWriter, *http.Request, Principal) error { return err }
}

// fakeDirectory records the staff it is asked to register; its other
// methods are the nil embedded interface's (not called).
type fakeDirectory struct {
	Directory
	staff []events.StaffRegistered
	actor events.Actor
	err   error
}

func (d *fakeDirectory) RegisterStaff(_ context.Context, actor events.Actor, r events.StaffRegistered) (directory.Registered, error) {
	if d.err != nil {
		return directory.Registered{}, d.err
	}
	d.staff, d.actor = append(d.staff, r), actor
	return directory.Registered{ID: r.StaffID, Role: r.Role, Token: "new-token"}, nil
}

// fakeCases records the flags it is asked to set.
type fakeCases struct {
	CaseWork
	flags []events.ClientFlagged
	actor events.Actor
}

func (c *fakeCases) Flag(_ context.Context, actor events.Actor, r events.ClientFlagged) (ledger.Result, error) {
	c.flags, c.actor = append(c.flags, r), actor
	return ledger.Result{Stream: events.ClientStream(r.ClientID), Revision: 2, Position: 7, Events: []events.Event{{}}}, nil
}

// fakePharmacy is a Pharmacy whose methods are not called.
type fakePharmacy struct{ Pharmacy }

// fakeFiles answers one file, or err.
type fakeFiles struct {
	file clientfile.File
	err  error
}

func (f fakeFiles) FileFor(clientID string, _ clientfile.Viewer) (clientfile.File, error) {
	if f.err != nil {
		return clientfile.File{}, f.err
	}
	if clientID != f.file.ClientID {
		return clientfile.File{}, clientfile.ErrNotFound
	}
	return f.file, nil
}

// accessCall is one RecordAccess.
type accessCall struct {
	actor          events.Actor
	clientID, view string
}

// denialCall is one RecordDenial.
type denialCall struct {
	actor                  events.Actor
	clientID, view, reason string
}

// fakeAccess records the accesses it is asked to record, or fails with err;
// and the refusals, or fails with denyErr.
type fakeAccess struct {
	calls   []accessCall
	err     error
	denials []denialCall
	denyErr error
}

func (a *fakeAccess) RecordDenial(_ context.Context, actor events.Actor, clientID, view, reason string) (ledger.Result, error) {
	a.denials = append(a.denials, denialCall{actor, clientID, view, reason})
	if a.denyErr != nil {
		return ledger.Result{}, fmt.Errorf("record refused file access of %s: %w", clientID, a.denyErr)
	}
	return ledger.Result{Stream: events.AccessStream(clientID), Revision: uint64(len(a.denials))}, nil
}

func (a *fakeAccess) RecordAccess(_ context.Context, actor events.Actor, clientID, view string) (ledger.Result, error) {
	a.calls = append(a.calls, accessCall{actor, clientID, view})
	if a.err != nil {
		return ledger.Result{}, fmt.Errorf("record file access of %s: %w", clientID, a.err)
	}
	return ledger.Result{Stream: events.AccessStream(clientID), Revision: uint64(len(a.calls))}, nil
}

func (f fakeFiles) Clients() []string { return []string{f.file.ClientID} }

func (f fakeFiles) File(id string) (clientfile.File, bool) { return f.file, id == f.file.ClientID }
