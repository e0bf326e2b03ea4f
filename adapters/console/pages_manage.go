package console

// The programme manager's, archivist's and auditor's pages beyond the
// dashboard: hospital feed health with webhook dead letters and set-aside
// events, the staff and partner directory (register, rotate or revoke a
// credential), the top-N list frozen at an instant beside today's, the
// ledger's verification and a projection replayed to an instant. Each
// route takes the roles of the API route doing the same thing.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/relais-health/relais/adapters/httpapi"
	"github.com/relais-health/relais/delivery/webhook"
	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/projections"
	"github.com/relais-health/relais/projections/caseload"
	"github.com/relais-health/relais/projections/clientfile"
	"github.com/relais-health/relais/projections/directory"
	"github.com/relais-health/relais/projections/rebuild"
	"github.com/relais-health/relais/projections/reports"
	"github.com/relais-health/relais/services"
	svcdirectory "github.com/relais-health/relais/services/directory"
)

// People lists the directory: every staff member and partner.
type People interface {
	All() []directory.Entry
}

// Replayer feeds a fresh read model from position 1 of the ledger up to
// until (projections/rebuild.Replay over the running ledger).
type Replayer interface {
	Replay(ctx context.Context, until rebuild.Until, a rebuild.Applier) (rebuild.Stats, error)
}

// Verifier runs the ledger's verification (what `relais verify` runs:
// ledger.Verify, hash chains, positions, ids, seals) in the background,
// one run at a time.
type Verifier interface {
	// Start begins a run unless one is running (false then).
	Start(by string) bool
	Status() VerifyStatus
}

// VerifyStatus is the verification's last or current run.
type VerifyStatus struct {
	Running           bool
	By                string
	Started, Finished time.Time
	// Done is the last position checked; Head the head at the start.
	Done, Head uint64
	OK         bool
	Report     ledger.VerifyReport
	// Broken names the first bad event; Err any other failure.
	Broken, Err string
}

// AsideRetrier runs a set-aside event through its projection again (as
// POST /v1/set-aside/{id}/retry): applied, it leaves the list; failing
// again (projections.ErrRetryFailed), it stays with the new error.
type AsideRetrier interface {
	RetrySetAside(ctx context.Context, id string) (projections.DeadLetter, error)
}

// Roles of these pages, as the API's routes have them.
var (
	auditRoles   = []string{events.RoleAuditor, events.RoleProgrammeManager, events.RoleAdmin}
	archiveRoles = []string{events.RoleArchivist, events.RoleProgrammeManager, events.RoleAdmin}
	replayRoles  = []string{events.RoleAuditor, events.RoleAdmin}
	adminRoles   = []string{events.RoleAdmin}
)

// archiveExclusions are the visit reason categories the archive's lists
// leave out (the reports' default), named on the page.
var archiveExclusions = []string{"obstetric"}

func (c *Console) manageRoutes() {
	c.page("GET /console/programme/feeds", managerRoles, c.feeds)
	c.page("POST /console/programme/feeds/retry", managerRoles, c.retryDeadLetter)
	c.page("POST /console/programme/feeds/aside/retry", managerRoles, c.retryAside)
	c.page("GET /console/programme/directory", managerRoles, c.directory)
	c.page("POST /console/programme/directory/partners", managerRoles, c.registerPartner)
	c.page("POST /console/programme/directory/staff", adminRoles, c.registerStaff)
	c.page("POST /console/programme/directory/token", adminRoles, c.credential)
	c.page("GET /console/archive/frozen", archiveRoles, c.frozen)
	c.page("POST /console/audit/verify", replayRoles, c.startVerify)
	c.page("POST /console/audit/replay", replayRoles, c.replay)
}

// ---- feeds, dead letters, set-aside ----

type feedsData struct {
	Feeds    []httpapi.FeedStatus
	Dead     []webhook.DeadLetter
	DeadErr  string
	SetAside []projections.DeadLetter
	// SilenceSeconds is the silence that raises the alarm.
	SilenceSeconds int64
	// RetryAside: set-aside events can be retried from the page.
	RetryAside bool
}

