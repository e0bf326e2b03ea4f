package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/adapters/mllp"
	"github.com/relais-health/relais/internal/poll"
)

// consentCall makes one request as token and returns the status and body.
func consentCall(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// consentNext returns the next SSE event and the client and summary of its
// alert.
func consentNext(t *testing.T, c <-chan sseEvent) (name, client, summary string) {
	t.Helper()
	ev := nextEvent(t, c, 10*time.Second)
	a, _ := ev.Data["alert"].(map[string]any)
	client, _ = a["client_id"].(string)
	summary, _ = a["summary"].(string)
	return ev.Name, client, summary
}

// consentEventCount counts the ledger events of type typ about client.
func consentEventCount(t *testing.T, data, typ, client string) int {
	t.Helper()
	out, _, code := runRelais(t, "events", "tail", "--data", data)
	if code != 0 {
		t.Fatalf("events tail: exit %d", code)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e struct {
			Type string `json:"type"`
			Data struct {
				ClientID string `json:"client_id"`
			} `json:"data"`
		}
		if json.Unmarshal([]byte(line), &e) == nil && e.Type == typ && e.Data.ClientID == client {
			n++
		}
	}
	return n
}

// One consent rule for writes, fan-out and reads, walked end to end on the
// real binary with the demo territory: client-01's doctor consent names
// doc-1, its rehab consent covers the category and it is referred to
// rehab-1; client-02's doctor consent names doc-2; client-06 is referred to
// rehab-1 too.
func TestSecurity_ConsentIsOneRuleForWritesFanOutAndReads(t *testing.T) {
	data := t.TempDir()
	srv := startServe(t, data, "--demo", "--demo-every", "0")
	base := "http://" + srv.HTTP
	file := base + "/v1/clients/client-01"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The demo refers every fifth of its 200 clients (40) to rehab-1 as it
	// seeds: once their referrals are in rehab-1's queue, its stream
	// resumes after them.
	var seeded struct {
		Alerts []struct {
			Position uint64 `json:"position"`
		} `json:"alerts"`
	}
	poll.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if code := getJSON(t, base+"/v1/alerts", "demo-rehab-1", &seeded); code != http.StatusOK || len(seeded.Alerts) != 40 {
			return fmt.Errorf("rehab-1's queue while the demo seeds: %d, %d alerts (want the 40 referrals)", code, len(seeded.Alerts))
		}
		return nil
	})
	var last uint64
	for _, a := range seeded.Alerts {
		last = max(last, a.Position)
	}
	doc1 := openSSE(t, ctx, base, "demo-doc-1", "")
	doc2 := openSSE(t, ctx, base, "demo-doc-2", "")
	rehab := openSSE(t, ctx, base, "demo-rehab-1", fmt.Sprint(last*1000+999))
	cm := openSSE(t, ctx, base, "demo-cm-1", "")
	hl7, err := mllp.Dial(ctx, srv.MLLP, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hl7.Close()
	arrive := func(trigger, control, ramq, visit string) {
		t.Helper()
		if code := ackCode(t, must(hl7.Send(ctx, adt(trigger, control, ramq, visit, "HSTA")))); code != "AA" {
			t.Fatalf("%s %s: %s", trigger, control, code)
		}
	}

	// Writes. A doctor the consent does not name cannot claim the client.
	if code, body := consentCall(t, "POST", file+"/doctor/confirm", "demo-doc-2", `{"is_patient":true}`); code != http.StatusForbidden {
		t.Fatalf("doc-2, not named in client-01's consent, confirmed: %d %s", code, body)
	}
	// A confirmation without its answer records nothing: 400 naming it.
	for _, body := range []string{"", "{}"} {
		if code, resp := consentCall(t, "POST", file+"/doctor/confirm", "demo-doc-1", body); code != http.StatusBadRequest || !strings.Contains(resp, "is_patient") {
			t.Fatalf("confirm with body %q: %d %s, want 400 naming is_patient", body, code, resp)
		}
	}
	if n := consentEventCount(t, data, "doctor.confirmed", "client-01"); n != 0 {
		t.Fatalf("%d doctor.confirmed recorded by refused requests", n)
	}
	// A second pharmacy cannot write when the pharmacy consent names ph-1.
	if code, body := consentCall(t, "POST", file+"/consents", "demo-cm-1", `{"category":"pharmacy","partner_id":"ph-1"}`); code != http.StatusCreated {
		t.Fatalf("grant pharmacy consent naming ph-1: %d %s", code, body)
	}
	meds := `{"medications":[{"name":"Lorazépam","dose":"1 mg"}]}`
	if code, body := consentCall(t, "PUT", file+"/medications", "demo-ph-2", meds); code != http.StatusForbidden {
		t.Fatalf("ph-2 updated a profile whose consent names ph-1: %d %s", code, body)
	}
	if code, body := consentCall(t, "POST", file+"/concerns", "demo-ph-2", `{"concern":"x"}`); code != http.StatusForbidden {
		t.Fatalf("ph-2 raised a concern for a client whose consent names ph-1: %d %s", code, body)
	}
	if code, body := consentCall(t, "PUT", file+"/medications", "demo-ph-1", meds); code != http.StatusOK {
		t.Fatalf("ph-1, named, updating the profile: %d %s", code, body)
	}

	// Fan-out. client-01 arrives: doc-1 and rehab-1 are told; doc-2 is not.
	// The marker: client-02's arrival is the first thing doc-2 hears of.
	arrive("A04", "8001", "DEMO00000001", "V8001")
	if name, client, _ := consentNext(t, doc1); name != "alert.raised" || client != "client-01" {
		t.Fatalf("doc-1 got %s for %s, want the arrival of client-01", name, client)
	}
	if name, client, _ := consentNext(t, rehab); name != "alert.raised" || client != "client-01" {
		t.Fatalf("rehab-1 got %s for %s, want the arrival of client-01", name, client)
	}
	if name, client, _ := consentNext(t, cm); name != "alert.raised" || client != "client-01" {
		t.Fatalf("cm-1 got %s for %s", name, client)
	}
	arrive("A04", "8002", "DEMO00000002", "V8002")
	if name, client, _ := consentNext(t, doc2); name != "alert.raised" || client != "client-02" {
		t.Fatalf("doc-2's first alert is %s for %s, want client-02's arrival (nothing of client-01)", name, client)
	}

	// Revocation: rehab-1 can no longer answer, keeps only "withdrawn" of
	// its alerts, and hears nothing more of the visit.
	if code, body := consentCall(t, "DELETE", file+"/consents/rehab", "demo-cm-1", ""); code != http.StatusOK {
		t.Fatalf("revoke rehab consent: %d %s", code, body)
	}
	for range 2 { // the referral and the arrival
		name, client, summary := consentNext(t, rehab)
		if name != "alert.withdrawn" || client != "client-01" || summary != "Retiré / withdrawn" {
			t.Fatalf("after the revocation rehab-1 got %s for %s saying %q, want the withdrawal saying only %q", name, client, summary, "Retiré / withdrawn")
		}
	}
	if code, body := consentCall(t, "POST", file+"/referrals/ref-1/accepted", "demo-rehab-1", ""); code != http.StatusForbidden && code != http.StatusConflict {
		t.Fatalf("rehab-1 accepted a referral after the rehab consent was revoked: %d %s", code, body)
	}
	if n := consentEventCount(t, data, "referral.accepted", "client-01"); n != 0 {
		t.Fatalf("%d referral.accepted recorded after the revocation", n)
	}
	arrive("A01", "8003", "DEMO00000001", "V8001") // client-01 is admitted
	if name, client, _ := consentNext(t, cm); name != "alert.thread" || client != "client-01" {
		t.Fatalf("cm-1 got %s for %s, want the thread update of client-01's visit", name, client)
	}
	// The marker for rehab-1: client-06, still referred to it, arrives.
	arrive("A04", "8004", "DEMO00000006", "V8004")
	if name, client, _ := consentNext(t, rehab); name != "alert.raised" || client != "client-06" {
		t.Fatalf("after the revocation rehab-1 got %s for %s, want nothing of client-01 before client-06's arrival", name, client)
	}
	var q struct {
		Alerts []struct {
			ClientID  string `json:"client_id"`
			Summary   string `json:"summary"`
			Status    string `json:"status"`
			Withdrawn bool   `json:"withdrawn"`
		} `json:"alerts"`
	}
	if code := getJSON(t, base+"/v1/alerts", "demo-rehab-1", &q); code != http.StatusOK {
		t.Fatalf("rehab-1's queue: %d", code)
	}
	for _, a := range q.Alerts {
		if a.ClientID == "client-01" && (!a.Withdrawn || a.Summary != "Retiré / withdrawn" || a.Status != "") {
			t.Fatalf("rehab-1's queue still holds client-01's alert: %+v", a)
		}
	}

	// Reads: the case closure's free text is for staff, and the doctor's
	// view carries no patient key.
	const reason = "Hébergée chez sa fille après le décès du conjoint"
	if code, body := consentCall(t, "POST", file+"/close", "demo-cm-1", `{"reason":"`+reason+`"}`); code != http.StatusCreated {
		t.Fatalf("close: %d %s", code, body)
	}
	for _, token := range []string{"demo-doc-1", "demo-ph-1"} {
		var body string
		// The read model catches up with the closure.
		poll.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			var code int
			if code, body = consentCall(t, "GET", file, token, ""); code != http.StatusOK || !strings.Contains(body, `"closure"`) {
				return fmt.Errorf("%s reading client-01: %d %s", token, code, body)
			}
			return nil
		})
		if strings.Contains(body, reason) || strings.Contains(body, "patient_key") {
			t.Fatalf("%s's view of client-01 shows the closure's reason or a patient key: %s", token, body)
		}
	}
	if code, body := consentCall(t, "GET", file, "demo-cm-1", ""); code != http.StatusOK || !strings.Contains(body, reason) {
		t.Fatalf("the case manager's view lacks the closure's reason: %d %s", code, body)
	}
}
