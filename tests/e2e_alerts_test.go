package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/adapters/mllp"
)

// sseEvent is one event read from an SSE stream.
type sseEvent struct {
	ID, Name string
	Data     map[string]any
}

// openSSE reads an alert stream as token; events arrive on the channel.
func openSSE(t *testing.T, ctx context.Context, base, token, lastID string) <-chan sseEvent {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/alerts/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("stream: %d %s", resp.StatusCode, b)
	}
	out := make(chan sseEvent, 64)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		var data strings.Builder
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if data.Len() > 0 {
					json.Unmarshal([]byte(data.String()), &ev.Data) //nolint:errcheck
					out <- ev
				}
				ev = sseEvent{}
				data.Reset()
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.Name = line[7:]
			case strings.HasPrefix(line, "data: "):
				data.WriteString(line[6:])
			}
		}
	}()
	return out
}

func nextEvent(t *testing.T, c <-chan sseEvent, wait time.Duration) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-c:
		if !ok {
			t.Fatal("stream closed")
		}
		return ev
	case <-time.After(wait):
		t.Fatalf("no SSE event within %v", wait)
	}
	return sseEvent{}
}

// edVisits lists the visit numbers of the ed.visit.started events in the
// output of relais events tail, in ledger order.
func edVisits(t *testing.T, tail string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(tail), "\n") {
		var e struct {
			Type string `json:"type"`
			Data struct {
				VisitNumber string `json:"visit_number"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("events tail printed %q: %v", line, err)
		}
		if e.Type == "ed.visit.started" {
			out = append(out, e.Data.VisitNumber)
		}
	}
	return out
}

// adt builds an ADT message for a demo client (RAMQ DEMO0000000n).
func adt(trigger, control, client, visit, facility string) []byte {
	segs := []string{
		"MSH|^~\\&|URGENCE|" + facility + "|RELAIS|CSSS|20261120143000-0500||ADT^" + trigger + "^ADT_A01|" + control + "|P|2.5.1",
		"EVN|" + trigger + "|" + time.Now().Format("20060102150405-0700"),
		"PID|1||" + client + "^^^RAMQ^JHN~MRN" + control + "^^^" + facility + "^MR||Bélanger^Hélène",
		"PV1|1|E|URG||||||||||||||||" + visit,
		"PV2|||R06^Dyspnée",
	}
	return []byte(strings.Join(segs, "\r") + "\r")
}

func ackCode(t *testing.T, reply []byte) string {
	t.Helper()
	for _, seg := range strings.Split(string(reply), "\r") {
		if strings.HasPrefix(seg, "MSA|") {
			return strings.Split(seg, "|")[1]
		}
	}
	t.Fatalf("no MSA in reply %q", reply)
	return ""
}

func getJSON(t *testing.T, url, token string, v any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		json.NewDecoder(resp.Body).Decode(v) //nolint:errcheck
	}
	return resp.StatusCode
}

// The heart of Relais, end to end: real HL7 over a TCP MLLP connection to
// the real `relais serve`, and the case manager's alert read from the SSE
// stream over HTTP; duplicates and malformed messages; a restart in the
// middle that neither loses nor duplicates alerts.
func TestED_ArrivalReachesTheCaseManagerOverSSE(t *testing.T) {
	data := t.TempDir()
	srv := startServe(t, data, "--demo", "--demo-every", "0", "--durability", "strict")
	base := "http://" + srv.HTTP
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := openSSE(t, ctx, base, "demo-cm-1", "")
	// The partner-side view: the family doctor of client-01 (doc-1) too.
	docStream := openSSE(t, ctx, base, "demo-doc-1", "")

	// The demo's back-dated ED history is in the ledger before serve
	// answers; the visits this test sends are the ones after it.
	seeded, _, _ := runRelais(t, "events", "tail", "--data", data)
	history := len(edVisits(t, seeded))

	c, err := mllp.Dial(ctx, srv.MLLP, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := adt("A04", "5001", "DEMO00000001", "V5001", "HSTA")
	sent := time.Now()
	reply, err := c.Send(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	if code := ackCode(t, reply); code != "AA" {
		t.Fatalf("A04 for a flagged client: %s (%q)", code, reply)
	}
	ev := nextEvent(t, stream, 5*time.Second)
	t.Logf("ACK to SSE alert: %v", time.Since(sent))
	alert, _ := ev.Data["alert"].(map[string]any)
	if ev.Name != "alert.raised" || alert["client_id"] != "client-01" || alert["priority"] != "high" {
		t.Fatalf("case manager got %+v", ev)
	}
	if s, _ := alert["summary"].(string); !strings.Contains(s, "Dyspnée") {
		t.Fatalf("summary lacks the reason: %q", s)
	}
	docEv := nextEvent(t, docStream, 5*time.Second)
	if s, _ := docEv.Data["alert"].(map[string]any)["summary"].(string); strings.Contains(s, "Dyspnée") {
		t.Fatalf("the doctor's FYI carries the ED reason: %q", s)
	}

	// The same control id again: acknowledged again, recorded once, no page.
	if code := ackCode(t, must(c.Send(ctx, msg))); code != "AA" {
		t.Fatalf("duplicate: %s", code)
	}
	// Malformed and refused messages get AE and AR and change nothing.
	bad := []byte(strings.Replace(string(msg), "DEMO00000001^^^RAMQ^JHN~MRN5001^^^HSTA^MR", "", 1))
	if code := ackCode(t, must(c.Send(ctx, bad))); code != "AE" {
		t.Fatalf("no PID-3: %s", code)
	}
	if code := ackCode(t, must(c.Send(ctx, adt("A04", "5002", "DEMO00000001", "V5002", "EVIL")))); code != "AR" {
		t.Fatalf("unknown facility: %s", code)
	}
	if code := ackCode(t, must(c.Send(ctx, []byte("MSH|^~\\&|X|HSTA|||2026||ORM^O01|9|P|2.5\rPID|1||1")))); code != "AR" {
		t.Fatalf("an order message: %s", code)
	}
	// A marker: the arrival of another of the case manager's clients (demo
	// client-05). Alerts are raised in ledger order, so a page caused by the
	// duplicate or the refused messages would reach the stream before it.
	if code := ackCode(t, must(c.Send(ctx, adt("A04", "5004", "DEMO00000005", "V5004", "HSTA")))); code != "AA" {
		t.Fatalf("the marker arrival: %s", code)
	}
	marker := nextEvent(t, stream, 5*time.Second)
	if a, _ := marker.Data["alert"].(map[string]any); marker.Name != "alert.raised" || a["client_id"] != "client-05" {
		t.Fatalf("after the duplicate and the refused messages the case manager got %+v, want only the marker arrival of client-05", marker)
	}
	out, _, _ := runRelais(t, "events", "tail", "--data", data)
	if got := edVisits(t, out)[history:]; strings.Join(got, ",") != "V5001,V5004" {
		t.Fatalf("ED visits recorded %v, want V5001 once and the marker V5004", got)
	}

	// Restart in the middle: stop, start again on the same data, resume the
	// stream from the last id seen: nothing lost, nothing duplicated.
	cancel()
	c.Close()
	srv.stop(t)
	srv2 := startServe(t, data, "--demo", "--demo-every", "0")
	base2 := "http://" + srv2.HTTP
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	resumed := openSSE(t, ctx2, base2, "demo-cm-1", marker.ID)
	c2, err := mllp.Dial(ctx2, srv2.MLLP, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if code := ackCode(t, must(c2.Send(ctx2, adt("A04", "5003", "DEMO00000003", "V5003", "HSTA")))); code != "AA" {
		t.Fatalf("after restart: %s", code)
	}
	ev2 := nextEvent(t, resumed, 5*time.Second)
	if a, _ := ev2.Data["alert"].(map[string]any); ev2.Name != "alert.raised" || a["client_id"] != "client-03" {
		t.Fatalf("after restart the resumed stream got %+v, want only the new arrival", ev2)
	}
	var q struct {
		Alerts []map[string]any `json:"alerts"`
	}
	if code := getJSON(t, base2+"/v1/alerts", "demo-cm-1", &q); code != 200 || len(q.Alerts) != 3 {
		t.Fatalf("queue after restart: %d, %d alerts (want 3: client-01, the marker client-05, client-03)", code, len(q.Alerts))
	}

	// Acknowledge: an event, and the stream says so.
	id := q.Alerts[0]["id"].(string)
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/v1/alerts/%s/ack", base2, id), nil)
	req.Header.Set("Authorization", "Bearer demo-cm-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("ack: %d", resp.StatusCode)
	}
	if ack := nextEvent(t, resumed, 5*time.Second); ack.Name != "alert.acknowledged" {
		t.Fatalf("after ack: %+v", ack)
	}
	// A partner cannot read the case manager's queue.
	req, _ = http.NewRequest("POST", fmt.Sprintf("%s/v1/alerts/%s/ack", base2, id), nil)
	req.Header.Set("Authorization", "Bearer demo-ph-1")
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("pharmacy acknowledged the case manager's alert: %d", resp.StatusCode)
	}
}

// A high-priority alert nobody acknowledges is escalated to the programme
// manager, and the escalation is an event.
func TestUnacknowledgedAlertIsEscalated(t *testing.T) {
	data := t.TempDir()
	srv := startServe(t, data, "--demo", "--demo-every", "0", "--escalate-after", "1s")
	base := "http://" + srv.HTTP
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pm := openSSE(t, ctx, base, "demo-pm-1", "")
	c, err := mllp.Dial(ctx, srv.MLLP, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if code := ackCode(t, must(c.Send(ctx, adt("A04", "7001", "DEMO00000002", "V7001", "HSTA")))); code != "AA" {
		t.Fatal(code)
	}
	ev := nextEvent(t, pm, 10*time.Second)
	if ev.Name != "alert.escalated" {
		t.Fatalf("programme manager got %+v", ev)
	}
	out, _, _ := runRelais(t, "events", "tail", "--data", data)
	if !strings.Contains(out, `"type":"alert.escalated"`) {
		t.Fatal("the escalation is not in the ledger")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
