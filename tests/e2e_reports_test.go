package tests

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A newcomer's path through issue 4: simulate a territory, list the top ED
// users, chart the outcomes, replay to an earlier instant, read a client's
// file (recorded) and audit who read it.
func TestSimulateReportReplayAudit(t *testing.T) {
	data := t.TempDir()
	out, errs, code := runRelais(t, "simulate", "--data", data, "--durability", "relaxed", "--clients", "400", "--years", "3", "--seed", "3", "--end", "2026-11-01T00:00:00Z")
	if code != 0 {
		t.Fatalf("simulate: %d %s %s", code, out, errs)
	}
	enrolled := regexp.MustCompile(`(\d+) enrolled clients`).FindStringSubmatch(out)
	if enrolled == nil || enrolled[1] == "0" {
		t.Fatalf("simulate printed %q", out)
	}

	csv, errs, code := runRelais(t, "report", "high-utilizers", "--data", data, "--csv", "--n", "20", "--end", "2026-11-01T00:00:00Z")
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	if code != 0 || len(lines) != 21 || !strings.Contains(lines[0], "visits") {
		t.Fatalf("high-utilizers: %d lines, exit %d\n%s%s", len(lines), code, csv, errs)
	}

	svg, _, code := runRelais(t, "report", "outcomes", "--data", data, "--format", "svg", "--as-of", "2026-11-01T00:00:00Z")
	if code != 0 || !strings.Contains(svg, "<svg") || xml.Unmarshal([]byte(svg), new(struct{})) != nil {
		t.Fatalf("outcomes chart is not a valid SVG: exit %d\n%.300s", code, svg)
	}

	dir := filepath.Join(t.TempDir(), "replay")
	out, errs, code = runRelais(t, "replay", "--data", data, "--until", "1000", "--out", dir)
	if code != 0 || !strings.Contains(out, "replayed 1000 events") {
		t.Fatalf("replay: %d %s %s", code, out, errs)
	}
	for _, f := range []string{"clients.json", "caseloads.json", "high-utilizers.csv", "outcomes.svg", "replay.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("replay did not write %s", f)
		}
	}

	// A time before anything was recorded (the simulated history is all
	// recorded now): nothing to replay, and the reason is said.
	out, errs, code = runRelais(t, "replay", "--data", data, "--until", "2025-06-01T00:00:00Z", "--out", filepath.Join(t.TempDir(), "early"))
	if code != 0 || !strings.Contains(out, "replayed 0 events") || !strings.Contains(errs, "nothing was recorded by 2025-06-01T00:00:00Z") || !strings.Contains(errs, "--until N") {
		t.Fatalf("replay before the first event: %d %q %q", code, out, errs)
	}

	// Read a client's file through the API: the read is recorded.
	t.Setenv("RELAIS_ADMIN_TOKEN", "e2e-admin-token-0123456789")
	srv := startServe(t, data, "--durability", "relaxed")
	client := "sim" + firstEnrolled(t, data)
	req, _ := http.NewRequest("GET", "http://"+srv.HTTP+"/v1/clients/"+client, nil)
	req.Header.Set("Authorization", "Bearer e2e-admin-token-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), client) {
		t.Fatalf("client file: %d %.300s", resp.StatusCode, body)
	}
	audit, _, code := runRelais(t, "audit", "access", "--data", data, "--client", client)
	if code != 0 || !strings.Contains(audit, "admin") || !strings.Contains(audit, "file") {
		t.Fatalf("audit access: exit %d\n%s", code, audit)
	}
}

// firstEnrolled finds a simulated client id (the number after "sim").
func firstEnrolled(t *testing.T, data string) string {
	t.Helper()
	out, _, _ := runRelais(t, "events", "tail", "--data", data)
	m := regexp.MustCompile(`"client_id":"sim(\d+)"`).FindStringSubmatch(out)
	if m == nil {
		t.Fatal("no simulated client in the ledger")
	}
	return fmt.Sprint(m[1])
}
