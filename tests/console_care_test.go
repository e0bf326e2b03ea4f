package tests

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relais-health/relais/adapters/mllp"
)

// The case manager's pages against the real `relais serve --demo`, in
// Debian's chromium: the search by health-insurance number finds a client
// of another case manager (and a partner may not search); a new client is
// registered and enrolled with the consents ticked, which the Dossier then
// shows; an assessment with three people draws three ecomap nodes; a plan
// and an objective are created; the new client's ED arrival reads in
// French, then in English, from the alert's facts. RELAIS_SCREENSHOTS=1
// writes these pages to docs/screenshots/.
func TestConsole_CaseManagerPages(t *testing.T) {
	data := t.TempDir()
	srv := startServe(t, data, "--demo", "--demo-every", "0")
	base := "http://" + srv.HTTP
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	browser := startBrowser(t, ctx)

	// Search by health-insurance number: client-02 is Nadine Bolduc's
	// (cm-2), not in Julie Gervais's caseload, and her role may search.
	cm := signIn(t, browser, base, "demo-cm-1")
	cm.do("Mes clients", chromedp.Navigate(base+"/console/clients"), chromedp.WaitVisible(chromedp.CSS("form.search")))
	if own := cm.text("main table"); !strings.Contains(own, "client-01") || strings.Contains(own, "client-02") {
		t.Fatalf("client-02 is in cm-1's caseload; the search test needs a client outside it:\n%s", own)
	}
	cm.do("type the number", chromedp.SendKeys(chromedp.ID("q"), "demo 0000 0002"))
	cm.clickToPage("search", `form.search button`, `!!document.getElementById("results")`)
	hits := cm.text("#results")
	if !strings.Contains(hits, "client-02") || !strings.Contains(hits, "RAMQ DEMO00000002") || !strings.Contains(hits, "Nadine Bolduc") {
		t.Fatalf("the search by health-insurance number reads %q: want client-02, its number and its case manager", hits)
	}
	if strings.Contains(hits, "dans ma charge de cas") {
		t.Errorf("client-02 is marked as in cm-1's caseload: %q", hits)
	}
	if n := runFor(cm, "hits", chromedp.Evaluate[int](`document.querySelectorAll("#results tr.hit").length`)); n != 1 {
		t.Errorf("the search for one number found %d clients, want 1", n)
	}
	cm.shot("20-recherche")

	// A partner may not search: the page is refused, and a forged post
	// with its own session's CSRF token too, without naming anyone.
	ph := signIn(t, browser, base, "demo-ph-1")
	ph.do("the pharmacy opens Mes clients", chromedp.Navigate(base+"/console/clients"), chromedp.WaitVisible(chromedp.CSS("main .error")))
	status := runFor(ph, "the pharmacy posts a search", chromedp.Evaluate[string](`(() => {
		const csrf = document.querySelector('input[name="csrf"]').value;
		return fetch("/console/clients", {method: "POST", credentials: "same-origin",
			headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "csrf=" + encodeURIComponent(csrf) + "&q=DEMO00000002"})
			.then(r => r.text().then(b => r.status + " " + b));
	})()`, chromedp.EvalAwaitPromise))
	if !strings.HasPrefix(status, fmt.Sprint(http.StatusForbidden)) || strings.Contains(status, "client-02") || strings.Contains(status, "DEMO00000002") {
		t.Errorf("a pharmacy's search answered %.300q: want 403 naming nobody", status)
	}

	// A new client, registered with the health-insurance number.
	cm.do("Nouveau client", chromedp.Navigate(base+"/console/clients"), chromedp.WaitVisible(chromedp.ID("caseload")),
		chromedp.Click(chromedp.CSS(`a[href="/console/clients/new"]`)), chromedp.WaitVisible(chromedp.ID("ramq")),
		chromedp.SendKeys(chromedp.ID("given"), "Rosalie"), chromedp.SendKeys(chromedp.ID("family"), "Lachance"),
		chromedp.SendKeys(chromedp.ID("ramq"), "lacr 4603 1512"))
	cm.shot("21-nouveau-client")
	cm.submit("register", `form[action="/console/clients/new"] button[type=submit]`, "Client inscrit au registre")
	if h := cm.text("main h1"); !strings.HasPrefix(h, "Rosalie Lachance") {
		t.Fatalf("after the registration the page is %q, want the new client's Dossier", h)
	}
	clientPath := runFor(cm, "the new file's path", chromedp.Evaluate[string](`location.pathname`))

	// Enrol with the consents ticked: family and pharmacy, not the others.
	cm.do("tick family and pharmacy", chromedp.WaitVisible(chromedp.ID("h-enrol")),
		chromedp.Click(chromedp.ID("consent-family")), chromedp.Click(chromedp.ID("consent-pharmacy")))
	cm.shot("22-inscription")
	cm.submit("enrol", `form[action$="/enrol"] button[type=submit]`, "Client inscrit au programme")
	for cat, want := range map[string]string{"family": "Consenti", "pharmacy": "Consenti", "doctor": "Pas de consentement", "rehab": "Pas de consentement"} {
		row := cm.text(fmt.Sprintf(`section[aria-labelledby="h-consent"] tr:has(input[value=%q])`, cat))
		if !strings.Contains(row, want) {
			t.Errorf("after the enrolment the consent row %s reads %q, want %q", cat, row, want)
		}
	}
	if stats := cm.text("main .stats"); !strings.Contains(stats, "Inscrit le") || !strings.Contains(stats, "Julie Gervais") {
		t.Errorf("after the enrolment the file's header reads %q: want enrolled, case manager Julie Gervais", stats)
	}

	// The assessment with three people of the network: three nodes.
	cm.do("assessment", chromedp.Click(chromedp.CSS(`a[href$="/assessment"]`)), chromedp.WaitVisible(chromedp.ID("summary")),
		chromedp.SendKeys(chromedp.ID("summary"), "Vit seule ; anxiété, insécurité alimentaire."),
		chromedp.SetValue(chromedp.ID("cat-0"), "family"), chromedp.SendKeys(chromedp.ID("name-0"), "Diane Lachance (sœur)"),
		chromedp.SendKeys(chromedp.ID("phone-0"), "819 555-0142"),
		chromedp.SetValue(chromedp.ID("partner-1"), "doc-1"),
		chromedp.SetValue(chromedp.ID("partner-2"), "org-1"), chromedp.SendKeys(chromedp.ID("name-2"), "Dépannage alimentaire du presbytère"))
	cm.shot("23-evaluation")
	cm.submit("save the assessment", `form[action$="/assessment"] button[type=submit]`, "Évaluation enregistrée")
	if n := runFor(cm, "ecomap nodes", chromedp.Evaluate[int](`document.querySelectorAll("svg.ecomap .eco-member").length`)); n != 3 {
		t.Errorf("the ecomap draws %d members, want 3", n)
	}
	if title := runFor(cm, "ecomap title", chromedp.Evaluate[string](`document.querySelector("svg.ecomap title").textContent + " | " + document.querySelector("svg.ecomap desc").textContent`)); !strings.Contains(title, "Écocarte de Rosalie Lachance") ||
		!strings.Contains(title, "Clinique médicale Sainte-Agathe (Médecin de famille)") {
		t.Errorf("the ecomap's title and description read %q", title)
	}
	if table := cm.text(".eco-table"); !strings.Contains(table, "Diane Lachance (sœur)") || !strings.Contains(table, "819 555-0142") || !strings.Contains(table, "Dépannage alimentaire") {
		t.Errorf("the network's table reads %q", table)
	}
	cm.shot("24-dossier-ecocarte")

	// A plan, then an objective: both land where the page goes.
	cm.submit("create the plan", `form[action$="/plans"] button`, "Plan de services créé")
	if hash := runFor(cm, "hash", chromedp.Evaluate[string](`location.hash`)); !strings.HasPrefix(hash, "#plan-") {
		t.Errorf("after the plan the page is at %q, want #plan-<id>", hash)
	}
	cm.do("objective", chromedp.SendKeys(chromedp.ID("obj-desc"), "Trouver un logement stable"),
		chromedp.SendKeys(chromedp.ID("obj-means"), "Rencontre avec l'OMH, accompagnement"),
		chromedp.SetValue(chromedp.ID("obj-resp"), "org-1"))
	cm.submit("add the objective", `form[action$="/objectives"] button`, "Objectif ajouté")
	obj := runFor(cm, "the new objective", chromedp.Evaluate[string](`(document.querySelector(location.hash) || {textContent: "no " + location.hash}).textContent`))
	if !strings.Contains(obj, "Trouver un logement stable") || !strings.Contains(obj, "Centre d'entraide des Sommets") || !strings.Contains(obj, "ouvert") {
		t.Errorf("the objective the page went to reads %q", obj)
	}
	cm.shot("25-plan")

	// Her ED arrival, said from the alert's facts: French, then English.
	c, err := mllp.Dial(ctx, srv.MLLP, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if code := ackCode(t, must(c.Send(ctx, adt("A04", "9201", "LACR46031512", "V9201", "HSTA")))); code != "AA" {
		t.Fatalf("A04: %s", code)
	}
	cm.do("Ma file", chromedp.Navigate(base+"/console/queue"), chromedp.WaitVisible(chromedp.ID("queue")))
	cm.waitJS("the arrival in the queue", `Array.from(document.querySelectorAll("#pending li.alert .summary")).some(p => p.textContent.includes("Rosalie Lachance"))`)
	summary := func() string {
		return runFor(cm, "the arrival's summary", chromedp.Evaluate[string](`Array.from(document.querySelectorAll("#pending li.alert .summary")).map(p => p.textContent).find(s => s.includes("Rosalie Lachance")) || ""`))
	}
	fr := summary()
	for _, want := range []string{"Arrivée à l'urgence : Rosalie Lachance (", "HSTA", " h ", "Motif : Dyspnée.", "Famille : consentement donné."} {
		if !strings.Contains(fr, want) {
			t.Errorf("the French summary %q lacks %q", fr, want)
		}
	}
	if strings.Contains(fr, "ED arrival") || strings.Contains(fr, " / ") {
		t.Errorf("the French summary %q is the stored bilingual sentence, not the catalog's", fr)
	}
	cm.clickToPage("switch to English", `form[action="/console/lang"] button`, `document.documentElement.lang === "en-CA" && !!document.getElementById("queue")`)
	en := summary()
	for _, want := range []string{"ED arrival: Rosalie Lachance (", "HSTA", " PM", "Reason: Dyspnée.", "Family: consent given"} {
		if !strings.Contains(en, want) && !(want == " PM" && strings.Contains(en, " AM")) {
			t.Errorf("the English summary %q lacks %q", en, want)
		}
	}
	if strings.Contains(en, "Arrivée") || strings.Contains(en, "Motif") {
		t.Errorf("the English summary %q still speaks French", en)
	}
	cm.do("the file in English", chromedp.Navigate(base+clientPath), chromedp.WaitVisible(chromedp.ID("h-network")))
	if title := runFor(cm, "English ecomap title", chromedp.Evaluate[string](`document.querySelector("svg.ecomap title").textContent`)); title != "Ecomap of Rosalie Lachance" {
		t.Errorf("the English ecomap's title is %q", title)
	}
}
