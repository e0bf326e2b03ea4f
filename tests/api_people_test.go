package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/internal/poll"
)

// apiDo sends method url with a JSON body and a bearer token; it returns
// the status, the Location header and the decoded answer.
func apiDo(t *testing.T, method, url, token, body string) (int, string, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader([]byte(body)))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out) //nolint:errcheck
	return resp.StatusCode, resp.Header.Get("Location"), out
}

// apiAlert waits until token's queue holds an alert of kind about client
// and returns it.
func apiAlert(t *testing.T, base, token, kind, client string) map[string]any {
	t.Helper()
	var found map[string]any
	poll.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		var q struct {
			Alerts []map[string]any `json:"alerts"`
		}
		if code := getJSON(t, base+"/v1/alerts", token, &q); code != http.StatusOK {
			return fmt.Errorf("alerts of %s: %d", token, code)
		}
		for _, a := range q.Alerts {
			if a["kind"] == kind && a["client_id"] == client {
				found = a
				return nil
			}
		}
		return fmt.Errorf("no %s alert about %s for %s among %d", kind, client, token, len(q.Alerts))
	})
	return found
}

// What the programme's people saw wrong in the API (issue 13), against the
// real binary over real HTTP: creates answer their id and a Location, the
// same medication list again records nothing, an unknown case manager's
// caseload is 404, a client never contacted has no days_since_contact, a
// concern needing a medical evaluation is high priority, and notifying the
// family doctor reaches the doctor.
func TestAPI_WhatThePeopleSawWrong(t *testing.T) {
	srv := startServe(t, t.TempDir(), "--demo", "--demo-every", "0")
	base := "http://" + srv.HTTP

	t.Run("care staff find a client by number, id or name, in a body", func(t *testing.T) {
		var file struct {
			GivenName  string `json:"given_name"`
			FamilyName string `json:"family_name"`
		}
		if code := getJSON(t, base+"/v1/clients/client-01", "demo-cm-1", &file); code != http.StatusOK {
			t.Fatalf("client-01's file: %d", code)
		}
		cases := []struct {
			name, token, query string
			status             int
			want               string
		}{
			{"health-insurance number", "demo-cm-1", "demo 00000001", http.StatusOK, "client-01"},
			{"client id", "demo-pm-1", "client-02", http.StatusOK, "client-02"},
			{"name", "demo-cm-2", strings.ToUpper(file.FamilyName + " " + file.GivenName), http.StatusOK, "client-01"},
			{"too short", "demo-cm-1", "c", http.StatusBadRequest, ""},
			{"a partner may not search", "demo-ph-1", "client-01", http.StatusForbidden, ""},
		}
		for _, c := range cases {
			code, _, out := apiDo(t, "POST", base+"/v1/clients/search", c.token, fmt.Sprintf(`{"query":%q}`, c.query))
			if code != c.status {
				t.Fatalf("%s: %d %v, want %d", c.name, code, out, c.status)
			}
			if c.want == "" {
				continue
			}
			hits, _ := out["clients"].([]any)
			found := false
			for _, h := range hits {
				found = found || h.(map[string]any)["client_id"] == c.want
			}
			if !found {
				t.Fatalf("%s: %q found %v, want %s among them", c.name, c.query, hits, c.want)
			}
		}
	})

	t.Run("errors are human and carry a stable code", func(t *testing.T) {
		cases := []struct {
			name, method, path, token, body string
			status                          int
			code, says                      string
		}{
			{"a role the route refuses", "POST", "/v1/clients/client-01/flag", "demo-ph-1", `{"programme":"defi-sante"}`, http.StatusForbidden, "role_forbidden", "needs the role case_manager"},
			{"a staff member without the role", "PUT", "/v1/clients/client-01/case-manager", "demo-pm-1", `{"staff_id":"pm-1"}`, http.StatusBadRequest, "bad_request", "this needs the role case_manager"},
			{"an unknown case manager", "GET", "/v1/caseloads/nobody", "demo-pm-1", "", http.StatusNotFound, "not_found", "nobody"},
			{"no token", "GET", "/v1/alerts", "", "", http.StatusUnauthorized, "token_missing", "bearer"},
		}
		for _, c := range cases {
			code, _, out := apiDo(t, c.method, base+c.path, c.token, c.body)
			msg := fmt.Sprint(out["error"])
			if code != c.status || out["code"] != c.code || !strings.Contains(msg, c.says) || strings.Contains(msg, "[") {
				t.Fatalf("%s: %d %v: want %d, code %s, a message saying %q without Go syntax", c.name, code, out, c.status, c.code, c.says)
			}
		}
	})

	t.Run("creates answer their id and a Location", func(t *testing.T) {
		cases := []struct {
			name, path, body, location string
		}{
			{"client", "/v1/clients", `{"given_name":"Rita","family_name":"Paquette","identifiers":[{"authority":"RAMQ","value":"PAQR40010101"}]}`, "/v1/clients/"},
			{"plan", "/v1/clients/client-02/plans", `{}`, "/v1/clients/client-02"},
		}
		for _, c := range cases {
			code, loc, out := apiDo(t, "POST", base+c.path, "demo-cm-2", c.body)
			id, _ := out["id"].(string)
			if code != http.StatusCreated || id == "" || !strings.HasPrefix(loc, c.location) {
				t.Fatalf("%s: %d Location %q %v: want 201, an id and a Location", c.name, code, loc, out)
			}
			if c.name == "client" && loc != "/v1/clients/"+id {
				t.Fatalf("client Location %q, id %q", loc, id)
			}
			if c.name == "plan" {
				code, _, obj := apiDo(t, "POST", base+"/v1/clients/client-02/objectives", "demo-cm-2",
					fmt.Sprintf(`{"plan_id":%q,"description":"Trouver un médecin de famille"}`, id))
				if oid, _ := obj["id"].(string); code != http.StatusCreated || !strings.HasPrefix(oid, "obj-") {
					t.Fatalf("objective: %d %v: want 201 and its id", code, obj)
				}
				code, _, ref := apiDo(t, "POST", base+"/v1/clients/client-02/referrals", "demo-cm-2", `{"partner_id":"org-1","reason":"Popote"}`)
				if rid, _ := ref["id"].(string); code != http.StatusCreated || !strings.HasPrefix(rid, "ref-") {
					t.Fatalf("referral: %d %v: want 201 and its id", code, ref)
				}
			}
		}
	})

	t.Run("the same medication list again records nothing", func(t *testing.T) {
		meds := `{"medications":[{"name":"Metformine","dose":"500 mg","frequency":"BID"}]}`
		code, _, first := apiDo(t, "PUT", base+"/v1/clients/client-01/medications", "demo-ph-1", meds)
		if code != http.StatusOK || first["events"] != 1.0 {
			t.Fatalf("first list: %d %v", code, first)
		}
		code, _, again := apiDo(t, "PUT", base+"/v1/clients/client-01/medications", "demo-ph-1", meds)
		if code != http.StatusOK || again["events"] != 0.0 || again["unchanged"] != true || again["revision"] != first["revision"] {
			t.Fatalf("same list again: %d %v (first %v): want 200, no event, unchanged", code, again, first)
		}
	})

	t.Run("an unknown case manager's caseload is 404", func(t *testing.T) {
		code, _, out := apiDo(t, "GET", base+"/v1/caseloads/nobody", "demo-pm-1", "")
		if code != http.StatusNotFound || !strings.Contains(fmt.Sprint(out["error"]), "nobody") {
			t.Fatalf("caseload of nobody: %d %v: want 404 naming nobody", code, out)
		}
		if code, _, _ := apiDo(t, "GET", base+"/v1/caseloads/cm-2", "demo-pm-1", ""); code != http.StatusOK {
			t.Fatalf("caseload of cm-2: %d", code)
		}
	})

	t.Run("never contacted has no days since contact", func(t *testing.T) {
		var cl struct {
			Clients []map[string]any `json:"clients"`
		}
		if code := getJSON(t, base+"/v1/caseloads/cm-1", "demo-cm-1", &cl); code != http.StatusOK || len(cl.Clients) == 0 {
			t.Fatalf("caseload: %d %v", code, cl)
		}
		for _, c := range cl.Clients {
			if c["never_contacted"] == true && c["days_since_contact"] != nil {
				t.Fatalf("%v: never contacted, yet days_since_contact %v", c["client_id"], c["days_since_contact"])
			}
		}
	})

	t.Run("a concern needing a medical evaluation is high priority", func(t *testing.T) {
		code, _, out := apiDo(t, "POST", base+"/v1/clients/client-01/concerns", "demo-ph-1",
			`{"concern":"Chutes répétées, somnolence","needs_medical_evaluation":true}`)
		if code != http.StatusCreated {
			t.Fatalf("concern: %d %v", code, out)
		}
		if a := apiAlert(t, base, "demo-cm-1", "pharmacist.concern", "client-01"); a["priority"] != "high" {
			t.Fatalf("concern alert %v: want priority high", a)
		}
	})

	t.Run("notifying the family doctor reaches the doctor", func(t *testing.T) {
		code, _, out := apiDo(t, "POST", base+"/v1/clients/client-01/doctor/notify", "demo-cm-1", `{"doctor_id":"doc-1","about":"Inscription au programme"}`)
		if code != http.StatusCreated {
			t.Fatalf("notify: %d %v", code, out)
		}
		apiAlert(t, base, "demo-doc-1", "doctor.notified", "client-01")
	})
}
