package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/relais-health/relais/adapters/httpapi"
	"github.com/relais-health/relais/delivery"
	"github.com/relais-health/relais/delivery/sse"
	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/projections/accesslog"
	"github.com/relais-health/relais/projections/alerts"
	"github.com/relais-health/relais/projections/caseload"
	"github.com/relais-health/relais/projections/clientfile"
	"github.com/relais-health/relais/projections/reports"
)

// view is what every page template gets.
type view struct {
	L      L
	Title  string // catalog key
	Who    string
	Role   string
	CSRF   string
	Nav    []nav
	Flash  string // catalog key
	Error  string // catalog key
	Detail string // the error's own text, in a collapsed "details"
	Data   any
	names  func(string) string
}

// Name is the display name of a staff member or partner id (the id when
// the directory has none).
func (v view) Name(id string) string {
	if v.names == nil || id == "" {
		return id
	}
	return v.names(id)
}

type nav struct {
	Href, Key string
	Current   bool
}

func (c *Console) lang(r *http.Request) L { return L{Lang: langOf(r), loc: c.loc} }

func (c *Console) navFor(role, path string) []nav {
	var out []nav
	add := func(href, key string) { out = append(out, nav{href, key, path == href}) }
	switch {
	case slices.Contains(partnerRoles, role):
		add("/console/queue", "nav.inbox")
	case role == events.RoleArchivist:
		add("/console/archive", "nav.archive")
	case role == events.RoleAuditor:
		add("/console/audit", "nav.audit")
	default:
		add("/console/queue", "nav.queue")
		add("/console/clients", "nav.clients")
		if slices.Contains(managerRoles, role) {
			add("/console/programme", "nav.programme")
			add("/console/programme/feeds", "nav.feeds")
			add("/console/programme/directory", "nav.directory")
			add("/console/archive", "nav.archive")
		}
	}
	return out
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, s *session, status int, name, title string, data any) {
	v := view{L: c.lang(r), Title: title, Data: data, names: c.name}
	if s != nil {
		v.Who, v.Role, v.CSRF = c.name(s.p.ID), s.p.Role, s.rec.CSRF
		v.Nav = c.navFor(s.p.Role, r.URL.Path)
		v.Flash = c.sess.takeFlash(s)
	}
	c.renderView(w, status, name, v)
}

func (c *Console) renderView(w http.ResponseWriter, status int, name string, v view) {
	t, ok := c.pages[name]
	if !ok && name != "queuelist" {
		http.Error(w, "no page "+name, http.StatusInternalServerError)
		return
	}
	var b bytes.Buffer
	var err error
	if name == "queuelist" {
		err = c.pages["queue"].ExecuteTemplate(&b, "queueitems", v)
	} else {
		err = t.Execute(&b, v)
	}
	if err != nil {
		c.d.Log.Error("console page failed", zap.String("page", name), zap.Error(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes()) //nolint:errcheck // the browser went away
}

func (c *Console) name(id string) string {
	if c.d.Names != nil {
		if n := c.d.Names.Name(id); n != "" {
			return n
		}
	}
	return id
}

// refuse answers status with the error page saying key.
func (c *Console) refuse(w http.ResponseWriter, r *http.Request, s *session, status int, key string) {
	c.render(w, r, s, status, "error", "err.title", errorPage{Key: key, Status: status})
}

type errorPage struct {
	Key    string
	Status int
	Detail string
}

// fail maps a service or projection error to the API's status (one error
// table) and a French (or English) message; a 5xx's text is logged, not
// shown.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	status := httpapi.StatusOf(err)
	key := "err.status." + strconv.Itoa(status)
	if _, ok := catalog[key]; !ok {
		key = "err.status.400"
	}
	if errors.Is(err, clientfile.ErrNoConsent) {
		key = "err.noconsent"
	}
	ep := errorPage{Key: key, Status: status}
	if status >= 500 {
		actor := ""
		if s != nil {
			actor = s.p.ID
		}
		c.d.Log.Error("console request failed", zap.String("path", r.Pattern), zap.String("actor", actor), zap.Error(err))
	} else {
		ep.Detail = err.Error()
	}
	c.render(w, r, s, status, "error", "err.title", ep)
}

// ---- sign-in ----

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.current(r); ok {
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
		return
	}
	c.showLogin(w, r, http.StatusOK, "")
}

