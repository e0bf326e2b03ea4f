package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/adapters/mllp"
	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/internal/poll"
)

// call sends method url with token and an optional JSON body; it returns
// the status and the body.
func call(t *testing.T, method, url, token string, body any) (int, string) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
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

type setAsideEvent struct {
	ID, Projection, Type, Error string
	EventID                     string `json:"event_id"`
	Attempts                    int
}

func setAsideList(t *testing.T, base string) []setAsideEvent {
	t.Helper()
	var got struct {
		SetAside []setAsideEvent `json:"set_aside"`
	}
	if code := getJSON(t, base+"/v1/set-aside", "demo-pm-1", &got); code != http.StatusOK {
		t.Fatalf("GET /v1/set-aside: %d", code)
	}
	return got.SetAside
}

// arrivalAlerts lists the client ids of the ed.arrival alerts in the queue
// token sees.
func arrivalAlerts(t *testing.T, base, token string) []string {
	t.Helper()
	var q struct {
		Alerts []struct {
			Kind     string `json:"kind"`
			ClientID string `json:"client_id"`
		} `json:"alerts"`
	}
	getJSON(t, base+"/v1/alerts", token, &q)
	var out []string
	for _, a := range q.Alerts {
		if a.Kind == "ed.arrival" {
			out = append(out, a.ClientID)
		}
	}
	return out
}

// A poison event on the real server: an operator's stray append occupies
// the stream of the alert an ED arrival derives, so the alerts projection
// sets the arrival aside. The programme manager sees it, retries it while
// the cause stands (409: it stays, one attempt more), reassigns the client
// to another case manager, and retries again: the arrival pages the new
// case manager and leaves the set-aside list. A retry is logged with its
// actor; an unknown id is 404, a case manager 403.
func TestSetAsideEventRetriedByTheProgrammeManager(t *testing.T) {
	data := t.TempDir()
	srv := startServe(t, data, "--demo", "--demo-every", "0")
	base := "http://" + srv.HTTP

	// The alert the arrival of client-01 (case manager cm-1) will derive,
	// its stream taken first.
	thread := events.DeriveID("thread", "HSTA", "VSA1")
	alertID := events.DeriveID("alert", thread, "cm-1", "ed.arrival", "", "")
	if out, errOut, code := runRelais(t, "events", "append", "--data", data, "--seal-key", "demo", "--stream", events.AlertStream(alertID), "--expected", "new",
		"--type", events.TypeAlertAcknowledged, "--payload", fmt.Sprintf(`{"alert_id":%q,"actor_id":"operator"}`, alertID)); code != 0 {
		t.Fatalf("stray append: exit %d: %s %s", code, out, errOut)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := mllp.Dial(ctx, srv.MLLP, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if code := ackCode(t, must(c.Send(ctx, adt("A04", "7001", "DEMO00000001", "VSA1", "HSTA")))); code != "AA" {
		t.Fatalf("A04: %s", code)
	}
	var aside setAsideEvent
	poll.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		l := setAsideList(t, base)
		if len(l) != 1 || l[0].Projection != "alerts" || l[0].Type != events.TypeEDVisitStarted {
			return fmt.Errorf("set aside: %+v; want the ED arrival, by the alerts projection", l)
		}
		aside = l[0]
		return nil
	})
	url := base + "/v1/set-aside/" + aside.ID + "/retry"

	for _, tc := range []struct {
		name, url, token string
		want             int
	}{
		{"a case manager may not retry", url, "demo-cm-1", http.StatusForbidden},
		{"a partner may not retry", url, "demo-doc-1", http.StatusForbidden},
		{"an unknown id", base + "/v1/set-aside/alerts.00000000000000999999/retry", "demo-pm-1", http.StatusNotFound},
		{"an id of no projection", base + "/v1/set-aside/nothing.1/retry", "demo-pm-1", http.StatusNotFound},
		{"still failing", url, "demo-pm-1", http.StatusConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := call(t, "POST", tc.url, tc.token, nil); code != tc.want {
				t.Fatalf("POST %s as %s: %d %s; want %d", tc.url, tc.token, code, body, tc.want)
			}
		})
	}
	if l := setAsideList(t, base); len(l) != 1 || l[0].ID != aside.ID || l[0].Attempts != aside.Attempts+1 || !strings.Contains(l[0].Error, "revision") {
		t.Fatalf("after a retry that failed again: %+v; want %s with %d attempts and the new error", l, aside.ID, aside.Attempts+1)
	}

	// The fix: client-01 goes to cm-2. A marker arrival of cm-2's client-02
	// shows the alerts projection has read the reassignment.
	if code, body := call(t, "PUT", base+"/v1/clients/client-01/case-manager", "demo-pm-1", map[string]string{"staff_id": "cm-2"}); code/100 != 2 {
		t.Fatalf("reassign: %d %s", code, body)
	}
	if code := ackCode(t, must(c.Send(ctx, adt("A04", "7002", "DEMO00000002", "VSA2", "HSTA")))); code != "AA" {
		t.Fatalf("marker A04: %s", code)
	}
	poll.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		if got := arrivalAlerts(t, base, "demo-cm-2"); strings.Join(got, ",") != "client-02" {
			return fmt.Errorf("cm-2's arrival alerts: %v, want the marker's (client-02)", got)
		}
		return nil
	})
	if code, body := call(t, "POST", url, "demo-pm-1", nil); code != http.StatusOK || !strings.Contains(body, `"applied":true`) {
		t.Fatalf("retry after the fix: %d %s", code, body)
	}
	if l := setAsideList(t, base); len(l) != 0 {
		t.Fatalf("set aside after a retry that applied: %+v", l)
	}
	poll.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		if got := arrivalAlerts(t, base, "demo-cm-2"); len(got) != 2 || got[0] != "client-01" {
			return fmt.Errorf("cm-2's arrival alerts: %v, want client-01's (the retried arrival) after client-02's", got)
		}
		return nil
	})
	if code, body := call(t, "POST", url, "demo-pm-1", nil); code != http.StatusNotFound {
		t.Fatalf("a second retry of the same id: %d %s; want 404", code, body)
	}
	logs := srv.logs()
	for _, want := range []string{"set-aside event retried: still failing", "set-aside event retried: applied"} {
		if !strings.Contains(logs, want) || !strings.Contains(logs, `"actor":"pm-1"`) {
			t.Errorf("serve's log lacks %q naming the actor pm-1", want)
		}
	}
}
