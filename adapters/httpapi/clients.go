package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/relais-health/relais/events"
)

// mergeRoles may merge two clients (casemgmt.MergeRoles says the same and
// the service checks it again): a merge moves a person's whole history.
var mergeRoles = []string{events.RoleCaseManager, events.RoleProgrammeManager, events.RoleAdmin}

// registerClientRequest is what a caller may send to register a client.
// PatientKeys is here only to be refused by name: the keys are derived by
// Relais from the identifiers with the installation's secret.
type registerClientRequest struct {
	ClientID    string              `json:"client_id"`
	GivenName   string              `json:"given_name"`
	FamilyName  string              `json:"family_name"`
	BirthDate   string              `json:"birth_date"`
	Identifiers []events.Identifier `json:"identifiers"`
	PatientKeys json.RawMessage     `json:"patient_keys"`
}

// mergeRequest is the body of a merge: the client that survives, and why.
type mergeRequest struct {
	Into   string `json:"into"`
	Reason string `json:"reason"`
}

// registerClients adds client registration and the merge of two clients.
func (s *Server) registerClients(cm Clients) {
	s.Handle("POST", "/v1/clients", careRoles, func(w http.ResponseWriter, r *http.Request, p Principal) error {
		var req registerClientRequest
		if err := decode(r, &req); err != nil {
			return err
		}
		if req.PatientKeys != nil {
			return fmt.Errorf("%w: patient_keys: derived by Relais from the identifiers, never taken from the request; remove the field", ErrBadJSON)
		}
		ctx, cancel := requestContext(r)
		defer cancel()
		res, err := cm.RegisterClient(ctx, p.Actor(), events.ClientRegistered{ClientID: req.ClientID, GivenName: req.GivenName,
			FamilyName: req.FamilyName, BirthDate: req.BirthDate, Identifiers: req.Identifiers})
		if err != nil {
			return err
		}
		id := strings.TrimPrefix(res.Stream, events.ClientStream(""))
		w.Header().Set("Location", "/v1/clients/"+url.PathEscape(id))
		return ok(w, http.StatusCreated, recorded{Stream: res.Stream, Revision: res.Revision, Position: res.Position,
			Events: len(res.Events), ID: id})
	})
	s.Handle("POST", "/v1/clients/{id}/merge", mergeRoles, func(w http.ResponseWriter, r *http.Request, p Principal) error {
		var req mergeRequest
		if err := decode(r, &req); err != nil {
			return err
		}
		ctx, cancel := requestContext(r)
		defer cancel()
		res, err := cm.Merge(ctx, p.Actor(), events.ClientMerged{ClientID: pathClient(r), Into: req.Into, Reason: req.Reason})
		if err != nil {
			return err
		}
		status := http.StatusOK
		if len(res.Events) > 0 {
			status = http.StatusCreated
		}
		return ok(w, status, recorded{Stream: res.Stream, Revision: res.Revision, Position: res.Position, Events: len(res.Events), ID: req.Into})
	})
}
