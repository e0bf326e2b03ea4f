// Package console is the web console of Relais: server-rendered pages
// (html/template, embedded) for the programme's people, French first. It is
// a driving adapter beside the HTTP API: the same authenticator (the
// directory's tokens), the same services for every command, the same
// projections for every read and the same access service to record every
// read of a client file. It decides no rule of its own: roles are checked
// here as the API checks them, consent is decided by the projections and
// services (events/consent), never here.
package console

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/relais-health/relais/adapters/httpapi"
	"github.com/relais-health/relais/delivery/sse"
	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/projections/accesslog"
	"github.com/relais-health/relais/projections/alerts"
	"github.com/relais-health/relais/projections/caseload"
	"github.com/relais-health/relais/projections/clientfile"
	"github.com/relais-health/relais/projections/reports"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Alerts is the alert read model (projections/alerts).
type Alerts interface {
	Queue(recipient string) []alerts.Alert
	Get(id string) (alerts.Alert, bool)
	Since(recipient string, pos uint64) []alerts.Update
	Unacknowledged() []alerts.Alert
}

// Acknowledger acknowledges an alert (services/alerting).
type Acknowledger interface {
	Acknowledge(ctx context.Context, actor events.Actor, alertID string) (uint64, error)
}

// Waiter waits until a projection has applied a position.
type Waiter interface {
	WaitFor(ctx context.Context, pos uint64) error
}

// Files is the client file read model; it applies the role and consent
// rules for the viewer.
type Files interface {
	FileFor(clientID string, v clientfile.Viewer) (clientfile.File, error)
}

// Caseloads is the caseload read model.
type Caseloads interface {
	Caseload(staffID string, now time.Time) caseload.Caseload
	All(now time.Time) []caseload.Caseload
}

// Reports is the population reports read model.
type Reports interface {
	HighUtilizers(q reports.Query) []reports.Row
	Outcomes(q reports.OutcomeQuery) reports.Outcomes
}

// Access records reads of a client file and refused ones (services/access).
type Access interface {
	RecordAccess(ctx context.Context, actor events.Actor, clientID, view string) (ledger.Result, error)
	RecordDenial(ctx context.Context, actor events.Actor, clientID, view, reason string) (ledger.Result, error)
}

// CaseWork is the case-management commands the console offers
// (services/casemgmt).
type CaseWork interface {
	RecordContact(ctx context.Context, actor events.Actor, r events.ContactMade) (ledger.Result, error)
	GrantConsent(ctx context.Context, actor events.Actor, r events.ConsentGranted) (ledger.Result, error)
	RevokeConsent(ctx context.Context, actor events.Actor, r events.ConsentRevoked) (ledger.Result, error)
	MeetObjective(ctx context.Context, actor events.Actor, r events.ObjectiveMet) (ledger.Result, error)
	AbandonObjective(ctx context.Context, actor events.Actor, r events.ObjectiveAbandoned) (ledger.Result, error)
	AnswerReferral(ctx context.Context, actor events.Actor, answer string, r events.ReferralAnswer) (ledger.Result, error)
	NotifyDoctor(ctx context.Context, actor events.Actor, r events.DoctorNotified) (ledger.Result, error)
	ConfirmDoctor(ctx context.Context, actor events.Actor, r events.DoctorConfirmed) (ledger.Result, error)
	SendReferral(ctx context.Context, actor events.Actor, r events.ReferralSent) (ledger.Result, error)
	Close(ctx context.Context, actor events.Actor, r events.CaseClosed) (ledger.Result, error)
}

// Pharmacy is the pharmacists' commands (services/pharmacy).
type Pharmacy interface {
	UpdateProfile(ctx context.Context, actor events.Actor, r events.MedicationProfileUpdated) (ledger.Result, error)
	RaiseConcern(ctx context.Context, actor events.Actor, r events.PharmacistConcernRaised) (ledger.Result, error)
}

// AccessLog reads who read, and who was refused, a client's file
// (projections/accesslog over the ledger).
type AccessLog interface {
	Load(ctx context.Context, clientID string) ([]accesslog.Entry, bool, error)
}

// Names resolves a staff member's or partner's display name, and lists
// the partners of a category (directory).
type Names interface {
	Name(id string) string
	Partners(category string) []Partner
}

// Partner is a partner organization as the referral form lists it.
type Partner struct{ ID, Name string }

