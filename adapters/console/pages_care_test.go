package console

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/projections/alerts"
)

// svgNode is an element of the ecomap, as encoding/xml reads it.
type svgNode struct {
	name  string
	attrs map[string]string
	text  string
}

func parseSVG(t *testing.T, s string) []svgNode {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	var out []svgNode
	var open []int
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the ecomap is not well-formed XML: %v\n%s", err, s)
		}
		switch v := tok.(type) {
		case xml.StartElement:
			n := svgNode{name: v.Name.Local, attrs: map[string]string{}}
			for _, a := range v.Attr {
				n.attrs[a.Name.Local] = a.Value
			}
			out = append(out, n)
			open = append(open, len(out)-1)
		case xml.CharData:
			if len(open) > 0 {
				out[open[len(open)-1]].text += string(v)
			}
		case xml.EndElement:
			open = open[:len(open)-1]
		}
	}
	return out
}

func members(n int) []events.NetworkMember {
	cats := events.Categories
	out := make([]events.NetworkMember, n)
	for i := range out {
		out[i] = events.NetworkMember{Category: cats[i%len(cats)], Name: "Personne " + strconv.Itoa(i+1)}
	}
	return out
}

// The ecomap draws the client in the centre and one labelled node per
// member, all inside its view box, with a title and a description a screen
// reader says, in the page's language; no style attribute (the CSP has
// none), and names escaped.
func TestEcomapDrawsOneLabelledNodePerMember(t *testing.T) {
	fr, en := L{Lang: langFR}, L{Lang: langEN}
	cases := []struct {
		name     string
		l        L
		client   [2]string
		members  []events.NetworkMember
		title    string
		descHas  []string
		labelHas []string
	}{
		{"alone", fr, [2]string{"Rosalie", "Lachance"}, nil, "Écocarte de Rosalie Lachance", []string{"aucune personne"}, nil},
		{"three, French", fr, [2]string{"Rosalie", "Lachance"}, []events.NetworkMember{
			{Category: "family", Name: "Diane (sœur)", Phone: "819 555-0142"},
			{Category: "doctor", Name: "Clinique médicale Sainte-Agathe", PartnerID: "doc-1"},
			{Category: "community", Name: "Dépannage alimentaire du presbytère"}},
			"Écocarte de Rosalie Lachance", []string{"3 personnes", "Diane (sœur) (Famille)", "(Médecin de famille)"},
			[]string{"Diane (sœur)", "Clinique médicale Sai…", "Organisme communautaire"}},
		{"three, English", en, [2]string{"Rosalie", "Lachance"}, members(3), "Ecomap of Rosalie Lachance", []string{"linked to 3 people", "(Family)"}, []string{"Family doctor"}},
		{"twelve", fr, [2]string{"Marcel", "Ouellet"}, members(12), "Écocarte de Marcel Ouellet", []string{"12 personnes"}, []string{"Personne 12"}},
		{"markup in a name", fr, [2]string{"<b>X</b>", ""}, []events.NetworkMember{{Category: "family", Name: `<script>alert(1)</script>`}},
			"Écocarte de <b>X</b>", []string{"<script>"}, []string{"<script>alert(1)</scr…"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := string(ecomap(c.l, c.client, c.members))
			if strings.Contains(out, "<script") || strings.Contains(out, "<b>") {
				t.Fatalf("a name's markup is in the drawing unescaped:\n%s", out)
			}
			nodes := parseSVG(t, out)
			if nodes[0].name != "svg" || nodes[0].attrs["role"] != "img" || nodes[0].attrs["aria-labelledby"] != "eco-title eco-desc" {
				t.Fatalf("root %+v: want an svg with role img labelled by its title and description", nodes[0])
			}
			var vw, vh int
			if _, err := fmt.Sscanf(nodes[0].attrs["viewBox"], "0 0 %d %d", &vw, &vh); err != nil || vw != ecoW || vh > ecoH {
				t.Fatalf("viewBox %q: want 0 0 %d h, h at most %d", nodes[0].attrs["viewBox"], ecoW, ecoH)
			}
			var groups, labels []string
			var title, desc string
			for _, n := range nodes {
				if _, ok := n.attrs["style"]; ok {
					t.Errorf("%s has a style attribute: the CSP refuses it", n.name)
				}
				switch {
				case n.name == "title" && n.attrs["id"] == "eco-title":
					title = n.text
				case n.name == "desc":
					desc = n.text
				case n.name == "g" && strings.HasPrefix(n.attrs["class"], "eco-member "):
					groups = append(groups, n.attrs["class"])
				case n.name == "text":
					labels = append(labels, n.text)
					x, _ := strconv.ParseFloat(n.attrs["x"], 64)
					y, _ := strconv.ParseFloat(n.attrs["y"], 64)
					if x < 0 || x > float64(vw) || y < 12 || y > float64(vh)-4 {
						t.Errorf("label %q at (%.0f, %.0f) falls outside the %dx%d view box", n.text, x, y, vw, vh)
					}
				}
			}
			if len(groups) != len(c.members) {
				t.Errorf("%d member nodes for %d members", len(groups), len(c.members))
			}
			for i, g := range groups {
				if want := "eco-member eco-" + c.members[i].Category; g != want {
					t.Errorf("node %d has class %q, want %q", i, g, want)
				}
			}
			if title != c.title {
				t.Errorf("title %q, want %q", title, c.title)
			}
			for _, want := range c.descHas {
				if !strings.Contains(desc, want) {
					t.Errorf("description %q lacks %q", desc, want)
				}
			}
			all := strings.Join(labels, " | ")
			for _, want := range c.labelHas {
				if !strings.Contains(all, want) {
					t.Errorf("labels %q lack %q", all, want)
				}
			}
		})
	}
}

