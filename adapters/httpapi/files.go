package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/projections/caseload"
	"github.com/relais-health/relais/projections/clientfile"
	"github.com/relais-health/relais/projections/reports"
)

// Files is the shared client file read model.
type Files interface {
	FileFor(clientID string, v clientfile.Viewer) (clientfile.File, error)
	// Clients and File serve the client search (care staff only).
	Clients() []string
	File(clientID string) (clientfile.File, bool)
}

// searchRequest is the body of POST /v1/clients/search: a name, a
// health-insurance number or a client id. It is a body, not a query
// string, so that no name or number lands in a URL, a log or a history.
type searchRequest struct {
	Query string `json:"query"`
	Limit int    `json:"limit"`
}

// SearchHit is what a search shows of a client: who they are, not their
// health (open the file for that, which is recorded).
type SearchHit struct {
	ClientID    string              `json:"client_id"`
	GivenName   string              `json:"given_name,omitempty"`
	FamilyName  string              `json:"family_name,omitempty"`
	BirthDate   string              `json:"birth_date,omitempty"`
	Identifiers []events.Identifier `json:"identifiers,omitempty"`
	CaseManager string              `json:"case_manager,omitempty"`
}

// fold lowers s and drops spaces, so "bel 1234" style input compares the
// same way in every field.
func fold(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

// matches reports whether the file answers q: its id (exact or a prefix),
// a health-insurance or other identifier (exact, spaces ignored), or its
// name (every word of q in the given or family name).
func matches(f clientfile.File, q string) bool {
	if strings.HasPrefix(fold(f.ClientID), q) {
		return true
	}
	compact := strings.ReplaceAll(q, " ", "")
	for _, id := range f.Identifiers {
		if fold(strings.ReplaceAll(id.Value, " ", "")) == compact {
			return true
		}
	}
	name := fold(f.GivenName + " " + f.FamilyName)
	for _, w := range strings.Fields(q) {
		if !strings.Contains(name, w) {
			return false
		}
	}
	return name != ""
}

// ClientIndex is what a client search reads: every client id, and a file
// by id (the client file projection).
type ClientIndex interface {
	Clients() []string
	File(clientID string) (clientfile.File, bool)
}

// SearchClients is the client search of POST /v1/clients/search and of the
// console: query (a name, a health-insurance number or a client id, at
// least 2 characters) against every client, at most limit hits (0 or more
// than 100 means 50). It records nothing: a hit names a client, it shows
// no health data (opening the file does, and that read is recorded).
func SearchClients(files ClientIndex, query string, limit int) ([]SearchHit, error) {
	q := fold(query)
	if len([]rune(q)) < 2 {
		return nil, fmt.Errorf("%w: query: give at least 2 characters of a name, a health-insurance number or a client id", ErrBadJSON)
	}
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	hits := []SearchHit{}
	for _, id := range files.Clients() {
		f, found := files.File(id)
		if !found || !matches(f, q) {
			continue
		}
		h := SearchHit{ClientID: f.ClientID, GivenName: f.GivenName, FamilyName: f.FamilyName, BirthDate: f.BirthDate, Identifiers: f.Identifiers}
		if f.CaseManager != nil {
			h.CaseManager = f.CaseManager.StaffID
		}
		if hits = append(hits, h); len(hits) == limit {
			break
		}
	}
	return hits, nil
}

// Caseloads is the caseload read model.
type Caseloads interface {
	Caseload(staffID string, now time.Time) caseload.Caseload
	Has(staffID string) bool
	All(now time.Time) []caseload.Caseload
}

// Reports is the population reports read model.
type Reports interface {
	HighUtilizers(q reports.Query) []reports.Row
	Outcomes(q reports.OutcomeQuery) reports.Outcomes
}

// Access records every read of a client file, and every refused one
// (services/access).
type Access interface {
	RecordAccess(ctx context.Context, actor events.Actor, clientID, view string) (ledger.Result, error)
	RecordDenial(ctx context.Context, actor events.Actor, clientID, view, reason string) (ledger.Result, error)
}

// readers may open a client file: staff (the auditor read-only, the
// archivist visits only) and partners (by consent).
var readers = []string{events.RoleCaseManager, events.RolePivotWorker, events.RoleProgrammeManager, events.RoleAdmin,
	events.RoleAuditor, events.RoleArchivist, events.CategoryDoctor, events.CategoryPharmacy, events.CategoryCommunity, events.CategoryRehab}

// RegisterFiles adds the client file, caseload and report reads. Every read
// of a client file is recorded by acc before it is answered: no record, no
// read. Every refused read (403: no consent naming the caller, a role that
// never sees files) is recorded too, and still refused when it cannot be
// recorded (the failure is logged): a refusal discloses nothing, and
// turning it into a 503 would tell the caller no more and the auditor no
// more either.
func (s *Server) RegisterFiles(files Files, loads Caseloads, reps Reports, acc Access, now func() time.Time) {
	open := func(r *http.Request, p Principal, view string) (clientfile.File, error) {
		id := r.PathValue("id")
		f, err := files.FileFor(id, clientfile.Viewer{ActorID: p.ID, Role: p.Role})
		if err != nil {
			if StatusOf(err) == http.StatusForbidden {
				s.recordDenial(r, acc, p, id, view, err)
			}
			return f, err
		}
		ctx, cancel := requestContext(r)
		defer cancel()
		if _, err := acc.RecordAccess(ctx, p.Actor(), id, view); err != nil {
			return clientfile.File{}, err
		}
		return f, nil
	}
	s.Handle("POST", "/v1/clients/search", careRoles, func(w http.ResponseWriter, r *http.Request, p Principal) error {
		var req searchRequest
		if err := decode(r, &req); err != nil {
			return err
		}
		hits, err := SearchClients(files, req.Query, req.Limit)
		if err != nil {
			return err
		}
		return ok(w, http.StatusOK, map[string]any{"clients": hits})
	})
	s.Handle("GET", "/v1/clients/{id}", readers, func(w http.ResponseWriter, r *http.Request, p Principal) error {
		f, err := open(r, p, "file")
		if err != nil {
			return err
		}
		return ok(w, http.StatusOK, f)
	})
	s.Handle("GET", "/v1/clients/{id}/timeline", readers, func(w http.ResponseWriter, r *http.Request, p Principal) error {
		f, err := open(r, p, "timeline")
		if err != nil {
			return err
		}
		return ok(w, http.StatusOK, map[string]any{"client_id": r.PathValue("id"), "timeline": clientfile.Entries(f)})
	})
	s.Handle("GET", "/v1/caseloads", []string{events.RoleProgrammeManager, events.RoleAdmin}, func(w http.ResponseWriter, r *http.Request, p Principal) error {
		return ok(w, http.StatusOK, map[string]any{"caseloads": loads.All(now())})
	})
	s.Handle("GET", "/v1/caseloads/{staff}", []string{events.RoleCaseManager, events.RolePivotWorker, events.RoleProgrammeManager, events.RoleAdmin}, func(w http.ResponseWriter, r *http.Request, p Principal) error {
		staff := r.PathValue("staff")
		if (p.Role == events.RoleCaseManager || p.Role == events.RolePivotWorker) && staff != p.ID {
			return fmt.Errorf("%w: a case manager reads only their own caseload", ErrForbidden)
		}
		if staff != p.ID && !loads.Has(staff) {
			return fmt.Errorf("%w: no case manager %q in the directory", ErrNotFound, staff)
		}
		return ok(w, http.StatusOK, loads.Caseload(staff, now()))
	})
	s.Handle("GET", "/v1/reports/high-utilizers", []string{events.RoleArchivist, events.RoleProgrammeManager, events.RoleAdmin}, func(w http.ResponseWriter, r *http.Request, p Principal) error {
		q, err := reports.ParseQuery(r.URL.Query().Get("n"), r.URL.Query().Get("window"), r.URL.Query().Get("end"), r.URL.Query()["exclude"])
		if err != nil {
			return err
		}
		q.IncludeIdentifiers = p.Role == events.RoleArchivist
		rows := reps.HighUtilizers(q)
		if r.URL.Query().Get("format") == "csv" {
			var b bytes.Buffer
			if err := reports.WriteHighUtilizersCSV(&b, rows); err != nil {
				return err
			}
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			_, err := w.Write(b.Bytes())
			return err
		}
		return ok(w, http.StatusOK, map[string]any{"rows": rows})
	})
	s.Handle("GET", "/v1/reports/outcomes", []string{events.RoleProgrammeManager, events.RoleAdmin, events.RoleAuditor}, func(w http.ResponseWriter, r *http.Request, p Principal) error {
		var q reports.OutcomeQuery
		if v := r.URL.Query().Get("as_of"); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return fmt.Errorf("%w: as_of %q is not an RFC3339 time", ErrBadJSON, v)
			}
			q.AsOf = t
		}
		minFollowUp, err := reports.ParseMinFollowUp(r.URL.Query().Get("min_follow_up"))
		if err != nil {
			return err
		}
		q.MinFollowUp = minFollowUp
		out := reps.Outcomes(q)
		var b bytes.Buffer
		switch r.URL.Query().Get("format") {
		case "csv":
			if err := reports.WriteCohortsCSV(&b, out); err != nil {
				return err
			}
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		case "svg":
			if err := reports.WriteOutcomesSVG(&b, out, reports.MetricVisits, reports.InLanguage(r.URL.Query().Get("lang"))); err != nil {
				return err
			}
			w.Header().Set("Content-Type", "image/svg+xml")
		default:
			return ok(w, http.StatusOK, out)
		}
		_, err = w.Write(b.Bytes())
		return err
	})
}

// recordDenial records that p was refused clientID's file (view) for err;
// a failure to record is logged (ids only), the refusal stands either way.
func (s *Server) recordDenial(r *http.Request, acc Access, p Principal, clientID, view string, refused error) {
	ctx, cancel := requestContext(r)
	defer cancel()
	if _, err := acc.RecordDenial(ctx, p.Actor(), clientID, view, denialReason(refused)); err != nil {
		s.log.Error("refused file read not recorded", zap.String("actor", p.ID), zap.String("client", clientID),
			zap.String("view", view), zap.Error(err))
	}
}

// denialReason names why a read was refused, as the access log says it.
func denialReason(err error) string {
	switch {
	case errors.Is(err, clientfile.ErrNoConsent):
		return events.DenialNoConsent
	case errors.Is(err, clientfile.ErrForbidden):
		return events.DenialRole
	}
	return events.DenialForbidden
}