// Deps is what the console is built on; app wires it with the same
// services and projections as the API.
type Deps struct {
	Auth      httpapi.Authenticator
	Alerts    Alerts
	Ack       Acknowledger
	AlertsW   Waiter // the alert projection's runner
	FilesW    Waiter // the client file projection's runner
	Hub       *sse.Hub
	Heartbeat time.Duration
	Files     Files
	Caseloads Caseloads
	Reports   Reports
	Access    Access
	Care      CaseWork
	Pharmacy  Pharmacy
	Names     Names
	AccessLog AccessLog
	Log       *zap.Logger
	Now       func() time.Time
	// IdleTimeout ends a session nobody used for that long (default 30 min).
	IdleTimeout time.Duration
	// SessionCheck is how often an open alert stream checks that its
	// session still stands (default 15 s).
	SessionCheck time.Duration
	// The programme manager's, archivist's and auditor's pages
	// (pages_manage.go): feed health, webhook dead letters, set-aside
	// events, the directory's commands and list, replays, verification.
	Feeds    httpapi.Feeds
	Hooks    httpapi.Hooks
	SetAside httpapi.SetAside
	// RetryAside, when set, offers a retry of each set-aside event.
	RetryAside AsideRetrier
	Directory  httpapi.Directory
	People     People
	Replay     Replayer
	Verify     Verifier

	// Search is the client index the API's search reads (the client file
	// projection); Setup the case-opening and planning commands (casemgmt).
	Search httpapi.ClientIndex
	Setup  CareSetup

	// Sessions keeps the sessions where every instance sees them (nil:
	// this process's memory).
	Sessions SessionStore
}

// Console serves /console/.
type Console struct {
	d     Deps
	pages map[string]*template.Template
	mux   *http.ServeMux
	sess  *sessions
	loc   *time.Location
}

// New builds the console; it parses every template once.
func New(d Deps) (*Console, error) {
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.SessionCheck <= 0 {
		d.SessionCheck = 15 * time.Second
	}
	if d.IdleTimeout <= 0 {
		d.IdleTimeout = DefaultIdleTimeout
	}
	loc, err := time.LoadLocation("America/Montreal")
	if err != nil {
		return nil, fmt.Errorf("console: time zone America/Montreal: %w", err)
	}
	c := &Console{d: d, mux: http.NewServeMux(), sess: newSessions(d.Sessions, d.IdleTimeout, d.Now), loc: loc, pages: map[string]*template.Template{}}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		base := n[len("templates/") : len(n)-len(".html")]
		if base == "layout" || strings.HasPrefix(base, "part_") {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/part_*.html", n)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", n, err)
		}
		c.pages[base] = t
	}
	c.routes()
	return c, nil
}

// Roles of the console's pages (the same groups as the API's routes).
var (
	careRoles    = []string{events.RoleCaseManager, events.RolePivotWorker, events.RoleProgrammeManager, events.RoleAdmin}
	partnerRoles = []string{events.CategoryDoctor, events.CategoryPharmacy, events.CategoryCommunity, events.CategoryRehab}
	readerRoles  = append(append([]string{events.RoleAuditor}, careRoles...), partnerRoles...)
	queueRoles   = append(append([]string{}, careRoles...), partnerRoles...)
	managerRoles = []string{events.RoleProgrammeManager, events.RoleAdmin}
)