// An alert's summary is said from its facts in the page's language, the
// stored sentence only when it has none.
func TestAlertSummariesAreSaidFromTheirFacts(t *testing.T) {
	at := time.Date(2026, 12, 2, 19, 5, 0, 0, time.UTC)
	names := map[string]string{"org-1": "Centre d'entraide des Sommets"}
	cases := []struct {
		name   string
		a      alerts.Alert
		fr, en string
	}{
		{"staff arrival", alerts.Alert{Kind: "ed.arrival", ClientID: "client-01", Facts: &events.AlertFacts{Facility: "HSTA", At: at, Name: "Marcel Ouellet", Reason: "Dyspnée", Family: "no"}},
			"Arrivée à l'urgence : Marcel Ouellet (client-01) — HSTA, 2 déc. 2026, 14 h 05. Motif : Dyspnée. Ne pas contacter la famille (pas de consentement).",
			"ED arrival: Marcel Ouellet (client-01) — HSTA, Dec 2, 2026, 2:05 PM. Reason: Dyspnée. Do not contact the family (no consent)."},
		{"staff correction", alerts.Alert{Kind: "ed.arrival.amended", ClientID: "client-01", Facts: &events.AlertFacts{Facility: "HSTA", At: at, Family: "yes"}},
			"Correction — Arrivée à l'urgence : client-01 — HSTA, 2 déc. 2026, 14 h 05. Famille : consentement donné.",
			"Correction — ED arrival: client-01 — HSTA, Dec 2, 2026, 2:05 PM. Family: consent given, may be contacted."},
		{"doctor's arrival", alerts.Alert{Kind: "ed.arrival", ClientID: "client-01", Facts: &events.AlertFacts{Facility: "HSTA", At: at}},
			"Votre patient(e) client-01 est à l'urgence — HSTA, 2 déc. 2026, 14 h 05.",
			"Your patient client-01 is at the ED — HSTA, Dec 2, 2026, 2:05 PM."},
		{"rehab's arrival", alerts.Alert{Kind: "ed.arrival", ClientID: "client-01", Facts: &events.AlertFacts{At: at}},
			"Le client client-01 est à l'urgence depuis le 2 déc. 2026, 14 h 05.", "Client client-01 has been at the ED since Dec 2, 2026, 2:05 PM."},
		{"concern", alerts.Alert{Kind: "pharmacist.concern", ClientID: "client-03", Facts: &events.AlertFacts{Text: "Doublon", Evaluation: true}},
			"Préoccupation du pharmacien (client client-03) : Doublon — évaluation médicale requise",
			"Pharmacist's concern (client client-03): Doublon — needs a medical evaluation"},
		{"doctor notified", alerts.Alert{Kind: "doctor.notified", ClientID: "client-03", Facts: &events.AlertFacts{Text: "Visites répétées"}},
			"Message du gestionnaire de cas au sujet de client-03 : Visites répétées", "From the case manager about client-03: Visites répétées"},
		{"objective met", alerts.Alert{Kind: "objective.met", ClientID: "client-03", Facts: &events.AlertFacts{Ref: "obj-1"}},
			"Objectif obj-1 atteint (client client-03).", "Objective obj-1 met (client client-03)."},
		{"referral", alerts.Alert{Kind: "referral.received", ClientID: "client-03", Facts: &events.AlertFacts{Ref: "ref-1", Text: "Repas"}},
			"Nouvelle demande de service ref-1 pour le client client-03 : Repas", "New referral ref-1 for client client-03: Repas"},
		{"referral declined", alerts.Alert{Kind: "referral.answered", ClientID: "client-03", Facts: &events.AlertFacts{Ref: "ref-1", Verdict: "declined", Partner: "org-1", Text: "Liste d'attente"}},
			"Demande ref-1 refusée par Centre d'entraide des Sommets (client client-03). Note : Liste d'attente",
			"Referral ref-1 declined by Centre d'entraide des Sommets (client client-03). Note: Liste d'attente"},
		{"feed gap", alerts.Alert{Kind: "feed.gap", Facts: &events.AlertFacts{Facility: "HSTA", From: 102, To: 104}},
			"Flux HL7 HSTA : messages 102 à 104 manquants — des arrivées ont pu être manquées.", "HL7 feed HSTA: messages 102 to 104 missing — arrivals may have been missed."},
		{"feed silent", alerts.Alert{Kind: "feed.silent", Facts: &events.AlertFacts{Facility: "HSTA", At: at}},
			"Flux HL7 HSTA silencieux depuis le 2 déc. 2026, 14 h 05 — des arrivées sont peut-être manquées.", "HL7 feed HSTA silent since Dec 2, 2026, 2:05 PM — arrivals may be missed."},
		{"raised before facts", alerts.Alert{Kind: "ed.arrival", Summary: "Arrivée à l'urgence / ED arrival: client-01"},
			"Arrivée à l'urgence / ED arrival: client-01", "Arrivée à l'urgence / ED arrival: client-01"},
		{"a partner's withdrawn alert", alerts.Alert{Kind: "ed.arrival", Withdrawn: true, Summary: "Retiré / withdrawn"}, "Retirée", "Withdrawn"},
	}
	loc, err := time.LoadLocation("America/Montreal")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for lang, want := range map[string]string{langFR: c.fr, langEN: c.en} {
				v := view{L: L{Lang: lang, loc: loc}, names: func(id string) string { return names[id] }}
				if got := v.Summary(c.a); got != want {
					t.Errorf("%s: %q\nwant %q", lang, got, want)
				}
			}
		})
	}
}

