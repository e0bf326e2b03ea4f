package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relais-health/relais/adapters/mllp"
	"github.com/relais-health/relais/internal/poll"
)

const manageAdminToken = "manage-admin-token-0123456789"

// apiJSON GETs path with token and decodes the answer into v.
func apiJSON(t *testing.T, base, token, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// The programme manager's, archivist's and auditor's pages against the
// real `relais serve --demo`, in chromium: the programme page counts the
// unacknowledged alerts GET /v1/alerts/unacknowledged lists; the feed
// health shows a facility heard over MLLP and its gap alarm; the directory
// registers a partner, rotates its token (the old one no longer signs in,
// the new one does) and revokes it; the list frozen before the arrivals
// differs from today's by exactly those arrivals; the auditor's
// verification says intact and a replayed client file is a recorded read;
// a case manager is refused every one of these pages. RELAIS_SCREENSHOTS=1
// writes them to docs/screenshots/.
func TestConsoleManage_InTheBrowser(t *testing.T) {
	t.Setenv("RELAIS_ADMIN_TOKEN", manageAdminToken)
	data := t.TempDir()
	srv := startServe(t, data, "--demo", "--demo-every", "0")
	base := "http://" + srv.HTTP
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	browser := startBrowser(t, ctx)
	mtl, err := time.LoadLocation("America/Montreal")
	if err != nil {
		t.Fatal(err)
	}

	// The instant the list is frozen at: after the demo's seed (done before
	// /healthz answers), before the arrivals below (a whole second later).
	frozenAt := time.Now().Truncate(time.Second).Add(time.Second)
	poll.CheckFor(t, 3*time.Second, 20*time.Millisecond, func() error {
		if !time.Now().After(frozenAt) {
			return fmt.Errorf("the clock is not past %s yet", frozenAt)
		}
		return nil
	})

	pm := signIn(t, browser, base, "demo-pm-1")
	pm.do("feeds before any message", chromedp.Navigate(base+"/console/programme/feeds"), chromedp.WaitVisible(chromedp.ID("feeds")))
	if row := pm.text(`tr[data-facility="HSTA"]`); !strings.Contains(row, "jamais reçu") {
		t.Errorf("before any message HSTA's feed row reads %q, want never heard from", row)
	}

	// Three arrivals in a row (control ids 9201..9203), then one that skips
	// 9204..9209: a gap alarm for the programme manager.
	c, err := mllp.Dial(ctx, srv.MLLP, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	arrivals := []struct{ control, ramq, visit string }{
		{"9201", "DEMO00000001", "V9201"}, {"9202", "DEMO00000001", "V9202"}, {"9203", "DEMO00000002", "V9203"}, {"9210", "DEMO00000003", "V9210"},
	}
	for _, a := range arrivals {
		if code := ackCode(t, must(c.Send(ctx, adt("A04", a.control, a.ramq, a.visit, "HSTA")))); code != "AA" {
			t.Fatalf("A04 %s: %s", a.control, code)
		}
	}
	added := map[string]int{"client-01": 2, "client-02": 1, "client-03": 1}

	// The programme page's count is the API's, once both have the gap alarm.
	var unacked struct {
		Alerts []struct{ Kind string } `json:"alerts"`
	}
	poll.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		apiJSON(t, base, "demo-pm-1", "/v1/alerts/unacknowledged", &unacked)
		kinds := map[string]int{}
		for _, a := range unacked.Alerts {
			kinds[a.Kind]++
		}
		if kinds["feed.gap"] != 1 || kinds["ed.arrival"] != len(arrivals) || len(unacked.Alerts) != len(arrivals)+1 {
			return fmt.Errorf("the API lists %v unacknowledged, want the %d arrivals and the gap alarm", kinds, len(arrivals))
		}
		return nil
	})
	pm.do("programme", chromedp.Navigate(base+"/console/programme"), chromedp.WaitVisible(chromedp.ID("unacked-count")))
	if got, want := pm.text("#unacked-count"), fmt.Sprint(len(unacked.Alerts)); got != want {
		t.Errorf("the programme page counts %s unacknowledged alerts, GET /v1/alerts/unacknowledged lists %s", got, want)
	}
	pm.shot("07b-programme-alertes")

	pm.do("feeds after the arrivals", chromedp.Navigate(base+"/console/programme/feeds"), chromedp.WaitVisible(chromedp.ID("feeds")))
	row := pm.text(`tr[data-facility="HSTA"]`)
	// The demo's HSTA expects traffic from 7 h to 23 h in its zone,
	// America/Toronto (its feed row says so): outside those hours the row
	// says so instead of Normal, whatever hour CI runs at.
	state := "Normal"
	if h := time.Now().In(zone(t, "America/Toronto")).Hour(); h < 7 || h >= 23 {
		state = "Hors des heures d'activité"
	}
	if strings.Contains(row, "jamais reçu") || !strings.Contains(row, " h ") || !strings.Contains(row, state) || !strings.Contains(row, "de 7 h à 23 h") {
		t.Errorf("after the A04s HSTA's feed row reads %q, want its last message's Montreal time, its hours (7 h à 23 h) and %s", row, state)
	}
	if !strings.Contains(row, "Messages manquants du flux hospitalier") || !strings.Contains(row, "9204 à 9209") {
		t.Errorf("HSTA's feed row reads %q, want the gap alarm for 9204..9209", row)
	}
	if other := pm.text(`tr[data-facility="HLAU"]`); !strings.Contains(other, "jamais reçu") {
		t.Errorf("HLAU sent nothing, its row reads %q", other)
	}
	pm.shot("11-flux-livraisons")

	// The directory: a programme manager registers partners but may not
	// rotate a token (admin only, as POST /v1/partners/{id}/token).
	pm.do("directory", chromedp.Navigate(base+"/console/programme/directory"), chromedp.WaitVisible(chromedp.ID("p-id")))
	status := runFor(pm, "rotate as programme manager", chromedp.Evaluate[int](`fetch("/console/programme/directory/token", {method: "POST", credentials: "same-origin",
		headers: {"Content-Type": "application/x-www-form-urlencoded"},
		body: "csrf=" + encodeURIComponent(document.querySelector("input[name=csrf]").value) + "&kind=partner&id=org-1&action=rotate"}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if status != http.StatusForbidden {
		t.Errorf("a programme manager rotating a token got %d, want 403", status)
	}

	adm := signIn(t, browser, base, manageAdminToken)
	adm.do("directory as admin", chromedp.Navigate(base+"/console/programme/directory"), chromedp.WaitVisible(chromedp.ID("p-id")))
	adm.do("new partner", chromedp.SendKeys(chromedp.ID("p-id"), "org-test"), chromedp.SendKeys(chromedp.ID("p-name"), "Maison du Partage"),
		chromedp.SetValue(chromedp.ID("p-cat"), "community"))
	adm.submit("register the partner", `form[action$="/directory/partners"] button`, "Inscription enregistrée")
	first := runFor(adm, "the first token", chromedp.Value(chromedp.ID("new-token")))
	if first == "" || strings.Contains(runFor(adm, "url", chromedp.Location()), first) {
		t.Fatalf("the new token %q must be shown, and in no URL", first)
	}
	adm.submit("rotate its token", `tr[data-id="org-test"] button[value="rotate"]`, "Jeton renouvelé")
	second := runFor(adm, "the second token", chromedp.Value(chromedp.ID("new-token")))
	if second == "" || second == first || strings.Contains(runFor(adm, "url", chromedp.Location()), second) {
		t.Fatalf("after rotation the token is %q (was %q): want a new one, in no URL", second, first)
	}
	adm.shot("12-repertoire")
	refused := func(token string) bool {
		b := newSession(t, browser, base)
		b.do("sign in with "+token, chromedp.Navigate(base+"/console/login"), chromedp.WaitVisible(chromedp.ID("token")),
			chromedp.SendKeys(chromedp.ID("token"), token))
		b.clickToPage("submit", `form[action="/console/login"] button[type=submit]`, `!!document.querySelector("header .who") || !!document.querySelector("main .error, main [role=alert]")`)
		return !strings.Contains(b.text("body"), "Maison du Partage")
	}
	if !refused(first) {
		t.Errorf("the token rotated away still signs in")
	}
	if refused(second) {
		t.Errorf("the new token does not sign in as the partner")
	}
	adm.submit("revoke it", `tr[data-id="org-test"] button[value="revoke"]`, "Jeton révoqué")
	if !refused(second) {
		t.Errorf("the revoked token still signs in")
	}

	// The list frozen before the arrivals, beside today's: each client's
	// visits today are its visits then plus the arrivals sent since.
	arch := signIn(t, browser, base, "demo-arch-1")
	at := frozenAt.In(mtl).Format("2006-01-02T15:04:05")
	arch.do("frozen list", chromedp.Navigate(base+"/console/archive/frozen?at="+url.QueryEscape(at)), chromedp.WaitVisible(chromedp.ID("frozen-summary")))
	var today struct {
		Rows []struct {
			ClientID string `json:"client_id"`
			Visits   int    `json:"visits"`
		} `json:"rows"`
	}
	apiJSON(t, base, "demo-arch-1", "/v1/reports/high-utilizers", &today)
	todayVisits := map[string]int{}
	for _, r := range today.Rows {
		todayVisits[r.ClientID] = r.Visits
	}
	for client, n := range added {
		cells := runFor(arch, "row of "+client, chromedp.Evaluate[[]string](fmt.Sprintf(
			`Array.from(document.querySelectorAll('#frozen tr[data-key=%q] td')).map(td => td.textContent.trim()).concat([document.querySelector('#frozen tr[data-key=%q]')?.dataset.change || ""])`, client, client)))
		if len(cells) != 5 {
			t.Errorf("%s: no row in the comparison (%q)", client, cells)
			continue
		}
		visits := func(cell string) int { // "#2 · 3 visites", or "—" when not in the list
			f := strings.Fields(cell)
			if cell == "—" || len(f) < 3 {
				return 0
			}
			v, err := strconv.Atoi(f[2])
			if err != nil {
				t.Fatalf("%s: cell %q", client, cell)
			}
			return v
		}
		then, now := visits(cells[1]), visits(cells[2])
		if now != then+n || now != todayVisits[client] {
			t.Errorf("%s: %d visits then, %d today (API: %d): want the %d arrivals sent since", client, then, now, todayVisits[client], n)
		}
		if then == 0 && cells[4] != "entered" {
			t.Errorf("%s was not in the list then: its change is %q, want entered", client, cells[4])
		}
	}
	if ex := arch.text("main"); !strings.Contains(ex, "obstétrique") {
		t.Errorf("the frozen list does not name its exclusions: %q", ex)
	}
	arch.shot("13-liste-figee")

	// The auditor: verification, then client-01's file replayed to now is
	// a read in its access log.
	aud := signIn(t, browser, base, "demo-aud-1")
	aud.submit("verify", `form[action="/console/audit/verify"] button`, "Vérification lancée")
	poll.CheckFor(t, 60*time.Second, 250*time.Millisecond, func() error {
		cctx, cancel := context.WithTimeout(aud.ctx, 5*time.Second)
		defer cancel()
		state, err := chromedp.Run(cctx, chromedp.Evaluate[string](`(document.querySelector("#verify-state") || {}).textContent || ""`))
		if err != nil {
			return err
		}
		if !strings.Contains(state, "Intact") {
			if _, err := chromedp.Run(cctx, chromedp.Navigate(base+"/console/audit")); err != nil {
				return err
			}
			return fmt.Errorf("verification state %q", state)
		}
		return nil
	})
	if ok := runFor(aud, "verify ok", chromedp.AttributeValue(chromedp.ID("verify-state"), "data-ok")); !ok.Exists || ok.Value != "true" {
		t.Errorf("the verification's state is not ok: %v", ok)
	}
	aud.do("replay client-01's file", chromedp.SetValue(chromedp.ID("projection"), "clientfile"),
		chromedp.SendKeys(chromedp.ID("replay-client"), "client-01"))
	aud.clickToPage("replay", `#replay-form button`, `!!document.getElementById("replay-summary")`)
	if got := aud.text("#replayed"); !strings.Contains(got, "client-01") || !strings.Contains(got, "événements rejoués") {
		t.Errorf("the replayed client file reads %q", got)
	}
	aud.shot("14-verification")
	aud.do("access log of client-01", chromedp.Navigate(base+"/console/audit"), chromedp.WaitVisible(chromedp.ID("client")),
		chromedp.SendKeys(chromedp.ID("client"), "client-01"), chromedp.Click(chromedp.CSS(`button[value="access"]`)), chromedp.WaitVisible(chromedp.CSS("table")))
	if log := aud.text("table"); !strings.Contains(log, "Dossier rejoué à une date") {
		t.Errorf("client-01's access log does not record the replayed read: %q", log)
	}

	// A case manager gets 403 on every one of these pages and forms.
	cm := signIn(t, browser, base, "demo-cm-1")
	for _, req := range []struct{ method, path string }{
		{"GET", "/console/programme"}, {"GET", "/console/programme/feeds"}, {"GET", "/console/programme/directory"},
		{"GET", "/console/archive"}, {"GET", "/console/archive/frozen?at=" + url.QueryEscape(at)}, {"GET", "/console/audit"},
		{"POST", "/console/programme/feeds/retry"}, {"POST", "/console/programme/directory/partners"}, {"POST", "/console/programme/directory/staff"},
		{"POST", "/console/programme/directory/token"}, {"POST", "/console/audit/verify"}, {"POST", "/console/audit/replay"},
	} {
		status := runFor(cm, req.method+" "+req.path, chromedp.Evaluate[int](fmt.Sprintf(`fetch(%q, {method: %q, credentials: "same-origin", redirect: "manual",
			headers: {"Content-Type": "application/x-www-form-urlencoded"},
			body: %q === "POST" ? "csrf=" + encodeURIComponent(document.querySelector("input[name=csrf]").value) + "&id=x&projection=reports&at=2026-01-01" : undefined}).then(r => r.status)`,
			req.path, req.method, req.method), chromedp.EvalAwaitPromise))
		if status != http.StatusForbidden {
			t.Errorf("a case manager's %s %s answered %d, want 403", req.method, req.path, status)
		}
	}
}

// zone loads the time zone name.
func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
