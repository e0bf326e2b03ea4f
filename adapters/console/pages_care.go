package console

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/relais-health/relais/adapters/httpapi"
	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/projections/alerts"
	"github.com/relais-health/relais/projections/clientfile"
)

// The case manager's pages beyond the file: the search across the
// territory, a new client, the enrolment with consents, the assessment with
// its support network (and the ecomap drawn from it), the plan and its
// objectives, and the alert summaries said in the page's language.

// programme is the programme the console enrols clients in.
const programme = "defi-sante"

// CareSetup is the case manager's commands that open and plan a case
// (services/casemgmt), the same the API's routes call.
type CareSetup interface {
	RegisterClient(ctx context.Context, actor events.Actor, r events.ClientRegistered) (ledger.Result, error)
	Flag(ctx context.Context, actor events.Actor, r events.ClientFlagged) (ledger.Result, error)
	AssignCaseManager(ctx context.Context, actor events.Actor, r events.CaseManagerAssigned) (ledger.Result, error)
	Enrol(ctx context.Context, actor events.Actor, r events.ClientEnrolled) (ledger.Result, error)
	CompleteAssessment(ctx context.Context, actor events.Actor, r events.AssessmentCompleted) (ledger.Result, error)
	CreatePlan(ctx context.Context, actor events.Actor, r events.PlanCreated) (ledger.Result, error)
	AddObjective(ctx context.Context, actor events.Actor, r events.ObjectiveAdded) (ledger.Result, error)
}

var errNotWired = errors.New("console: this page's service is not wired")

// ---- the search (Mes clients) ----

type searchRow struct {
	httpapi.SearchHit
	Mine bool
}

// search runs the API's client search (httpapi.SearchClients: the same
// matching, the same limit of 50) over every client. Like the API, it
// records nothing: a hit shows who a client is, not their health; opening
// the file is recorded.
func (c *Console) search(d *clientsData, s *session) {
	d.Searched = true
	if c.d.Search == nil {
		d.SearchErr = "err.status.500"
		return
	}
	hits, err := httpapi.SearchClients(c.d.Search, d.Search, 0)
	if err != nil {
		d.SearchErr = "clients.search.short"
		return
	}
	mine := map[string]bool{}
	for _, cl := range d.Load.Clients {
		mine[cl.ClientID] = true
	}
	for _, h := range hits {
		d.Results = append(d.Results, searchRow{SearchHit: h, Mine: mine[h.ClientID]})
	}
	d.Limited = len(hits) == searchLimit
}

// searchLimit is httpapi.SearchClients's limit when none is asked.
const searchLimit = 50

// ---- a new client ----

func (c *Console) newClient(w http.ResponseWriter, r *http.Request, s *session) error {
	c.render(w, r, s, http.StatusOK, "enrol", "new.title", nil)
	return nil
}

