package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

// careRoles may run the programme's commands.
var careRoles = []string{events.RoleCaseManager, events.RolePivotWorker, events.RoleProgrammeManager, events.RoleAdmin}

// partnerRoles are the outside organizations.
var partnerRoles = []string{events.CategoryDoctor, events.CategoryPharmacy, events.CategoryCommunity, events.CategoryRehab}

// recorded is what a command answers.
type recorded struct {
	Stream   string `json:"stream"`
	Revision uint64 `json:"revision"`
	Position uint64 `json:"position"`
	Events   int    `json:"events"`
	ID       string `json:"id,omitempty"`
	// EventID is the id of the last event recorded (what a contact, a
	// concern or an assessment is known by).
	EventID string `json:"event_id,omitempty"`
	// Unchanged is true when the command recorded nothing because it would
	// change nothing (a flag already set, the same medication list again).
	Unchanged bool `json:"unchanged,omitempty"`
}

// createdID reads the id of what a command created from the event it
// recorded (the service fills an id the caller left out), by its JSON key.
func createdID(res ledger.Result, key string) string {
	for _, e := range res.Events {
		var m map[string]json.RawMessage
		if json.Unmarshal(e.Data, &m) != nil {
			continue
		}
		var id string
		if json.Unmarshal(m[key], &id) == nil && id != "" {
			return id
		}
	}
	return ""
}

// created names what a create command made: the JSON key of its id in the
// recorded event, and where it is read (the Location header).
type created struct {
	key      string
	location func(clientID, id string) string
}

// command registers one command route: decode the body into T, let set fill
// what the path says, run, answer with what was recorded.
// A create (c non-nil) answers the new id in "id" and a Location header.
func command[T any](s *Server, method, pattern string, roles []string, set func(*http.Request, *T), run func(context.Context, events.Actor, T) (ledger.Result, error), c *created) {
	s.Handle(method, pattern, roles, func(w http.ResponseWriter, r *http.Request, p Principal) error {
		var req T
		if r.ContentLength != 0 {
			if err := decode(r, &req); err != nil {
				return err
			}
		}
		if set != nil {
			set(r, &req)
		}
		ctx, cancel := requestContext(r)
		defer cancel()
		res, err := run(ctx, p.Actor(), req)
		if err != nil {
			return err
		}
		out := recorded{Stream: res.Stream, Revision: res.Revision, Position: res.Position, Events: len(res.Events), Unchanged: len(res.Events) == 0}
		if n := len(res.Events); n > 0 {
			out.EventID = res.Events[n-1].ID
		}
		if c != nil {
			out.ID = createdID(res, c.key)
			if out.ID != "" && c.location != nil {
				w.Header().Set("Location", c.location(pathClient(r), out.ID))
			}
		}
		status := http.StatusOK
		if method == "POST" && len(res.Events) > 0 {
			status = http.StatusCreated
		}
		return ok(w, status, out)
	})
}

func pathClient(r *http.Request) string { return r.PathValue("id") }

// inFile is where a plan, objective or referral is read: in its client's
// file (they have no route of their own).
func inFile(clientID, _ string) string { return "/v1/clients/" + url.PathEscape(clientID) }

// Clients registers, flags, closes and merges clients (casemgmt).
type Clients interface {
	RegisterClient(ctx context.Context, actor events.Actor, r events.ClientRegistered) (ledger.Result, error)
	Flag(ctx context.Context, actor events.Actor, r events.ClientFlagged) (ledger.Result, error)
	Unflag(ctx context.Context, actor events.Actor, r events.ClientUnflagged) (ledger.Result, error)
	Close(ctx context.Context, actor events.Actor, r events.CaseClosed) (ledger.Result, error)
	Merge(ctx context.Context, actor events.Actor, r events.ClientMerged) (ledger.Result, error)
}

