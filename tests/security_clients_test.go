package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/adapters/mllp"
)

// clientsPost sends a JSON body with a bearer token and returns the status
// and the decoded answer.
func clientsPost(t *testing.T, url, token string, body any) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out) //nolint:errcheck
	return resp.StatusCode, out
}

// clientsNextRaised returns the next alert.raised of an SSE stream,
// skipping other alert events, and the client it is about.
func clientsNextRaised(t *testing.T, c <-chan sseEvent) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ev := nextEvent(t, c, time.Until(deadline))
		if ev.Name != "alert.raised" {
			continue
		}
		a, _ := ev.Data["alert"].(map[string]any)
		id, _ := a["client_id"].(string)
		return id
	}
	t.Fatal("no alert.raised")
	return ""
}

// A client's identifier cannot be registered again for someone else: the
// duplicate is refused (409, naming the client who holds it, not their
// name), caller-made patient keys are refused (400), and the first
// client's next ED arrival still pages their case manager. Two records of
// one person are joined by an explicit merge, after which an arrival under
// the duplicate's identifier pages the survivor's case manager. Real
// binary, real HTTP and MLLP.
func TestSecurity_DuplicateClientIdentifiersAreRefusedAndMergedExplicitly(t *testing.T) {
	data := t.TempDir()
	srv := startServe(t, data, "--demo", "--demo-every", "0")
	base := "http://" + srv.HTTP
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cm1 := openSSE(t, ctx, base, "demo-cm-1", "")

	var file struct {
		GivenName  string `json:"given_name"`
		FamilyName string `json:"family_name"`
	}
	if code := getJSON(t, base+"/v1/clients/client-01", "demo-cm-1", &file); code != http.StatusOK || file.FamilyName == "" {
		t.Fatalf("client-01's file: %d %+v", code, file)
	}

	refusals := []struct {
		name   string
		token  string
		body   map[string]any
		status int
		naming string
	}{
		{"a second client with client-01's RAMQ number is refused, naming client-01", "demo-cm-2",
			map[string]any{"given_name": "Faux", "family_name": "Double", "identifiers": []map[string]string{{"authority": "RAMQ", "value": "DEMO00000001"}}},
			http.StatusConflict, "client-01"},
		{"a registration that brings its own patient keys is refused, naming the field", "demo-cm-1",
			map[string]any{"given_name": "Faux", "family_name": "Clé", "identifiers": []map[string]string{{"authority": "RAMQ", "value": "FAUX00000001"}},
				"patient_keys": []string{"pk00000000000000000000000000000000"}},
			http.StatusBadRequest, "patient_keys"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			code, out := clientsPost(t, base+"/v1/clients", tt.token, tt.body)
			msg, _ := out["error"].(string)
			if code != tt.status || !strings.Contains(msg, tt.naming) {
				t.Errorf("POST /v1/clients: %d %v, want %d naming %q", code, out, tt.status, tt.naming)
			}
			if strings.Contains(msg, file.FamilyName) || strings.Contains(msg, file.GivenName) {
				t.Errorf("the refusal names client-01: %q", msg)
			}
		})
	}

	c, err := mllp.Dial(ctx, srv.MLLP, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// client-01 arrives, then (a marker) client-03, both followed by cm-1.
	// Alerts are raised in ledger order: if the refused registration had
	// taken client-01's number, the first page would be client-03's.
	for _, m := range [][]byte{adt("A04", "8001", "DEMO00000001", "V8001", "HSTA"), adt("A04", "8002", "DEMO00000003", "V8002", "HSTA")} {
		if code := ackCode(t, must(c.Send(ctx, m))); code != "AA" {
			t.Fatalf("A04: %s", code)
		}
	}
	if got := clientsNextRaised(t, cm1); got != "client-01" {
		t.Fatalf("after a refused duplicate, client-01's arrival paged about %q, want client-01", got)
	}
	if got := clientsNextRaised(t, cm1); got != "client-03" {
		t.Fatalf("the marker arrival paged about %q, want client-03", got)
	}

	// The same person registered again under another identifier (a
	// hospital record number) is merged into client-01, explicitly.
	if code, out := clientsPost(t, base+"/v1/clients", "demo-cm-1", map[string]any{"client_id": "dup-01", "given_name": "Faux", "family_name": "Double",
		"identifiers": []map[string]string{{"authority": "HSTA", "value": "MRN8003"}}}); code != http.StatusCreated || out["id"] != "dup-01" {
		t.Fatalf("register dup-01: %d %v", code, out)
	}
	merge := map[string]any{"into": "client-01", "reason": "même personne, inscrite deux fois"}
	if code, out := clientsPost(t, base+"/v1/clients/dup-01/merge", "demo-ph-1", merge); code != http.StatusForbidden {
		t.Fatalf("a pharmacy merged two clients: %d %v", code, out)
	}
	if code, out := clientsPost(t, base+"/v1/clients/dup-01/merge", "demo-cm-1", merge); code != http.StatusCreated {
		t.Fatalf("merge dup-01 into client-01: %d %v", code, out)
	}
	if code, out := clientsPost(t, base+"/v1/clients", "demo-cm-2", map[string]any{"given_name": "Faux", "family_name": "Triple",
		"identifiers": []map[string]string{{"authority": "HSTA", "value": "MRN8003"}}}); code != http.StatusConflict || !strings.Contains(out["error"].(string), "client-01") {
		t.Fatalf("after the merge, the duplicate's number registered again: %d %v, want 409 naming client-01", code, out)
	}
	// An arrival known only by the duplicate's record number pages
	// client-01's case manager about client-01.
	if code := ackCode(t, must(c.Send(ctx, adt("A04", "8003", "XXXX99999999", "V8003", "HSTA")))); code != "AA" {
		t.Fatalf("A04 after the merge: %s", code)
	}
	if got := clientsNextRaised(t, cm1); got != "client-01" {
		t.Fatalf("an arrival under the merged duplicate's number paged about %q, want client-01", got)
	}
	out, _, _ := runRelais(t, "events", "tail", "--data", data)
	for _, want := range []string{`"type":"client.merged"`, `"type":"client.absorbed"`, `"type":"client.identifier_claimed"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the ledger has no %s event", want)
		}
	}
	// dup-01's patient key was derived by Relais (the caller sent none).
	found := false
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, `"type":"client.registered"`) && strings.Contains(line, `"client_id":"dup-01"`) {
			found = true
			if !strings.Contains(line, `"patient_keys":["pk`) {
				t.Errorf("dup-01 was registered without a derived patient key: %s", line)
			}
		}
	}
	if !found {
		t.Error("dup-01's client.registered is not in the ledger")
	}
}