// registerClient registers the client (the API's POST /v1/clients) with
// their health-insurance number, then opens their new file.
func (c *Console) registerClient(w http.ResponseWriter, r *http.Request, s *session) error {
	if c.d.Setup == nil {
		return errNotWired
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	ramq := strings.ToUpper(strings.Join(strings.Fields(r.PostFormValue("ramq")), ""))
	req := events.ClientRegistered{GivenName: strings.TrimSpace(r.PostFormValue("given")),
		FamilyName: strings.TrimSpace(r.PostFormValue("family")), BirthDate: strings.TrimSpace(r.PostFormValue("birth"))}
	if ramq != "" {
		req.Identifiers = []events.Identifier{{Authority: "RAMQ", Value: ramq}}
	}
	res, err := c.d.Setup.RegisterClient(ctx, s.p.Actor(), req)
	if err != nil {
		return err
	}
	id := strings.TrimPrefix(res.Stream, events.ClientStream(""))
	return c.doneAt(w, r, s, res.Position, "flash.client.registered", id, "")
}

// doneAt is done for a client named by id, at an anchor of its file.
func (c *Console) doneAt(w http.ResponseWriter, r *http.Request, s *session, pos uint64, flash, id, anchor string) error {
	ctx, cancel := reqCtx(r)
	defer cancel()
	if c.d.FilesW != nil {
		if err := c.d.FilesW.WaitFor(ctx, pos); err != nil {
			return err
		}
	}
	c.sess.setFlash(s, flash)
	to := "/console/clients/" + url.PathEscape(id)
	if anchor != "" {
		to += "#" + url.PathEscape(anchor)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// ---- enrolment with consents ----

// enrol flags the client for the programme (nothing when already), makes
// the caller their case manager when asked, and enrols them with the
// consents ticked: the three commands of the API, in the order the
// service requires.
func (c *Console) enrol(w http.ResponseWriter, r *http.Request, s *session) error {
	if c.d.Setup == nil {
		return errNotWired
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	id, a := r.PathValue("id"), s.p.Actor()
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("%w: %v", httpapi.ErrBadJSON, err)
	}
	res, err := c.d.Setup.Flag(ctx, a, events.ClientFlagged{ClientID: id, Programme: programme, Reason: "inscription au programme / enrolment"})
	if err != nil {
		return err
	}
	pos := res.Position
	if r.PostFormValue("me") == "yes" && s.p.Role == events.RoleCaseManager {
		if res, err = c.d.Setup.AssignCaseManager(ctx, a, events.CaseManagerAssigned{ClientID: id, StaffID: s.p.ID}); err != nil {
			return err
		}
		pos = max(pos, res.Position)
	}
	if res, err = c.d.Setup.Enrol(ctx, a, events.ClientEnrolled{ClientID: id, Programme: programme, Consents: r.PostForm["consent"]}); err != nil {
		return err
	}
	return c.doneAt(w, r, s, max(pos, res.Position), "flash.enrolled", id, "h-consent")
}

// ---- assessment and support network ----

// assessRows is how many member lines the assessment form offers at least.
const (
	assessRows   = 6
	assessRowMax = 30
)

type memberRow struct {
	N int
	events.NetworkMember
}

type partnerGroup struct {
	Category string
	Partners []Partner
}

type assessData struct {
	F        clientfile.File
	Rows     []memberRow
	Groups   []partnerGroup
	Category []string
}

func (c *Console) partnerGroups() []partnerGroup {
	var out []partnerGroup
	if c.d.Names == nil {
		return nil
	}
	for _, cat := range []string{events.CategoryDoctor, events.CategoryPharmacy, events.CategoryCommunity, events.CategoryRehab} {
		if ps := c.d.Names.Partners(cat); len(ps) > 0 {
			out = append(out, partnerGroup{Category: cat, Partners: ps})
		}
	}
	return out
}

// readFile reads a client file for a page, as the Dossier does: the
// projection decides what the viewer sees, the read is recorded (no record,
// no page), a refusal is recorded too.
func (c *Console) readFile(r *http.Request, s *session, id, view string) (clientfile.File, error) {
	f, err := c.d.Files.FileFor(id, clientfile.Viewer{ActorID: s.p.ID, Role: s.p.Role})
	ctx, cancel := reqCtx(r)
	defer cancel()
	if err != nil {
		if httpapi.StatusOf(err) == http.StatusForbidden {
			reason := events.DenialForbidden
			switch {
			case errors.Is(err, clientfile.ErrNoConsent):
				reason = events.DenialNoConsent
			case errors.Is(err, clientfile.ErrForbidden):
				reason = events.DenialRole
			}
			if _, rerr := c.d.Access.RecordDenial(ctx, s.p.Actor(), id, view, reason); rerr != nil {
				c.d.Log.Sugar().Errorw("refused file read not recorded", "actor", s.p.ID, "client", id, "error", rerr)
			}
		}
		return f, err
	}
	if _, err := c.d.Access.RecordAccess(ctx, s.p.Actor(), id, view); err != nil {
		return clientfile.File{}, err
	}
	return f, nil
}

// assessPage is the needs-assessment form, filled with the network known
// so far (a read of the file, recorded as view console.assessment).
func (c *Console) assessPage(w http.ResponseWriter, r *http.Request, s *session) error {
	f, err := c.readFile(r, s, r.PathValue("id"), "console.assessment")
	if err != nil {
		return err
	}
	d := assessData{F: f, Groups: c.partnerGroups(), Category: events.Categories}
	for i, m := range f.SupportNetwork {
		d.Rows = append(d.Rows, memberRow{N: i, NetworkMember: m})
	}
	for n := len(d.Rows); n < max(assessRows, len(f.SupportNetwork)+3) && n < assessRowMax; n++ {
		d.Rows = append(d.Rows, memberRow{N: n, NetworkMember: events.NetworkMember{Category: events.CategoryFamily}})
	}
	c.render(w, r, s, http.StatusOK, "assess", "assess.title", d)
	return nil
}

// networkFromForm reads the member lines: a line with neither name nor
// partner is left out; a partner from the directory gives its category,
// and its name when none was typed.
func (c *Console) networkFromForm(r *http.Request) []events.NetworkMember {
	catOf := map[string]string{}
	for _, g := range c.partnerGroups() {
		for _, p := range g.Partners {
			catOf[p.ID] = g.Category
		}
	}
	var out []events.NetworkMember
	for n := range assessRowMax {
		k := strconv.Itoa(n)
		m := events.NetworkMember{Category: r.PostFormValue("cat-" + k), Name: strings.TrimSpace(r.PostFormValue("name-" + k)),
			PartnerID: strings.TrimSpace(r.PostFormValue("partner-" + k)), Phone: strings.TrimSpace(r.PostFormValue("phone-" + k))}
		if m.Name == "" && m.PartnerID == "" {
			continue
		}
		if cat, ok := catOf[m.PartnerID]; ok {
			m.Category = cat
			if m.Name == "" {
				m.Name = c.name(m.PartnerID)
			}
		}
		out = append(out, m)
	}
	return out
}

func (c *Console) assess(w http.ResponseWriter, r *http.Request, s *session) error {
	if c.d.Setup == nil {
		return errNotWired
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	id := r.PathValue("id")
	res, err := c.d.Setup.CompleteAssessment(ctx, s.p.Actor(), events.AssessmentCompleted{ClientID: id, StaffID: s.p.ID,
		SupportNetwork: c.networkFromForm(r), Summary: strings.TrimSpace(r.PostFormValue("summary"))})
	if err != nil {
		return err
	}
	return c.doneAt(w, r, s, res.Position, "flash.assessment", id, "h-network")
}

// ---- plan and objectives ----

func createdID(res ledger.Result, get func(events.Payload) string) string {
	for _, e := range res.Events {
		if pl, err := e.Payload(); err == nil {
			if id := get(pl); id != "" {
				return id
			}
		}
	}
	return ""
}

func (c *Console) createPlan(w http.ResponseWriter, r *http.Request, s *session) error {
	if c.d.Setup == nil {
		return errNotWired
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	id := r.PathValue("id")
	res, err := c.d.Setup.CreatePlan(ctx, s.p.Actor(), events.PlanCreated{ClientID: id})
	if err != nil {
		return err
	}
	pid := createdID(res, func(p events.Payload) string {
		if v, ok := p.(*events.PlanCreated); ok {
			return v.PlanID
		}
		return ""
	})
	return c.doneAt(w, r, s, res.Position, "flash.plan", id, "plan-"+pid)
}

func (c *Console) addObjective(w http.ResponseWriter, r *http.Request, s *session) error {
	if c.d.Setup == nil {
		return errNotWired
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	id := r.PathValue("id")
	res, err := c.d.Setup.AddObjective(ctx, s.p.Actor(), events.ObjectiveAdded{ClientID: id, PlanID: r.PostFormValue("plan"),
		Description: strings.TrimSpace(r.PostFormValue("description")), Means: strings.TrimSpace(r.PostFormValue("means")),
		ResponsiblePartner: r.PostFormValue("responsible"), TargetDate: r.PostFormValue("target")})
	if err != nil {
		return err
	}
	oid := createdID(res, func(p events.Payload) string {
		if v, ok := p.(*events.ObjectiveAdded); ok {
			return v.ObjectiveID
		}
		return ""
	})
	return c.doneAt(w, r, s, res.Position, "flash.objective.added", id, "obj-"+oid)
}

// ---- what the Dossier adds for these ----

// careFile is the Dossier's part for the pages above.
type careFile struct {
	Ecomap   template.HTML // the support network drawn, inline SVG
	Enrol    bool          // the enrolment form is offered
	Flagged  bool          // already on the programme's watch list
	AssignMe bool          // the caller may become the case manager
	Partners []partnerGroup
}

func (c *Console) careFile(s *session, f clientfile.File, care bool, l L) careFile {
	cf := careFile{}
	if f.Assessment != nil || len(f.SupportNetwork) > 0 {
		name := [2]string{f.GivenName, f.FamilyName}
		if strings.TrimSpace(name[0]+name[1]) == "" {
			name = [2]string{f.ClientID, ""}
		}
		cf.Ecomap = ecomap(l, name, f.SupportNetwork)
	}
	if !care {
		return cf
	}
	cf.Enrol = f.Enrolment == nil || f.Closure != nil
	cf.Flagged = slices.ContainsFunc(f.Flags, func(x clientfile.Flag) bool { return x.Programme == programme })
	cf.AssignMe = s.p.Role == events.RoleCaseManager && f.CaseManager == nil
	cf.Partners = c.partnerGroups()
	return cf
}

// ---- the ecomap ----

// The ecomap's drawing: the client in the centre, the members on an
// ellipse around, each linked to the centre, labelled with name and
// category (above the node in the upper half, below it otherwise, so no
// label crosses a link). Classes only (console.css colours them by
// category): the Content-Security-Policy allows no style attribute.
const (
	ecoW, ecoH     = 560, 400
	ecoCX, ecoCY   = 280, 200
	ecoRX, ecoRY   = 190, 125
	ecoR, ecoRC    = 24, 50
	ecoLabelRunes  = 22
	ecoCentreRunes = 11
)

func short(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// ecoPoint is where the i-th of n members sits.
func ecoPoint(i, n int) (x, y, sin float64) {
	a := -math.Pi/2 + 2*math.Pi*float64(i)/float64(n)
	return ecoCX + ecoRX*math.Cos(a), ecoCY + ecoRY*math.Sin(a), math.Sin(a)
}

// ecomap draws the support network as inline SVG with a title and a
// description a screen reader says (the page has the same as a table).
// client is the client's given and family name.
func ecomap(l L, client [2]string, members []events.NetworkMember) template.HTML {
	esc := template.HTMLEscapeString
	whole := strings.TrimSpace(client[0] + " " + client[1])
	var b strings.Builder
	var desc string
	if len(members) == 0 {
		desc = l.Tf("eco.empty", whole)
	} else {
		parts := make([]string, len(members))
		for i, m := range members {
			parts[i] = m.Name + " (" + l.Enum("cat", m.Category) + ")"
		}
		desc = l.Tf("eco.desc", whole, len(members), strings.Join(parts, ", "))
	}
	// The drawing ends below its lowest label: a small network leaves no
	// empty band at the bottom.
	bottom := float64(ecoCY + ecoRC)
	for i := range members {
		if _, y, sin := ecoPoint(i, len(members)); sin >= -0.3 {
			bottom = max(bottom, y+ecoR+32)
		}
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="ecomap" viewBox="0 0 %d %d" role="img" aria-labelledby="eco-title eco-desc">`, ecoW, min(ecoH, int(bottom)+12))
	fmt.Fprintf(&b, `<title id="eco-title">%s</title><desc id="eco-desc">%s</desc>`, esc(l.Tf("eco.title", whole)), esc(desc))
	b.WriteString(`<g class="eco-links">`)
	for i, m := range members {
		x, y, _ := ecoPoint(i, len(members))
		fmt.Fprintf(&b, `<line class="eco-link eco-%s" x1="%d" y1="%d" x2="%.1f" y2="%.1f"/>`, esc(m.Category), ecoCX, ecoCY, x, y)
	}
	b.WriteString(`</g>`)
	fmt.Fprintf(&b, `<g class="eco-client"><circle cx="%d" cy="%d" r="%d"/>`, ecoCX, ecoCY, ecoRC)
	lines := []string{client[0], client[1]}
	if client[1] == "" {
		lines = lines[:1]
	}
	for k, s := range lines {
		y := ecoCY + 6 + 18*k - 9*(len(lines)-1)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`, ecoCX, y, esc(short(s, ecoCentreRunes)))
	}
	b.WriteString(`</g>`)
	for i, m := range members {
		x, y, sin := ecoPoint(i, len(members))
		ny, cy := y+ecoR+17, y+ecoR+32 // below the node
		if sin < -0.3 {
			ny, cy = y-ecoR-22, y-ecoR-8 // above it
		}
		fmt.Fprintf(&b, `<g class="eco-member eco-%s"><title>%s</title><circle cx="%.1f" cy="%.1f" r="%d"/>`,
			esc(m.Category), esc(m.Name+" — "+l.Enum("cat", m.Category)), x, y, ecoR)
		fmt.Fprintf(&b, `<text class="eco-initial" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x, y+6, esc(initial(m.Name)))
		fmt.Fprintf(&b, `<text class="eco-name" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x, ny, esc(short(m.Name, ecoLabelRunes)))
		fmt.Fprintf(&b, `<text class="eco-cat" x="%.1f" y="%.1f" text-anchor="middle">%s</text></g>`, x, cy, esc(l.Enum("cat", m.Category)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text above is escaped
}

func initial(name string) string {
	for _, r := range name {
		return strings.ToUpper(string(r))
	}
	return "?"
}

// ---- alert summaries in the page's language ----

// Summary is what an alert says, in the page's language, from its facts
// (the same minimum as the stored summary, which stays the fallback for
// alerts raised before facts existed and for a withdrawn partner alert).
func (v view) Summary(a alerts.Alert) string {
	l := v.L
	f := a.Facts
	if f == nil {
		if a.Withdrawn && a.Summary == "Retiré / withdrawn" {
			return l.T("queue.withdrawn")
		}
		return a.Summary
	}
	var out string
	switch a.Kind {
	case "ed.arrival", "ed.arrival.amended":
		switch {
		case f.Family != "": // the staff's alert
			who := a.ClientID
			if f.Name != "" {
				who = f.Name + " (" + a.ClientID + ")"
			}
			out = l.Tf("queue.summary.arrival", who, f.Facility, l.Date(f.At))
			if f.Reason != "" {
				out += " " + l.Tf("queue.summary.reason", f.Reason)
			}
			out += " " + l.T("queue.summary.family."+f.Family)
		case f.Facility != "": // the family doctor's
			out = l.Tf("queue.summary.doctor", a.ClientID, f.Facility, l.Date(f.At))
		default:
			out = l.Tf("queue.summary.other", a.ClientID, l.Date(f.At))
		}
		if a.Kind == "ed.arrival.amended" {
			out = l.Tf("queue.summary.correction", out)
		}
	case "pharmacist.concern":
		out = l.Tf("queue.summary.concern", a.ClientID, f.Text)
		if f.Evaluation {
			out += l.T("queue.summary.evaluation")
		}
	case "doctor.notified":
		out = l.Tf("queue.summary.notified", a.ClientID, f.Text)
	case "objective.met":
		out = l.Tf("queue.summary.objective", f.Ref, a.ClientID)
	case "referral.received":
		out = l.Tf("queue.summary.referral", f.Ref, a.ClientID, f.Text)
	case "referral.answered":
		if f.Verdict != "accepted" && f.Verdict != "declined" {
			return a.Summary
		}
		out = l.Tf("queue.summary."+f.Verdict, f.Ref, v.Name(f.Partner), a.ClientID)
		if f.Text != "" {
			out += l.Tf("queue.summary.note", f.Text)
		}
	case "feed.gap":
		out = l.Tf("queue.summary.gap", f.Facility, f.From, f.To)
	case "feed.silent":
		out = l.Tf("queue.summary.silent", f.Facility, l.Date(f.At))
	default:
		return a.Summary
	}
	return out
}

func init() {
	funcs["inc"] = func(n int) int { return n + 1 }
}