func (c *Console) feeds(w http.ResponseWriter, r *http.Request, s *session) error {
	if c.d.Feeds == nil || c.d.Hooks == nil || c.d.SetAside == nil {
		return errors.New("console: feeds, webhooks or set-aside not wired")
	}
	d := feedsData{Feeds: httpapi.FeedStatuses(c.d.Feeds, c.d.Alerts), SetAside: c.d.SetAside.SetAside(), RetryAside: c.d.RetryAside != nil}
	if len(d.Feeds) > 0 {
		d.SilenceSeconds = d.Feeds[0].SilenceAfterSeconds
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	dl, err := c.d.Hooks.DeadLetters(ctx)
	if err != nil {
		// The feeds still show; the dead letters say they could not be read.
		c.d.Log.Sugar().Warnw("console: webhook dead letters unreadable", "error", err)
		d.DeadErr = "programme.dead.unreadable"
	}
	sort.Slice(dl, func(i, j int) bool { return dl[i].FailedAt.After(dl[j].FailedAt) })
	d.Dead = dl
	c.render(w, r, s, http.StatusOK, "feeds", "feeds.title", d)
	return nil
}

func (c *Console) retryDeadLetter(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx, cancel := reqCtx(r)
	defer cancel()
	if err := c.d.Hooks.Retry(ctx, r.PostFormValue("id")); err != nil {
		return err
	}
	c.sess.setFlash(s, "flash.retried")
	http.Redirect(w, r, "/console/programme/feeds", http.StatusSeeOther)
	return nil
}

// retryAside retries one set-aside event; one that fails again stays in
// the list with its new error (said as a flash, not an error page).
func (c *Console) retryAside(w http.ResponseWriter, r *http.Request, s *session) error {
	if c.d.RetryAside == nil {
		return fmt.Errorf("%w: retrying set-aside events is not wired", services.ErrBadRequest)
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	_, err := c.d.RetryAside.RetrySetAside(ctx, r.PostFormValue("id"))
	switch {
	case err == nil:
		c.sess.setFlash(s, "flash.aside.applied")
	case errors.Is(err, projections.ErrRetryFailed):
		c.sess.setFlash(s, "flash.aside.failed")
	default:
		return err
	}
	http.Redirect(w, r, "/console/programme/feeds#h-aside", http.StatusSeeOther)
	return nil
}

// ---- the directory ----

type directoryData struct {
	Staff, Partners []directory.Entry
	Admin           bool
	// Issued is a token just issued: shown on this page, once, and
	// nowhere else (never in a URL, a flash or a log).
	Issued     *svcdirectory.Registered
	IssuedName string
	Revoked    string
	Categories []string
	StaffRoles []string
}

func (c *Console) directoryView(s *session) directoryData {
	d := directoryData{Admin: s.p.Role == events.RoleAdmin,
		Categories: []string{events.CategoryDoctor, events.CategoryPharmacy, events.CategoryCommunity, events.CategoryRehab}}
	for _, r := range events.StaffRoles {
		if r != events.RoleSystem {
			d.StaffRoles = append(d.StaffRoles, r)
		}
	}
	if c.d.People != nil {
		all := c.d.People.All()
		sort.Slice(all, func(i, j int) bool {
			if all[i].Role != all[j].Role {
				return all[i].Role < all[j].Role
			}
			return all[i].ID < all[j].ID
		})
		for _, e := range all {
			if e.IsPartner() {
				d.Partners = append(d.Partners, e)
			} else {
				d.Staff = append(d.Staff, e)
			}
		}
	}
	return d
}

func (c *Console) directory(w http.ResponseWriter, r *http.Request, s *session) error {
	c.render(w, r, s, http.StatusOK, "directory", "directory.title", c.directoryView(s))
	return nil
}

// issued shows the directory with the token just issued, once: the
// response to the form's POST itself, so the token is in no URL.
func (c *Console) issued(w http.ResponseWriter, r *http.Request, s *session, status int, reg svcdirectory.Registered, flash string) {
	d := c.directoryView(s)
	d.Issued, d.IssuedName = &reg, c.name(reg.ID)
	c.sess.setFlash(s, flash)
	c.render(w, r, s, status, "directory", "directory.title", d)
}

func (c *Console) registerPartner(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx, cancel := reqCtx(r)
	defer cancel()
	reg, err := c.d.Directory.RegisterPartner(ctx, s.p.Actor(), events.PartnerRegistered{PartnerID: strings.TrimSpace(r.PostFormValue("id")),
		Category: r.PostFormValue("category"), Name: strings.TrimSpace(r.PostFormValue("name")), WebhookURL: strings.TrimSpace(r.PostFormValue("webhook"))})
	if err != nil {
		return err
	}
	c.issued(w, r, s, http.StatusCreated, reg, "flash.registered")
	return nil
}

func (c *Console) registerStaff(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx, cancel := reqCtx(r)
	defer cancel()
	reg, err := c.d.Directory.RegisterStaff(ctx, s.p.Actor(), events.StaffRegistered{StaffID: strings.TrimSpace(r.PostFormValue("id")),
		Role: r.PostFormValue("role"), Name: strings.TrimSpace(r.PostFormValue("name"))})
	if err != nil {
		return err
	}
	c.issued(w, r, s, http.StatusCreated, reg, "flash.registered")
	return nil
}

// credential rotates (a new token, the old one fails at once) or revokes
// (no token at all) a staff member's or partner's bearer token.
func (c *Console) credential(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx, cancel := reqCtx(r)
	defer cancel()
	kind, id := r.PostFormValue("kind"), r.PostFormValue("id")
	if kind != svcdirectory.KindStaff && kind != svcdirectory.KindPartner {
		c.refuse(w, r, s, http.StatusBadRequest, "err.status.400")
		return nil
	}
	if r.PostFormValue("action") == "revoke" {
		if _, err := c.d.Directory.RevokeToken(ctx, s.p.Actor(), kind, id, strings.TrimSpace(r.PostFormValue("reason"))); err != nil {
			return err
		}
		c.sess.setFlash(s, "flash.revoked")
		http.Redirect(w, r, "/console/programme/directory", http.StatusSeeOther)
		return nil
	}
	reg, err := c.d.Directory.RotateToken(ctx, s.p.Actor(), kind, id)
	if err != nil {
		return err
	}
	c.issued(w, r, s, http.StatusCreated, reg, "flash.rotated")
	return nil
}

// ---- the frozen top-N list ----

type frozenRow struct {
	Key       string // client id or patient key
	Client    bool
	Then, Now *reports.Row
	// Change: entered, left, up, down, same.
	Change string
	Moved  int // places gained (up) or lost (down)
}

type frozenData struct {
	At         time.Time
	AtInput    string
	Stats      rebuild.Stats
	Rows       []frozenRow
	Entered    int
	Left       int
	Moved      int
	Exclusions []string
	Empty      bool // nothing was recorded by then
}

// parseInstant reads the form's datetime-local (or date) as Montreal time;
// a date alone is the end of that day.
func (c *Console) parseInstant(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	for _, f := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(f, v, c.loc); err == nil {
			return t, nil
		}
	}
	if t, err := time.ParseInLocation("2006-01-02", v, c.loc); err == nil {
		return t.AddDate(0, 0, 1), nil
	}
	return time.Time{}, fmt.Errorf("%w: %q is not a date (2026-12-02) or a date and time (2026-12-02T14:05)", services.ErrBadRequest, v)
}

// frozen is the list as it stood at an instant (the reports projection
// replayed from the ledger up to what was recorded by then, its window
// ending then) beside today's: who entered, who left, who moved.
func (c *Console) frozen(w http.ResponseWriter, r *http.Request, s *session) error {
	if c.d.Replay == nil {
		return errors.New("console: no replay wired")
	}
	at, err := c.parseInstant(r.URL.Query().Get("at"))
	if err != nil {
		return err
	}
	ctx := r.Context()
	then := reports.New(reports.Config{})
	st, err := c.replayTo(ctx, at, then)
	if err != nil {
		return c.replayFailed(w, r, s, err)
	}
	q := c.archiveQuery(s)
	now := c.d.Reports.HighUtilizers(q)
	q.End = at
	d := frozenData{At: at, AtInput: at.In(c.loc).Format("2006-01-02T15:04:05"), Stats: st, Exclusions: q.Exclude, Empty: st.Events == 0}
	d.Rows = compareLists(then.HighUtilizers(q), now)
	for _, row := range d.Rows {
		switch row.Change {
		case "entered":
			d.Entered++
		case "left":
			d.Left++
		case "up", "down":
			d.Moved++
		}
	}
	c.render(w, r, s, http.StatusOK, "frozen", "frozen.title", d)
	return nil
}

// replayBound is how long a replay may run in a page's request.
var replayBound = 2 * time.Minute // a var: the tests shorten it

// errReplayTooLong: the replay did not finish within replayBound.
var errReplayTooLong = errors.New("replay too long for the console")

// replayTo replays the ledger into a up to at, within replayBound; a
// replay cut short says where it stood.
func (c *Console) replayTo(ctx context.Context, at time.Time, a rebuild.Applier) (rebuild.Stats, error) {
	ctx, cancel := context.WithTimeout(ctx, replayBound)
	defer cancel()
	p := &positions{a: a}
	st, err := c.d.Replay.Replay(ctx, rebuild.Until{Time: at}, p)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return st, fmt.Errorf("%w: stopped after %s at position %d", errReplayTooLong, replayBound, p.last)
	}
	return st, err
}