// The assessment form is a read of the client file: recorded like the
// Dossier (view console.assessment); a partner is refused it by role.
func TestAssessmentFormRecordsTheRead(t *testing.T) {
	g := newRig(t)
	ck, _, _ := g.signIn(t, "tok-cm", false)
	r := httptest.NewRequest("GET", "/console/clients/client-01/assessment", nil)
	r.AddCookie(ck)
	w := g.do(r)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `name="name-5"`) || !strings.Contains(w.Body.String(), "Évaluation des besoins") {
		t.Fatalf("assessment form: %d\n%.2000s", w.Code, w.Body)
	}
	g.acc.mu.Lock()
	reads := strings.Join(g.acc.reads, ",")
	g.acc.mu.Unlock()
	if reads != "cm-1:client-01" {
		t.Errorf("reads recorded %q, want the case manager's read of client-01", reads)
	}
	ph, _, _ := g.signIn(t, "tok-ph", false)
	r = httptest.NewRequest("GET", "/console/clients/client-01/assessment", nil)
	r.AddCookie(ph)
	if w := g.do(r); w.Code != http.StatusForbidden || strings.Contains(w.Body.String(), "Hélène") {
		t.Errorf("a pharmacy's assessment form: %d, want 403 naming nobody", w.Code)
	}
}
