// Package httpapi is the HTTP JSON API of Relais under /v1: bearer-token
// authentication against the directory, one role table per route, ONE table
// from error kinds to statuses, and the handlers that turn requests into
// service calls and projection reads. It is a driving adapter: it sits above
// services and projections and is wired by app.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/projections/clientfile"
	"github.com/relais-health/relais/services"
)

// Principal is the authenticated actor of a request.
type Principal struct {
	ID   string
	Role string
	// Partner is true for outside organizations (Role is then their category).
	Partner bool
}

// Actor is the principal as an event envelope's actor.
func (p Principal) Actor() events.Actor { return events.Actor{ID: p.ID, Role: p.Role} }

// Authenticator resolves a bearer token.
type Authenticator interface {
	Authenticate(token string) (Principal, bool)
}

// HandlerFunc handles an authenticated request; a returned error is mapped
// to a status by the error table and written once.
type HandlerFunc func(w http.ResponseWriter, r *http.Request, p Principal) error

// Route is one endpoint and the roles allowed on it.
type Route struct {
	Method  string
	Pattern string
	Roles   []string
	handler HandlerFunc
}

// Server holds the routes.
type Server struct {
	mux    *http.ServeMux
	auth   Authenticator
	log    *zap.Logger
	routes []Route
}

// NewServer returns a server with no routes but the authentication in front.
func NewServer(auth Authenticator, log *zap.Logger) *Server {
	if log == nil {
		log = zap.NewNop()
	}
	return &Server{mux: http.NewServeMux(), auth: auth, log: log}
}

// Handle registers a route; only the listed roles may call it.
func (s *Server) Handle(method, pattern string, roles []string, h HandlerFunc) {
	rt := Route{Method: method, Pattern: pattern, Roles: roles, handler: h}
	s.routes = append(s.routes, rt)
	s.mux.HandleFunc(method+" "+pattern, func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, rt)
	})
}

// HandlePublic registers a route that needs no token (only /healthz).
func (s *Server) HandlePublic(method, pattern string, h http.HandlerFunc) {
	s.mux.HandleFunc(method+" "+pattern, h)
}

// Routes lists the registered routes (the role × endpoint matrix).
func (s *Server) Routes() []Route { return slices.Clone(s.routes) }

// ServeHTTP implements http.Handler. Every response is marked not to be
// stored or sniffed (it may carry health data), and a request no route
// matches gets the same JSON error body as any other (edges.go).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	protect(w.Header())
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.unrouted(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, rt Route) {
	token, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="relais"`)
		writeErrorCode(w, http.StatusUnauthorized, CodeNoToken, "missing bearer token (Authorization: Bearer <token>)")
		return
	}
	p, ok := s.auth.Authenticate(token)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="relais", error="invalid_token"`)
		writeErrorCode(w, http.StatusUnauthorized, CodeBadToken, s.refusal(token))
		return
	}
	if !slices.Contains(rt.Roles, p.Role) {
		writeErrorCode(w, http.StatusForbidden, CodeRole, fmt.Sprintf("role %s may not %s %s (this action needs the role %s)", p.Role, rt.Method, rt.Pattern, strings.Join(rt.Roles, " or ")))
		return
	}
	if err := rt.handler(w, r, p); err != nil {
		status := StatusOf(err)
		if status >= 500 {
			s.log.Error("request failed", zap.String("route", rt.Method+" "+rt.Pattern), zap.String("actor", p.ID), zap.Error(err))
			writeErrorCode(w, status, CodeOf(err), publicMessage(status, err))
			return
		}
		writeErrorCode(w, status, CodeOf(err), err.Error())
	}
}

// bearer reads the token of an Authorization header: the scheme is
// case-insensitive (RFC 7235), and an empty token is no token.
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// publicMessage is what a 5xx answers instead of the error's text, which
// may name internals (streams, servers) and is logged instead.
func publicMessage(status int, err error) string {
	if errors.Is(err, ledger.ErrOutcomeUnknown) {
		return ledger.ErrOutcomeUnknown.Error()
	}
	if status == http.StatusServiceUnavailable {
		return "ledger unavailable, retry later"
	}
	return "internal error"
}

// errorBody is every error response.
// Code is a stable name of what went wrong, the same in every language
// (the console translates it; the message stays English and may change).
type errorBody struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
	Code   string `json:"code"`
}

// Error codes (docs/API.md lists them): the specific ones first, then one
// per status.
const (
	CodeNoToken         = "token_missing"
	CodeBadToken        = "token_refused"
	CodeRole            = "role_forbidden"
	CodeNoConsent       = "no_consent"
	CodeRuleBroken      = "rule_broken"
	CodeConcurrent      = "concurrent_change"
	CodeStreamDamaged   = "stream_damaged"
	CodeOutcomeUnknown  = "outcome_unknown"
	CodeBadRequest      = "bad_request"
	CodeForbidden       = "forbidden"
	CodeNotFound        = "not_found"
	CodeConflict        = "conflict"
	CodeUnsupported     = "unsupported"
	CodeNoEndpoint      = "no_endpoint"
	CodeMethod          = "method_not_allowed"
	CodeUnavailable     = "unavailable"
	CodeInternal        = "internal"
	CodeUnauthenticated = "unauthenticated"
)

// specificCodes name the error kinds a person must tell apart beyond their
// status; the first match wins.
var specificCodes = []struct {
	err  error
	code string
}{
	{clientfile.ErrNoConsent, CodeNoConsent},
	{ledger.ErrOutcomeUnknown, CodeOutcomeUnknown},
	{services.ErrRuleBroken, CodeRuleBroken},
	{ledger.ErrWrongRevision, CodeConcurrent},
	{ledger.ErrStreamDamaged, CodeStreamDamaged},
}

// CodeOf is err's stable code: a specific one, else its status's.
func CodeOf(err error) string {
	for _, c := range specificCodes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return statusCode(StatusOf(err))
}

func statusCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return CodeBadRequest
	case http.StatusUnauthorized:
		return CodeUnauthenticated
	case http.StatusForbidden:
		return CodeForbidden
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusMethodNotAllowed:
		return CodeMethod
	case http.StatusConflict:
		return CodeConflict
	case http.StatusUnprocessableEntity:
		return CodeUnsupported
	case http.StatusServiceUnavailable:
		return CodeUnavailable
	}
	return CodeInternal
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeErrorCode(w, status, statusCode(status), msg)
}

func writeErrorCode(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{Error: msg, Status: status, Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v) //nolint:errcheck // the client went away
}

// ok writes a 200 (or 201) JSON body and returns nil for the handler.
func ok(w http.ResponseWriter, status int, v any) error {
	writeJSON(w, status, v)
	return nil
}

// maxBody bounds request bodies (an event is at most 1 MiB).
const maxBody = 1 << 20

// decode reads a JSON body strictly: unknown fields and trailing data are
// errors that name what is wrong.
func decode(r *http.Request, v any) error {
	body := http.MaxBytesReader(nil, r.Body, maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("%w: larger than %d bytes", ErrBadJSON, maxBody)
		}
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: empty body", ErrBadJSON)
		}
		return fmt.Errorf("%w: %w", ErrBadJSON, err)
	}
	// Anything but the end of the body after the value is trailing data
	// (dec.More alone would let a stray "]" or "}" through).
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: trailing data after the JSON object", ErrBadJSON)
	}
	return nil
}

// requestContext bounds a handler's work.
func requestContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 15*time.Second)
}