// replayFailed shows a replay cut short as such (use `relais replay`),
// any other failure as the error table says.
func (c *Console) replayFailed(w http.ResponseWriter, r *http.Request, s *session, err error) error {
	if !errors.Is(err, errReplayTooLong) {
		return err
	}
	c.render(w, r, s, http.StatusServiceUnavailable, "error", "err.title", errorPage{Key: "err.replay.long", Status: http.StatusServiceUnavailable, Detail: err.Error()})
	return nil
}

// positions counts what a replay applied (where a cut-short one stood).
type positions struct {
	a    rebuild.Applier
	last uint64
}

func (p *positions) Apply(ctx context.Context, e events.Event) error {
	if err := p.a.Apply(ctx, e); err != nil {
		return err
	}
	p.last = e.Position
	return nil
}

// compareLists pairs the rows of two lists by client (or patient key):
// today's order first, then those who left.
func compareLists(then, now []reports.Row) []frozenRow {
	key := func(r reports.Row) string {
		if r.ClientID != "" {
			return r.ClientID
		}
		return r.PatientKey
	}
	before := map[string]*reports.Row{}
	for i := range then {
		before[key(then[i])] = &then[i]
	}
	var out []frozenRow
	seen := map[string]bool{}
	for i := range now {
		k := key(now[i])
		seen[k] = true
		row := frozenRow{Key: k, Client: now[i].ClientID != "", Now: &now[i], Then: before[k]}
		switch {
		case row.Then == nil:
			row.Change = "entered"
		case row.Then.Rank > row.Now.Rank:
			row.Change, row.Moved = "up", row.Then.Rank-row.Now.Rank
		case row.Then.Rank < row.Now.Rank:
			row.Change, row.Moved = "down", row.Now.Rank-row.Then.Rank
		default:
			row.Change = "same"
		}
		out = append(out, row)
	}
	for i := range then {
		if k := key(then[i]); !seen[k] {
			out = append(out, frozenRow{Key: k, Client: then[i].ClientID != "", Then: &then[i], Change: "left"})
		}
	}
	return out
}

