package tests

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/relais-health/relais/adapters/mllp"
	"github.com/relais-health/relais/internal/poll"
)

// chromiumFor finds Debian's chromium as the chart test does: required in
// CI (RELAIS_REQUIRE_CHROMIUM), skipped elsewhere without it.
func chromiumFor(t *testing.T) string {
	t.Helper()
	browser, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("RELAIS_REQUIRE_CHROMIUM") != "" {
			t.Fatal("chromium is required here (RELAIS_REQUIRE_CHROMIUM is set, as .ci/run does) but not installed")
		}
		t.Skip("chromium is not installed here; .ci/run installs it (apt-get install chromium) and requires this test")
	}
	return browser
}

// browserSession is one person's browser: its own cookie jar (a browser
// context of its own), so two people can be signed in side by side.
type browserSession struct {
	ctx  context.Context
	base string
	t    *testing.T
}

func startBrowser(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumFor(t)), chromedp.NoSandbox,
		chromedp.WindowSize(1200, 900), chromedp.Flag("lang", "fr-CA"), chromedp.Flag("accept-lang", "fr-CA,fr"), chromedp.UserDataDir(t.TempDir()))
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	browser, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return browser
}

func (b *browserSession) fail(what string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body"))) // best effort, for the message
	b.t.Fatalf("%s: %v\npage: %.1500s", what, err, body)
}

func (b *browserSession) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail(what, err)
	}
}

func runFor[T any](b *browserSession, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fail(what, err)
	}
	return v
}

// newSession opens a tab in a browser context of its own; the tab lives
// as long as the test (its first run has no timeout, see chromedp.Run).
func newSession(t *testing.T, browser context.Context, base string) *browserSession {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return &browserSession{ctx: ctx, base: base, t: t}
}