func (c *Console) showLogin(w http.ResponseWriter, r *http.Request, status int, errKey string) {
	tok := randomToken()
	setCookie(w, r, loginCookie, tok, 600)
	c.renderView(w, status, "login", view{L: c.lang(r), Title: "login.title", CSRF: tok, Error: errKey})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(loginCookie)
	form := r.PostFormValue("csrf")
	if err != nil || form == "" || form != ck.Value {
		c.renderView(w, http.StatusForbidden, "error", view{L: c.lang(r), Title: "err.title", Data: errorPage{Key: "err.csrf", Status: http.StatusForbidden}})
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	p, ok := c.d.Auth.Authenticate(token)
	if !ok {
		c.showLogin(w, r, http.StatusUnauthorized, "login.bad")
		return
	}
	s, err := c.sess.create(r.Context(), token, p)
	if err != nil {
		c.d.Log.Error("console sign-in not saved", zap.String("actor", p.ID), zap.Error(err))
		c.showLogin(w, r, http.StatusServiceUnavailable, "login.unavailable")
		return
	}
	setCookie(w, r, loginCookie, "", -1)
	setCookie(w, r, sessionCookie, s.id, 0)
	http.Redirect(w, r, homeOf(p.Role), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) error {
	c.sess.end(r.Context(), s.id)
	setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
	return nil
}

// setLang is the language toggle; signed in, the session's CSRF token is
// required, on the sign-in page the sign-in form's.
func (c *Console) setLang(w http.ResponseWriter, r *http.Request) {
	ok := false
	if s, signed := c.current(r); signed {
		ok = c.sess.checkCSRF(s, r)
	} else if ck, err := r.Cookie(loginCookie); err == nil {
		ok = r.PostFormValue("csrf") != "" && r.PostFormValue("csrf") == ck.Value
	}
	if !ok {
		c.renderView(w, http.StatusForbidden, "error", view{L: c.lang(r), Title: "err.title", Data: errorPage{Key: "err.csrf", Status: http.StatusForbidden}})
		return
	}
	l := r.PostFormValue("lang")
	if l != langFR && l != langEN {
		l = langFR
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/console/", HttpOnly: true, Secure: secure(r),
		SameSite: http.SameSiteStrictMode, MaxAge: 365 * 24 * 3600})
	back := r.PostFormValue("back")
	if !strings.HasPrefix(back, "/console/") || strings.Contains(back, "//") || strings.ContainsAny(back, "?\\") {
		back = "/console/"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// ---- the alert queue (Ma file / partner inbox) ----

// thread is one visit's alerts: the newest stands for the thread, the
// older ones (amended, retracted) are its history.
type thread struct {
	Latest  alerts.Alert
	Earlier []alerts.Alert
	Name    string // the client's display name, for staff
}

type queueData struct {
	Pending, Done []thread
	Partner       bool
}

func (c *Console) threads(s *session) queueData {
	byThread := map[string][]alerts.Alert{}
	var order []string
	for _, a := range c.d.Alerts.Queue(s.p.ID) {
		k := a.ThreadID
		if k == "" {
			k = a.ID
		}
		if _, ok := byThread[k]; !ok {
			order = append(order, k)
		}
		byThread[k] = append(byThread[k], a)
	}
	var q queueData
	q.Partner = s.p.Partner
	for _, k := range order {
		as := byThread[k]
		sort.SliceStable(as, func(i, j int) bool { return as[i].Position > as[j].Position })
		t := thread{Latest: as[0], Earlier: as[1:]}
		if t.Latest.Acknowledged || t.Latest.Withdrawn {
			q.Done = append(q.Done, t)
		} else {
			q.Pending = append(q.Pending, t)
		}
	}
	newest := func(ts []thread) {
		sort.SliceStable(ts, func(i, j int) bool { return ts[i].Latest.RaisedAt.After(ts[j].Latest.RaisedAt) })
	}
	newest(q.Pending)
	newest(q.Done)
	if len(q.Done) > 20 {
		q.Done = q.Done[:20]
	}
	return q
}

func (c *Console) queue(w http.ResponseWriter, r *http.Request, s *session) error {
	title := "queue.title"
	if s.p.Partner {
		title = "inbox.title"
	}
	c.render(w, r, s, http.StatusOK, "queue", title, c.threads(s))
	return nil
}

// queueList is the queue's list alone: the page's script fetches it when
// the stream says something changed, and puts it in place.
func (c *Console) queueList(w http.ResponseWriter, r *http.Request, s *session) error {
	c.render(w, r, s, http.StatusOK, "queuelist", "queue.title", c.threads(s))
	return nil
}

// stream is the caller's alert stream for the page's EventSource (a
// session cookie instead of a bearer token, the same hub and backlog as
// /v1/alerts/stream).
//
// The stream ends when the session does (idle, signed out, token revoked
// or expired): the page then goes back to the sign-in page.
func (c *Console) stream(w http.ResponseWriter, r *http.Request, s *session) error {
	q := s.p.ID
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() { // owned by this request: ends with ctx
		tick := time.NewTicker(c.d.SessionCheck)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if _, ok := c.d.Auth.Authenticate(s.rec.Token); !ok || !c.sess.alive(s) {
					cancel()
					return
				}
			}
		}
	}()
	r = r.WithContext(ctx)
	return sse.Serve(w, r, c.d.Hub, q, func(after uint64) ([]sse.Event, error) {
		var out []sse.Event
		for _, u := range c.d.Alerts.Since(q, after) {
			out = append(out, delivery.EncodeUpdate(u))
		}
		return out, nil
	}, c.d.Heartbeat)
}

func (c *Console) ack(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx, cancel := reqCtx(r)
	defer cancel()
	pos, err := c.d.Ack.Acknowledge(ctx, s.p.Actor(), r.PostFormValue("alert"))
	if err != nil {
		return err
	}
	if err := c.d.AlertsW.WaitFor(ctx, pos); err != nil {
		return err
	}
	c.sess.setFlash(s, "queue.acked")
	http.Redirect(w, r, "/console/queue", http.StatusSeeOther)
	return nil
}

// ---- Mes clients ----

type clientRow struct {
	caseload.ClientLoad
	Name string
}

type clientsData struct {
	Load   caseload.Caseload
	Rows   []clientRow
	Search string
	// The search across the territory (pages_care.go), when one was sent.
	Searched  bool
	Results   []searchRow
	SearchErr string // catalog key
	Limited   bool
}

// clients is the caller's caseload; the search (a POST, so that a name or
// a health-insurance number never sits in a URL) looks across every
// client, as POST /v1/clients/search does.
func (c *Console) clients(w http.ResponseWriter, r *http.Request, s *session) error {
	d := clientsData{Load: c.d.Caseloads.Caseload(s.p.ID, c.d.Now())}
	for _, cl := range d.Load.Clients {
		row := clientRow{ClientLoad: cl, Name: cl.ClientID}
		if f, err := c.d.Files.FileFor(cl.ClientID, clientfile.Viewer{ActorID: s.p.ID, Role: s.p.Role}); err == nil {
			row.Name = strings.TrimSpace(f.GivenName + " " + f.FamilyName)
		}
		d.Rows = append(d.Rows, row)
	}
	if r.Method == http.MethodPost {
		d.Search = strings.TrimSpace(r.PostFormValue("q"))
		c.search(&d, s)
	}
	c.render(w, r, s, http.StatusOK, "clients", "clients.title", d)
	return nil
}

// ---- Dossier ----

type fileData struct {
	F         clientfile.File
	Timeline  []clientfile.Entry
	Care      bool // may run the case manager's actions
	Pharmacy  bool
	Doctor    bool
	Community bool
	Meds      string // the current list, one per line, for the pharmacy's form
	Consents  []consentRow
	Now       time.Time
	// ReferTo are the community and rehab partners the client's consent
	// names or covers (the service decides again when the form is sent).
	ReferTo []Partner
	// More is the ecomap, enrolment and plan forms (pages_care.go).
	More careFile
}

type consentRow struct {
	Category string
	Given    bool
	Partner  string
	Since    time.Time
}

// file is the client file, read through the same projection as the API
// (role and consent decided there) and recorded through the same access
// service: no record, no page; a refusal is recorded too.
func (c *Console) file(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	f, err := c.d.Files.FileFor(id, clientfile.Viewer{ActorID: s.p.ID, Role: s.p.Role})
	if err != nil {
		if httpapi.StatusOf(err) == http.StatusForbidden {
			ctx, cancel := reqCtx(r)
			defer cancel()
			reason := events.DenialForbidden
			switch {
			case errors.Is(err, clientfile.ErrNoConsent):
				reason = events.DenialNoConsent
			case errors.Is(err, clientfile.ErrForbidden):
				reason = events.DenialRole
			}
			if _, rerr := c.d.Access.RecordDenial(ctx, s.p.Actor(), id, "console.file", reason); rerr != nil {
				c.d.Log.Error("refused file read not recorded", zap.String("actor", s.p.ID), zap.String("client", id), zap.Error(rerr))
			}
		}
		return err
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	if _, err := c.d.Access.RecordAccess(ctx, s.p.Actor(), id, "console.file"); err != nil {
		return err
	}
	d := fileData{F: f, Timeline: clientfile.Entries(f), Now: c.d.Now(),
		Care:      slices.Contains(careRoles, s.p.Role),
		Pharmacy:  s.p.Role == events.CategoryPharmacy,
		Doctor:    s.p.Role == events.CategoryDoctor,
		Community: s.p.Role == events.CategoryCommunity || s.p.Role == events.CategoryRehab}
	slices.Reverse(d.Timeline)
	d.More = c.careFile(s, f, d.Care, c.lang(r))
	var meds []string
	for _, m := range f.Medications {
		meds = append(meds, strings.TrimSpace(strings.Join([]string{m.Name, m.Dose, m.Frequency}, " | ")))
	}
	d.Meds = strings.Join(meds, "\n")
	for _, cat := range events.Categories {
		row := consentRow{Category: cat}
		if k, ok := f.Consents[cat]; ok {
			row.Given, row.Partner, row.Since = true, k.PartnerID, k.Since
		}
		d.Consents = append(d.Consents, row)
	}
	if d.Care && c.d.Names != nil {
		for _, cat := range []string{events.CategoryCommunity, events.CategoryRehab} {
			k, ok := f.Consents[cat]
			if !ok {
				continue
			}
			for _, p := range c.d.Names.Partners(cat) {
				if k.PartnerID == "" || k.PartnerID == p.ID {
					d.ReferTo = append(d.ReferTo, p)
				}
			}
		}
	}
	c.render(w, r, s, http.StatusOK, "file", "file.title", d)
	return nil
}

func (c *Console) sendReferral(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx, cancel := reqCtx(r)
	defer cancel()
	res, err := c.d.Care.SendReferral(ctx, s.p.Actor(), events.ReferralSent{ClientID: r.PathValue("id"),
		PartnerID: r.PostFormValue("partner"), Reason: strings.TrimSpace(r.PostFormValue("reason"))})
	if err != nil {
		return err
	}
	return c.done(w, r, s, res.Position, "flash.referral")
}

// done ends a command: wait until the client file shows it, say so once,
// back to the file.
func (c *Console) done(w http.ResponseWriter, r *http.Request, s *session, pos uint64, flash string) error {
	ctx, cancel := reqCtx(r)
	defer cancel()
	if c.d.FilesW != nil {
		if err := c.d.FilesW.WaitFor(ctx, pos); err != nil {
			return err
		}
	}
	c.sess.setFlash(s, flash)
	back := "/console/clients/" + r.PathValue("id")
	if s.p.Partner && r.PostFormValue("back") == "queue" {
		back = "/console/queue"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}

func (c *Console) contact(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx, cancel := reqCtx(r)
	defer cancel()
	res, err := c.d.Care.RecordContact(ctx, s.p.Actor(), events.ContactMade{ClientID: r.PathValue("id"), StaffID: s.p.ID,
		Channel: r.PostFormValue("channel"), At: c.d.Now().UTC(), Note: strings.TrimSpace(r.PostFormValue("note"))})
	if err != nil {
		return err
	}
	return c.done(w, r, s, res.Position, "flash.contact")
}

func (c *Console) consent(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx, cancel := reqCtx(r)
	defer cancel()
	id, cat := r.PathValue("id"), r.PostFormValue("category")
	var pos uint64
	if r.PostFormValue("action") == "revoke" {
		res, err := c.d.Care.RevokeConsent(ctx, s.p.Actor(), events.ConsentRevoked{ClientID: id, Category: cat, Reason: strings.TrimSpace(r.PostFormValue("reason"))})
		if err != nil {
			return err
		}
		pos = res.Position
	} else {
		res, err := c.d.Care.GrantConsent(ctx, s.p.Actor(), events.ConsentGranted{ClientID: id, Category: cat, PartnerID: strings.TrimSpace(r.PostFormValue("partner"))})
		if err != nil {
			return err
		}
		pos = res.Position
	}
	return c.done(w, r, s, pos, "flash.consent")
}

func (c *Console) objective(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx, cancel := reqCtx(r)
	defer cancel()
	id, oid := r.PathValue("id"), r.PostFormValue("objective")
	var pos uint64
	if r.PostFormValue("action") == "abandoned" {
		res, err := c.d.Care.AbandonObjective(ctx, s.p.Actor(), events.ObjectiveAbandoned{ClientID: id, ObjectiveID: oid, Reason: strings.TrimSpace(r.PostFormValue("note"))})
		if err != nil {
			return err
		}
		pos = res.Position
	} else {
		res, err := c.d.Care.MeetObjective(ctx, s.p.Actor(), events.ObjectiveMet{ClientID: id, ObjectiveID: oid, Note: strings.TrimSpace(r.PostFormValue("note"))})
		if err != nil {
			return err
		}
		pos = res.Position
	}
	return c.done(w, r, s, pos, "flash.objective")
}

func (c *Console) notifyDoctor(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx, cancel := reqCtx(r)
	defer cancel()
	res, err := c.d.Care.NotifyDoctor(ctx, s.p.Actor(), events.DoctorNotified{ClientID: r.PathValue("id"),
		DoctorID: r.PostFormValue("doctor"), About: strings.TrimSpace(r.PostFormValue("about"))})
	if err != nil {
		return err
	}
	return c.done(w, r, s, res.Position, "flash.doctor")
}

func (c *Console) closeCase(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx, cancel := reqCtx(r)
	defer cancel()
	res, err := c.d.Care.Close(ctx, s.p.Actor(), events.CaseClosed{ClientID: r.PathValue("id"), Reason: strings.TrimSpace(r.PostFormValue("reason"))})
	if err != nil {
		return err
	}
	return c.done(w, r, s, res.Position, "flash.closed")
}

func (c *Console) confirmDoctor(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx, cancel := reqCtx(r)
	defer cancel()
	yes := r.PostFormValue("answer") == "yes"
	res, err := c.d.Care.ConfirmDoctor(ctx, s.p.Actor(), events.DoctorConfirmed{ClientID: r.PathValue("id"), DoctorID: s.p.ID, IsPatient: &yes})
	if err != nil {
		return err
	}
	return c.done(w, r, s, res.Position, "flash.answer")
}

func (c *Console) referral(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx, cancel := reqCtx(r)
	defer cancel()
	answer := r.PostFormValue("answer")
	if answer != "accepted" && answer != "declined" && answer != "completed" {
		answer = "accepted"
	}
	res, err := c.d.Care.AnswerReferral(ctx, s.p.Actor(), answer, events.ReferralAnswer{ClientID: r.PathValue("id"),
		ReferralID: r.PostFormValue("referral"), PartnerID: s.p.ID, Note: strings.TrimSpace(r.PostFormValue("note"))})
	if err != nil {
		return err
	}
	return c.done(w, r, s, res.Position, "flash.answer")
}

// parseMeds reads a pasted medication list: one per line, "name | dose |
// frequency" (a tab or " - " separates too; dose and frequency optional).
func parseMeds(text string) []events.Medication {
	var out []events.Medication
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		sep := "|"
		switch {
		case strings.Contains(line, "|"):
		case strings.Contains(line, "\t"):
			sep = "\t"
		case strings.Contains(line, " - "):
			sep = " - "
		}
		parts := strings.Split(line, sep)
		m := events.Medication{Name: strings.TrimSpace(parts[0])}
		if len(parts) > 1 {
			m.Dose = strings.TrimSpace(parts[1])
		}
		if len(parts) > 2 {
			m.Frequency = strings.TrimSpace(strings.Join(parts[2:], " "))
		}
		if m.Name != "" {
			out = append(out, m)
		}
	}
	return out
}

func (c *Console) medications(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx, cancel := reqCtx(r)
	defer cancel()
	res, err := c.d.Pharmacy.UpdateProfile(ctx, s.p.Actor(), events.MedicationProfileUpdated{ClientID: r.PathValue("id"),
		PharmacyID: s.p.ID, Medications: parseMeds(r.PostFormValue("medications"))})
	if err != nil {
		return err
	}
	return c.done(w, r, s, res.Position, "flash.medications")
}

func (c *Console) concern(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx, cancel := reqCtx(r)
	defer cancel()
	res, err := c.d.Pharmacy.RaiseConcern(ctx, s.p.Actor(), events.PharmacistConcernRaised{ClientID: r.PathValue("id"),
		PharmacyID: s.p.ID, Concern: strings.TrimSpace(r.PostFormValue("concern")), NeedsMedicalEvaluation: r.PostFormValue("evaluation") == "yes"})
	if err != nil {
		return err
	}
	return c.done(w, r, s, res.Position, "flash.concern")
}

// ---- programme manager, archivist ----

type programmeData struct {
	Unacked   []alerts.Alert
	Caseloads []caseload.Caseload
}

func (c *Console) programme(w http.ResponseWriter, r *http.Request, s *session) error {
	d := programmeData{Unacked: c.d.Alerts.Unacknowledged(), Caseloads: c.d.Caseloads.All(c.d.Now())}
	c.render(w, r, s, http.StatusOK, "programme", "programme.title", d)
	return nil
}

func (c *Console) outcomesSVG(w http.ResponseWriter, r *http.Request, s *session) error {
	var b bytes.Buffer
	if err := reports.WriteOutcomesSVG(&b, c.d.Reports.Outcomes(reports.OutcomeQuery{}), reports.MetricVisits, reports.InLanguage(langOf(r))); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	_, err := w.Write(b.Bytes())
	return err
}

func (c *Console) archiveQuery(s *session) reports.Query {
	q, _ := reports.ParseQuery("200", "", "", nil)
	q.IncludeIdentifiers = s.p.Role == events.RoleArchivist
	q.Exclude = archiveExclusions
	return q
}

func (c *Console) archive(w http.ResponseWriter, r *http.Request, s *session) error {
	rows := c.d.Reports.HighUtilizers(c.archiveQuery(s))
	c.render(w, r, s, http.StatusOK, "archive", "archive.title", rows)
	return nil
}

func (c *Console) archiveCSV(w http.ResponseWriter, r *http.Request, s *session) error {
	var b bytes.Buffer
	if err := reports.WriteHighUtilizersCSV(&b, c.d.Reports.HighUtilizers(c.archiveQuery(s))); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="grands-utilisateurs.csv"`)
	_, err := w.Write(b.Bytes())
	return err
}

// openFile goes to the file of the id typed in a form (a POST, so that
// what was typed never sits in a URL unless it is a valid id).
func (c *Console) openFile(w http.ResponseWriter, r *http.Request, s *session) error {
	id := strings.TrimSpace(r.PostFormValue("client"))
	if id == "" || strings.ContainsAny(id, "/?#%\\ ") || len(id) > 64 {
		c.refuse(w, r, s, http.StatusBadRequest, "err.status.400")
		return nil
	}
	to := "/console/clients/" + id
	if r.PostFormValue("what") == "access" {
		to += "/access"
		to = "/console/audit" + to[len("/console"):]
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

type accessData struct {
	ClientID string
	Entries  []accesslog.Entry
}

// accessLog is the access log of one client file: every read and every
// refusal, newest first (the auditor's view; it shows no health data).
func (c *Console) accessLog(w http.ResponseWriter, r *http.Request, s *session) error {
	if c.d.AccessLog == nil {
		return fmt.Errorf("console: no access log wired")
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	id := r.PathValue("id")
	entries, found, err := c.d.AccessLog.Load(ctx, id)
	if err != nil {
		return err
	}
	if !found {
		entries = nil
	}
	slices.Reverse(entries)
	c.render(w, r, s, http.StatusOK, "access", "access.title", accessData{ClientID: id, Entries: entries})
	return nil
}