// ---- the auditor: verification and replay ----

type auditData struct {
	Verify    *VerifyStatus
	CanRun    bool
	Replay    *replayData
	DefaultAt string
}

type replayData struct {
	Projection string
	At         time.Time
	AtInput    string
	ClientID   string
	Stats      rebuild.Stats
	Digest     string
	// One of these, by projection.
	Reports   *replayReports
	Caseloads []caseload.Caseload
	File      *clientfile.File
	Clients   int
	Staff     int
	Partners  int
}

type replayReports struct {
	Top    []reports.Row
	Listed int
}

// replayable are the projections the auditor may replay to an instant.
var replayable = []string{"reports", "caseload", "clientfile", "directory"}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, s *session) error {
	c.render(w, r, s, http.StatusOK, "audit", "audit.title", c.auditView(s))
	return nil
}

func (c *Console) auditView(s *session) auditData {
	d := auditData{CanRun: slices.Contains(replayRoles, s.p.Role), DefaultAt: c.d.Now().In(c.loc).Format("2006-01-02T15:04:05")}
	if c.d.Verify != nil {
		st := c.d.Verify.Status()
		d.Verify = &st
	}
	return d
}

func (c *Console) startVerify(w http.ResponseWriter, r *http.Request, s *session) error {
	if c.d.Verify == nil {
		return errors.New("console: no verifier wired")
	}
	flash := "flash.verify.started"
	if !c.d.Verify.Start(s.p.ID) {
		flash = "flash.verify.running"
	}
	c.sess.setFlash(s, flash)
	http.Redirect(w, r, "/console/audit#h-verify", http.StatusSeeOther)
	return nil
}

