package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/projections/clientfile"
)

// Every answered read of a client file was recorded first, by the reader
// and the view; a read that cannot be recorded is not answered; a read
// refused by the file is recorded as a refusal with its reason, and is
// still refused when the refusal cannot be recorded.
func TestClientFileReadsAreRecordedFirst(t *testing.T) {
	file := clientfile.File{ClientID: "c1", GivenName: "Hélène", FamilyName: "Bélanger"}
	auditor := events.Actor{ID: "aud-1", Role: events.RoleAuditor}
	noConsent := &clientfile.ConsentError{ClientID: "c1", Category: events.CategoryDoctor, PartnerID: "aud-1"}
	for _, tc := range []struct {
		name      string
		files     fakeFiles
		accessErr error
		denyErr   error
		path      string
		status    int
		recorded  []accessCall
		denied    []denialCall
	}{
		{"a file read is recorded, then answered", fakeFiles{file: file}, nil, nil, "/v1/clients/c1", http.StatusOK,
			[]accessCall{{auditor, "c1", "file"}}, nil},
		{"a timeline read is recorded as a timeline", fakeFiles{file: file}, nil, nil, "/v1/clients/c1/timeline", http.StatusOK,
			[]accessCall{{auditor, "c1", "timeline"}}, nil},
		{"a read the ledger cannot record is not answered", fakeFiles{file: file}, ledger.ErrUnavailable, nil, "/v1/clients/c1", http.StatusServiceUnavailable,
			[]accessCall{{auditor, "c1", "file"}}, nil},
		{"an unknown client is a 404 and nothing is recorded", fakeFiles{file: file}, nil, nil, "/v1/clients/c2", http.StatusNotFound, nil, nil},
		{"a file refused for consent is a 403 recorded as a refusal", fakeFiles{err: noConsent}, nil, nil, "/v1/clients/c1", http.StatusForbidden,
			nil, []denialCall{{auditor, "c1", "file", events.DenialNoConsent}}},
		{"a timeline refused to the role is a 403 recorded as a refusal", fakeFiles{err: clientfile.ErrForbidden}, nil, nil, "/v1/clients/c1/timeline", http.StatusForbidden,
			nil, []denialCall{{auditor, "c1", "timeline", events.DenialRole}}},
		{"a refusal the ledger cannot record is still a 403", fakeFiles{err: noConsent}, nil, ledger.ErrUnavailable, "/v1/clients/c1", http.StatusForbidden,
			nil, []denialCall{{auditor, "c1", "file", events.DenialNoConsent}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acc := &fakeAccess{err: tc.accessErr, denyErr: tc.denyErr}
			s := newServer(nil)
			s.RegisterFiles(tc.files, nil, nil, acc, time.Now)
			srv := newTestServer(t, s)
			a := call(t, srv, "GET", tc.path, "tok-auditor", "")
			if a.status != tc.status {
				t.Fatalf("status %d %s, want %d", a.status, a.body, tc.status)
			}
			if !slices.Equal(acc.calls, tc.recorded) {
				t.Fatalf("recorded %+v, want %+v", acc.calls, tc.recorded)
			}
			if !slices.Equal(acc.denials, tc.denied) {
				t.Fatalf("refusals recorded %+v, want %+v", acc.denials, tc.denied)
			}
			if answered := strings.Contains(a.body, `"client_id":"c1"`); answered != (tc.status == http.StatusOK) {
				t.Fatalf("body %s (status %d)", a.body, a.status)
			}
		})
	}
}

// A case manager reads only their own caseload (a 403 from ErrForbidden).
func TestCaseloadOfAnotherIsForbidden(t *testing.T) {
	s := newServer(nil)
	s.RegisterFiles(fakeFiles{}, nil, nil, &fakeAccess{}, time.Now)
	srv := newTestServer(t, s)
	a := call(t, srv, "GET", "/v1/caseloads/cm-2", "tok-cm", "")
	if a.status != http.StatusForbidden || !strings.Contains(a.err.Error, "own caseload") {
		t.Fatalf("got %d %q", a.status, a.err.Error)
	}
}