// FollowUp records a client's follow-up: contacts, assessments, and who
// follows them (casemgmt).
type FollowUp interface {
	RecordContact(ctx context.Context, actor events.Actor, r events.ContactMade) (ledger.Result, error)
	CompleteAssessment(ctx context.Context, actor events.Actor, r events.AssessmentCompleted) (ledger.Result, error)
	AssignCaseManager(ctx context.Context, actor events.Actor, r events.CaseManagerAssigned) (ledger.Result, error)
	AssignPivotWorker(ctx context.Context, actor events.Actor, r events.PivotWorkerAssigned) (ledger.Result, error)
}

// Consents enrols a client and records what they consent to (casemgmt).
type Consents interface {
	Enrol(ctx context.Context, actor events.Actor, r events.ClientEnrolled) (ledger.Result, error)
	GrantConsent(ctx context.Context, actor events.Actor, r events.ConsentGranted) (ledger.Result, error)
	RevokeConsent(ctx context.Context, actor events.Actor, r events.ConsentRevoked) (ledger.Result, error)
}

// Plans records the individualized service plan (casemgmt).
type Plans interface {
	CreatePlan(ctx context.Context, actor events.Actor, r events.PlanCreated) (ledger.Result, error)
	AddObjective(ctx context.Context, actor events.Actor, r events.ObjectiveAdded) (ledger.Result, error)
	MeetObjective(ctx context.Context, actor events.Actor, r events.ObjectiveMet) (ledger.Result, error)
	AbandonObjective(ctx context.Context, actor events.Actor, r events.ObjectiveAbandoned) (ledger.Result, error)
}

// Partners records referrals and the family doctor's part (casemgmt).
type Partners interface {
	SendReferral(ctx context.Context, actor events.Actor, r events.ReferralSent) (ledger.Result, error)
	AnswerReferral(ctx context.Context, actor events.Actor, answer string, r events.ReferralAnswer) (ledger.Result, error)
	NotifyDoctor(ctx context.Context, actor events.Actor, r events.DoctorNotified) (ledger.Result, error)
	ConfirmDoctor(ctx context.Context, actor events.Actor, r events.DoctorConfirmed) (ledger.Result, error)
}

// CaseWork is every case-management command the API exposes, each group
// declared on its own above; casemgmt.Service is one.
type CaseWork interface {
	Clients
	FollowUp
	Consents
	Plans
	Partners
}

// Pharmacy records what community pharmacists bring (pharmacy).
type Pharmacy interface {
	UpdateProfile(ctx context.Context, actor events.Actor, r events.MedicationProfileUpdated) (ledger.Result, error)
	RaiseConcern(ctx context.Context, actor events.Actor, r events.PharmacistConcernRaised) (ledger.Result, error)
}