// replay rebuilds one projection from the ledger up to an instant and
// shows its state then; a client's file replayed is a read of that file,
// recorded like any other (view console.replay).
func (c *Console) replay(w http.ResponseWriter, r *http.Request, s *session) error {
	if c.d.Replay == nil {
		return errors.New("console: no replay wired")
	}
	proj := r.PostFormValue("projection")
	if !slices.Contains(replayable, proj) {
		return fmt.Errorf("%w: projection %q: one of %s", services.ErrBadRequest, proj, strings.Join(replayable, ", "))
	}
	at, err := c.parseInstant(r.PostFormValue("at"))
	if err != nil {
		return err
	}
	rd := &replayData{Projection: proj, At: at, AtInput: at.In(c.loc).Format("2006-01-02T15:04:05")}
	client := strings.TrimSpace(r.PostFormValue("client"))
	if proj == "clientfile" {
		if client == "" || !events.ValidStreamName(client) {
			return fmt.Errorf("%w: the client file's replay needs a client id", services.ErrBadRequest)
		}
		rd.ClientID = client
	}
	var (
		a      rebuild.Applier
		after  func()
		digest func() string
	)
	switch proj {
	case "reports":
		p := reports.New(reports.Config{})
		a, digest = p, p.Digest
		after = func() {
			q := c.archiveQuery(s)
			q.End = at
			rows := p.HighUtilizers(q)
			rd.Reports = &replayReports{Listed: len(rows), Top: rows[:min(len(rows), 10)]}
		}
	case "caseload":
		p := caseload.New(caseload.Config{})
		a, digest = p, p.Digest
		after = func() { rd.Caseloads = p.All(at) }
	case "clientfile":
		p := clientfile.New()
		a, digest = p, p.Digest
		after = func() {
			rd.Clients = len(p.Clients())
			if f, ok := p.File(client); ok {
				rd.File = &f
			}
		}
	case "directory":
		p := directory.New()
		a, digest = p, func() string { return "" }
		after = func() {
			for _, e := range p.All() {
				if e.IsPartner() {
					rd.Partners++
				} else {
					rd.Staff++
				}
			}
		}
	}
	if proj == "clientfile" {
		ctx, cancel := reqCtx(r)
		_, err := c.d.Access.RecordAccess(ctx, s.p.Actor(), client, "console.replay")
		cancel()
		if err != nil {
			return err
		}
	}
	st, err := c.replayTo(r.Context(), at, a)
	if err != nil {
		return c.replayFailed(w, r, s, err)
	}
	rd.Stats, rd.Digest = st, digest()
	after()
	d := c.auditView(s)
	d.Replay = rd
	c.render(w, r, s, http.StatusOK, "audit", "audit.title", d)
	return nil
}