func (c *Console) routes() {
	static, _ := fs.Sub(staticFS, "static")
	c.mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	c.mux.HandleFunc("GET /console/login", c.loginPage)
	c.mux.HandleFunc("POST /console/login", c.login)
	c.mux.HandleFunc("POST /console/lang", c.setLang)
	c.mux.HandleFunc("GET /console/{$}", c.home)
	c.page("POST /console/logout", queueRoles, c.logout, events.RoleArchivist, events.RoleAuditor)
	c.page("GET /console/queue", queueRoles, c.queue)
	c.page("GET /console/queue/list", queueRoles, c.queueList)
	c.page("GET /console/stream", queueRoles, c.stream)
	c.page("POST /console/alerts/ack", queueRoles, c.ack)
	c.page("GET /console/clients", careRoles, c.clients)
	c.page("POST /console/clients", careRoles, c.clients)
	c.page("GET /console/clients/{id}", readerRoles, c.file)
	// Case manager's pages (pages_care.go): new client, enrolment, assessment, plan.
	c.page("GET /console/clients/new", careRoles, c.newClient)
	c.page("POST /console/clients/new", careRoles, c.registerClient)
	c.page("POST /console/clients/{id}/enrol", careRoles, c.enrol)
	c.page("GET /console/clients/{id}/assessment", careRoles, c.assessPage)
	c.page("POST /console/clients/{id}/assessment", careRoles, c.assess)
	c.page("POST /console/clients/{id}/plans", careRoles, c.createPlan)
	c.page("POST /console/clients/{id}/objectives", careRoles, c.addObjective)
	c.page("POST /console/clients/{id}/contact", careRoles, c.contact)
	c.page("POST /console/clients/{id}/consent", careRoles, c.consent)
	c.page("POST /console/clients/{id}/objective", careRoles, c.objective)
	c.page("POST /console/clients/{id}/doctor/notify", careRoles, c.notifyDoctor)
	c.page("POST /console/clients/{id}/close", careRoles, c.closeCase)
	c.page("POST /console/clients/{id}/referral/new", careRoles, c.sendReferral)
	c.page("POST /console/clients/{id}/doctor/confirm", []string{events.CategoryDoctor}, c.confirmDoctor)
	c.page("POST /console/clients/{id}/referral", append([]string{events.CategoryCommunity, events.CategoryRehab}, careRoles...), c.referral)
	c.page("POST /console/clients/{id}/medications", []string{events.CategoryPharmacy}, c.medications)
	c.page("POST /console/clients/{id}/concern", []string{events.CategoryPharmacy}, c.concern)
	c.page("GET /console/programme", managerRoles, c.programme)
	c.page("GET /console/programme/outcomes.svg", append([]string{events.RoleAuditor}, managerRoles...), c.outcomesSVG)
	c.page("GET /console/audit", []string{events.RoleAuditor, events.RoleProgrammeManager, events.RoleAdmin}, c.auditPage)
	c.page("POST /console/audit/open", readerRoles, c.openFile, events.RoleArchivist)
	c.page("GET /console/audit/clients/{id}/access", []string{events.RoleAuditor, events.RoleAdmin}, c.accessLog)
	c.page("GET /console/archive", []string{events.RoleArchivist, events.RoleProgrammeManager, events.RoleAdmin}, c.archive)
	c.page("GET /console/archive/high-utilizers.csv", []string{events.RoleArchivist, events.RoleProgrammeManager, events.RoleAdmin}, c.archiveCSV)
	c.manageRoutes() // pages_manage.go: helper "pm"'s pages, kept together
}

// handler is a page for a signed-in user.
type handler func(w http.ResponseWriter, r *http.Request, s *session) error

// page registers pattern for roles (and extra): a request without a
// session goes to the sign-in page, a POST without the session's CSRF
// token is refused (403), a role not listed gets the 403 page.
func (c *Console) page(pattern string, roles []string, h handler, extra ...string) {
	roles = append(slices.Clone(roles), extra...)
	post := pattern[:4] == "POST"
	c.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.current(r)
		if !ok {
			if post {
				c.refuse(w, r, nil, http.StatusForbidden, "err.session")
				return
			}
			http.Redirect(w, r, "/console/login", http.StatusSeeOther)
			return
		}
		if post && !c.sess.checkCSRF(s, r) {
			c.refuse(w, r, s, http.StatusForbidden, "err.csrf")
			return
		}
		if !slices.Contains(roles, s.p.Role) {
			c.refuse(w, r, s, http.StatusForbidden, "err.role")
			return
		}
		if err := h(w, r, s); err != nil {
			c.fail(w, r, s, err)
		}
	})
}

// ServeHTTP serves /console/ behind the console's headers: a strict
// Content-Security-Policy (scripts from /console/static only, no inline
// script or style), no framing, no referrer, nothing stored.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.URL.Path == "/" {
		http.Redirect(w, r, "/console/", http.StatusFound)
		return
	}
	c.mux.ServeHTTP(w, r)
}

// home sends each role to its first page.
func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	s, ok := c.current(r)
	if !ok {
		http.Redirect(w, r, "/console/login", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, homeOf(s.p.Role), http.StatusSeeOther)
}

func homeOf(role string) string {
	switch role {
	case events.RoleProgrammeManager, events.RoleAdmin:
		return "/console/programme"
	case events.RoleArchivist:
		return "/console/archive"
	case events.RoleAuditor:
		return "/console/audit"
	}
	return "/console/queue"
}

func reqCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 15*time.Second)
}