// RegisterCare adds the case-management and pharmacy commands, and the
// directory's (RegisterDirectory, in directory.go).
func (s *Server) RegisterCare(cm CaseWork, ph Pharmacy, dir Directory) {
	s.RegisterDirectory(dir)

	s.registerClients(cm)
	command(s, "POST", "/v1/clients/{id}/flag", careRoles, func(r *http.Request, q *events.ClientFlagged) { q.ClientID = pathClient(r) }, cm.Flag, nil)
	command(s, "POST", "/v1/clients/{id}/unflag", careRoles, func(r *http.Request, q *events.ClientUnflagged) { q.ClientID = pathClient(r) }, cm.Unflag, nil)
	command(s, "POST", "/v1/clients/{id}/contacts", careRoles, func(r *http.Request, q *events.ContactMade) { q.ClientID = pathClient(r) }, cm.RecordContact, nil)
	command(s, "POST", "/v1/clients/{id}/assessments", careRoles, func(r *http.Request, q *events.AssessmentCompleted) { q.ClientID = pathClient(r) }, cm.CompleteAssessment, nil)
	command(s, "POST", "/v1/clients/{id}/enrolment", careRoles, func(r *http.Request, q *events.ClientEnrolled) { q.ClientID = pathClient(r) }, cm.Enrol, nil)
	command(s, "POST", "/v1/clients/{id}/consents", careRoles, func(r *http.Request, q *events.ConsentGranted) { q.ClientID = pathClient(r) }, cm.GrantConsent, nil)
	command(s, "DELETE", "/v1/clients/{id}/consents/{category}", careRoles, func(r *http.Request, q *events.ConsentRevoked) {
		q.ClientID, q.Category = pathClient(r), r.PathValue("category")
	}, cm.RevokeConsent, nil)
	command(s, "PUT", "/v1/clients/{id}/case-manager", careRoles, func(r *http.Request, q *events.CaseManagerAssigned) { q.ClientID = pathClient(r) }, cm.AssignCaseManager, nil)
	command(s, "PUT", "/v1/clients/{id}/pivot-worker", careRoles, func(r *http.Request, q *events.PivotWorkerAssigned) { q.ClientID = pathClient(r) }, cm.AssignPivotWorker, nil)
	command(s, "POST", "/v1/clients/{id}/plans", careRoles, func(r *http.Request, q *events.PlanCreated) { q.ClientID = pathClient(r) }, cm.CreatePlan,
		&created{key: "plan_id", location: inFile})
	command(s, "POST", "/v1/clients/{id}/objectives", careRoles, func(r *http.Request, q *events.ObjectiveAdded) { q.ClientID = pathClient(r) }, cm.AddObjective,
		&created{key: "objective_id", location: inFile})
	command(s, "POST", "/v1/clients/{id}/objectives/{oid}/met", careRoles, func(r *http.Request, q *events.ObjectiveMet) {
		q.ClientID, q.ObjectiveID = pathClient(r), r.PathValue("oid")
	}, cm.MeetObjective, nil)
	command(s, "POST", "/v1/clients/{id}/objectives/{oid}/abandoned", careRoles, func(r *http.Request, q *events.ObjectiveAbandoned) {
		q.ClientID, q.ObjectiveID = pathClient(r), r.PathValue("oid")
	}, cm.AbandonObjective, nil)
	command(s, "POST", "/v1/clients/{id}/referrals", careRoles, func(r *http.Request, q *events.ReferralSent) { q.ClientID = pathClient(r) }, cm.SendReferral,
		&created{key: "referral_id", location: inFile})
	answerRoles := append(append([]string{}, careRoles...), partnerRoles...)
	for _, answer := range []string{"accepted", "declined", "completed"} {
		command(s, "POST", "/v1/clients/{id}/referrals/{rid}/"+answer, answerRoles, func(r *http.Request, q *events.ReferralAnswer) {
			q.ClientID, q.ReferralID = pathClient(r), r.PathValue("rid")
		}, func(ctx context.Context, a events.Actor, q events.ReferralAnswer) (ledger.Result, error) {
			return cm.AnswerReferral(ctx, a, answer, q)
		}, nil)
	}
	command(s, "POST", "/v1/clients/{id}/doctor/notify", careRoles, func(r *http.Request, q *events.DoctorNotified) { q.ClientID = pathClient(r) }, cm.NotifyDoctor, nil)
	command(s, "POST", "/v1/clients/{id}/doctor/confirm", append([]string{events.CategoryDoctor}, careRoles...), func(r *http.Request, q *events.DoctorConfirmed) {
		q.ClientID = pathClient(r)
	}, cm.ConfirmDoctor, nil)
	command(s, "POST", "/v1/clients/{id}/close", careRoles, func(r *http.Request, q *events.CaseClosed) { q.ClientID = pathClient(r) }, cm.Close, nil)

	pharmacyRoles := append([]string{events.CategoryPharmacy}, careRoles...)
	command(s, "PUT", "/v1/clients/{id}/medications", pharmacyRoles, func(r *http.Request, q *events.MedicationProfileUpdated) { q.ClientID = pathClient(r) }, ph.UpdateProfile, nil)
	command(s, "POST", "/v1/clients/{id}/concerns", pharmacyRoles, func(r *http.Request, q *events.PharmacistConcernRaised) { q.ClientID = pathClient(r) }, ph.RaiseConcern, nil)
}