// signIn opens a fresh browser context and signs in with token.
func signIn(t *testing.T, browser context.Context, base, token string) *browserSession {
	t.Helper()
	b := newSession(t, browser, base)
	b.do("sign in as "+token,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.CSS(`form[action="/console/login"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("header .who")),
	)
	return b
}

// submit clicks a form's button and waits for the page after it, the one
// that says flash: the page before is marked, and a page still marked (or
// still loading) does not count.
func (b *browserSession) submit(what, button, flash string) {
	b.t.Helper()
	b.clickToPage(what, button, fmt.Sprintf(`Array.from(document.querySelectorAll(".flash")).some(e => e.textContent.includes(%q))`, flash))
}

// clickToPage clicks button and waits for the next page to satisfy cond.
func (b *browserSession) clickToPage(what, button, cond string) {
	b.t.Helper()
	runFor(b, what+": mark", chromedp.Evaluate[bool](`window.relaisBefore = true`))
	b.do(what, chromedp.Click(chromedp.CSS(button)))
	check := `!window.relaisBefore && document.readyState === "complete" && (` + cond + `)`
	poll.CheckFor(b.t, 10*time.Second, 50*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		defer cancel()
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](check))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s: no page where %s yet", what, cond)
		}
		return nil
	})
}

// waitJS polls a JavaScript condition in the page (no reload).
func (b *browserSession) waitJS(what, expr string) {
	b.t.Helper()
	runFor(b, what, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(10*time.Second), chromedp.WithPollingInterval(50*time.Millisecond)))
}

func (b *browserSession) text(sel string) string {
	b.t.Helper()
	return runFor(b, "read "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// shot saves a full-page screenshot as docs/screenshots/name.png when
// RELAIS_SCREENSHOTS=1 (else in the test's temporary directory, so the
// step runs either way).
func (b *browserSession) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, page.BringToFront, cdp.Empty{}); err != nil {
		b.fail("bring "+name+" to front", err)
	}
	png := runFor(b, "screenshot "+name, chromedp.FullScreenshot(100))
	dir := b.t.TempDir()
	if os.Getenv("RELAIS_SCREENSHOTS") == "1" {
		dir = filepath.Join("..", "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// The console against the real `relais serve --demo`, in Debian's
// chromium: the case manager's open queue shows an A04 sent over MLLP
// without a reload and acknowledges it in one click; the pharmacist's
// concern entered in the partner inbox reaches her queue; a withdrawn
// consent closes the file to the pharmacy; a post without the CSRF token
// is refused; the pages speak French, then English. RELAIS_SCREENSHOTS=1
// writes each main page to docs/screenshots/.
func TestConsole_InTheBrowser(t *testing.T) {
	data := t.TempDir()
	srv := startServe(t, data, "--demo", "--demo-every", "0")
	base := "http://" + srv.HTTP
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	browser := startBrowser(t, ctx)

	lb := newSession(t, browser, base)
	lb.do("sign-in page", chromedp.Navigate(base+"/console/login"), chromedp.WaitVisible(chromedp.ID("token")))
	lb.shot("01-connexion")

	cm := signIn(t, browser, base, "demo-cm-1")
	cm.do("Ma file", chromedp.Navigate(base+"/console/queue"), chromedp.WaitVisible(chromedp.ID("queue")))
	if h := cm.text("main h1"); h != "Ma file" {
		t.Fatalf("the case manager's first page is %q, want Ma file (French first)", h)
	}
	cm.waitJS("the live stream opens", `document.getElementById("live").classList.contains("on")`)
	// A marker in the page's memory: gone if the page reloads.
	runFor(cm, "mark the page", chromedp.Evaluate[int](`window.relaisMarker = 42`))

	c, err := mllp.Dial(ctx, srv.MLLP, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if code := ackCode(t, must(c.Send(ctx, adt("A04", "9101", "DEMO00000001", "V9101", "HSTA")))); code != "AA" {
		t.Fatalf("A04: %s", code)
	}
	cm.waitJS("the ED arrival appears in the open page", `document.querySelectorAll("#pending li.alert.prio-high").length === 1`)
	marker := runFor(cm, "no reload", chromedp.Evaluate[int](`window.relaisMarker || 0`))
	if marker != 42 {
		t.Fatalf("the page reloaded (marker %d): the arrival must come in place", marker)
	}
	if got := cm.text("#pending li.alert .meta"); !strings.Contains(got, "Arrivée à l'urgence") || !strings.Contains(got, " h ") {
		t.Errorf("the alert reads %q, want the kind in French and a Montreal time like '14 h 05'", got)
	}
	cm.shot("02-ma-file")

	// Acknowledge in one click: it leaves the pending list.
	alertID := runFor(cm, "alert id", chromedp.AttributeValue(chromedp.CSS("#pending li.alert"), "data-alert")).Value
	cm.submit("acknowledge", "#pending li.alert form button", "Alerte prise en charge")
	cm.waitJS("out of pending", fmt.Sprintf(`!document.querySelector("#pending #a-%s") && !!document.querySelector("#done #a-%s")`, alertID, alertID))

	// The pharmacist raises a concern from the partner inbox.
	ph := signIn(t, browser, base, "demo-ph-1")
	if h := ph.text("main h1"); h != "Boîte de réception" {
		t.Errorf("the pharmacist's first page is %q, want the partner inbox", h)
	}
	ph.shot("05-boite-partenaire")
	ph.do("open client-01 from the inbox",
		chromedp.SendKeys(chromedp.ID("client"), "client-01"),
		chromedp.Click(chromedp.CSS(`form[action="/console/audit/open"] button`)),
		chromedp.WaitVisible(chromedp.ID("concern")))
	ph.do("raise a concern",
		chromedp.SendKeys(chromedp.ID("concern"), "Doublon d'anticoagulants, à revoir"),
		chromedp.Click(chromedp.ID("evaluation")))
	ph.shot("06-pharmacie-dossier")
	ph.submit("send it", `form[action$="/concern"] button`, "Préoccupation envoyée")
	cm.waitJS("the concern reaches the case manager's open queue",
		`Array.from(document.querySelectorAll("#pending li.alert")).some(li => li.textContent.includes("Doublon d'anticoagulants"))`)

	// Mes clients and the Dossier; withdraw the pharmacy's consent for client-03.
	cm.do("Mes clients", chromedp.Navigate(base+"/console/clients"), chromedp.WaitVisible(chromedp.CSS("table")))
	cm.shot("03-mes-clients")
	cm.do("Dossier", chromedp.Navigate(base+"/console/clients/client-01"), chromedp.WaitVisible(chromedp.ID("h-consent")))
	cm.shot("04-dossier")
	cm.do("tablet size", chromedp.EmulateViewport(820, 1180))
	cm.shot("04b-dossier-tablette")
	cm.do("desktop size", chromedp.EmulateViewport(1200, 900))
	cm.do("referral reason", chromedp.SendKeys(chromedp.ID("ref-reason"), "Isolement, repas"))
	cm.submit("referral to a community organization the consent covers", `form[action$="/referral/new"] button`, "Demande de service envoyée")
	if refs := cm.text(`section[aria-labelledby="h-ref"]`); !strings.Contains(refs, "Centre d'entraide des Sommets · Isolement, repas") {
		t.Errorf("after the referral the Dossier's referrals read %q", refs)
	}
	cm.do("contact note", chromedp.SendKeys(chromedp.ID("note"), "Rencontré à l'urgence"))
	cm.submit("contact made", `form[action$="/contact"] button`, "Contact enregistré")
	cm.do("Mes clients again", chromedp.Navigate(base+"/console/clients"), chromedp.WaitVisible(chromedp.CSS("table")))
	if row := cm.text(`tr:has(a[href="/console/clients/client-01"])`); strings.Contains(row, "Jamais joint") || !strings.Contains(row, "il y a 0 j") {
		t.Errorf("after a contact, client-01's caseload row reads %q", row)
	}
	cm.do("client-03", chromedp.Navigate(base+"/console/clients/client-03"), chromedp.WaitVisible(chromedp.ID("h-consent")))
	name := cm.text("main h1")
	name = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(name), "client-03"))
	cm.submit("withdraw the pharmacy's consent", `form[action$="/consent"]:has(input[value="pharmacy"]) button`, "Consentement mis à jour")
	ph.do("the pharmacy opens client-03", chromedp.Navigate(base+"/console/clients/client-03"), chromedp.WaitVisible(chromedp.CSS("main .error")))
	body := ph.text("body")
	if name == "" || strings.Contains(body, name) || !strings.Contains(body, "n'a pas consenti") {
		t.Errorf("without consent the pharmacy's page must say so and not name the client (%q):\n%s", name, body)
	}
	// A form post without the session's CSRF token, from the signed-in page.
	status := runFor(ph, "post without CSRF", chromedp.Evaluate[int](`fetch("/console/clients/client-01/concern", {method: "POST", credentials: "same-origin",
		headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "concern=forged&evaluation=yes"}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if status != http.StatusForbidden {
		t.Errorf("a post without the CSRF token answered %d, want 403", status)
	}
	resp, err := http.PostForm(base+"/console/alerts/ack", url.Values{"alert": {alertID}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a post without session nor CSRF answered %d, want 403", resp.StatusCode)
	}

	pm := signIn(t, browser, base, "demo-pm-1")
	pm.do("programme", chromedp.WaitVisible(chromedp.CSS("img.chart")))
	pm.shot("07-programme")
	arch := signIn(t, browser, base, "demo-arch-1")
	arch.shot("08-archives")

	// The auditor reads client-03's access log: the case manager's read
	// and the pharmacy's refusal, both recorded by the console.
	aud := signIn(t, browser, base, "demo-aud-1")
	aud.do("access log of client-03", chromedp.SendKeys(chromedp.ID("client"), "client-03"),
		chromedp.Click(chromedp.CSS(`button[value="access"]`)), chromedp.WaitVisible(chromedp.CSS("table")))
	if log := aud.text("table"); !strings.Contains(log, "Refusé — pas de consentement") || !strings.Contains(log, "Pharmacie Principale") || !strings.Contains(log, "Julie Gervais") {
		t.Errorf("client-03's access log reads %q: want the case manager's read and the pharmacy's refusal", log)
	}
	aud.shot("10-journal-acces")

	// English on the toggle, for the whole session.
	cm.do("back to the queue", chromedp.Navigate(base+"/console/queue"), chromedp.WaitVisible(chromedp.ID("queue")))
	cm.clickToPage("switch to English", `form[action="/console/lang"] button`, `document.documentElement.lang === "en-CA" && !!document.getElementById("queue")`)
	if h := cm.text("main h1"); h != "My queue" {
		t.Errorf("after the toggle the queue is %q, want My queue", h)
	}
	if got := cm.text("#queue"); !strings.Contains(got, "ED arrival") || !strings.Contains(got, "Pharmacist's concern") {
		t.Errorf("the English queue reads %q", got)
	}
	cm.shot("09-my-queue-en")
}
