package tests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-health/relais/adapters/mllp"
	"github.com/relais-health/relais/delivery/webhook"
	"github.com/relais-health/relais/internal/poll"
)

// hookPartner is a partner's webhook endpoint: it counts every request
// and every 2xx answer per delivery id (the Relais-Delivery header), and
// while holding it keeps each request open without answering, as a slow
// partner would, until the sender's connection goes.
type hookPartner struct {
	mu       sync.Mutex
	attempts map[string]int
	answered map[string]int
	order    []string // delivery ids in the order first seen
	hold     bool
	held     map[string]bool
	stop     chan struct{}
}

func newHookPartner() *hookPartner {
	return &hookPartner{attempts: map[string]int{}, answered: map[string]int{}, held: map[string]bool{}, stop: make(chan struct{})}
}

func (h *hookPartner) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body) //nolint:errcheck
	id := r.Header.Get(webhook.HeaderDelivery)
	h.mu.Lock()
	if h.attempts[id] == 0 {
		h.order = append(h.order, id)
	}
	h.attempts[id]++
	hold := h.hold
	if hold {
		h.held[id] = true
	}
	h.mu.Unlock()
	if hold {
		select {
		case <-r.Context().Done(): // the sender was killed
		case <-h.stop:
		}
		h.mu.Lock()
		delete(h.held, id)
		h.mu.Unlock()
		return
	}
	h.mu.Lock()
	h.answered[id]++
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (h *hookPartner) setHold(v bool) {
	h.mu.Lock()
	h.hold = v
	h.mu.Unlock()
}

// counts returns copies of the counters.
func (h *hookPartner) counts() (attempts, answered map[string]int, held []string, order []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	attempts, answered = map[string]int{}, map[string]int{}
	for k, v := range h.attempts {
		attempts[k] = v
	}
	for k, v := range h.answered {
		answered[k] = v
	}
	for k := range h.held {
		held = append(held, k)
	}
	sort.Strings(held)
	return attempts, answered, held, append([]string(nil), h.order...)
}

func postAs(t *testing.T, url, token, body string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewBufferString(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, b)
	}
}

// kill -9 of `relais serve` while webhooks are being delivered, restart on
// the same --data: every delivery reaches the partner, and none answered
// 2xx before the kill is sent again (the durable delivered-set). Only the
// deliveries in flight at the kill, sent but not answered, are sent
// again; the bound is the dispatcher's workers (4), since each finishes
// recording its previous delivery before it takes the next. The kill
// comes once all four hold an unanswered request, so the test knows which
// deliveries were in flight and expects exactly those twice.
func TestFaultWebhooksAfterKill9(t *testing.T) {
	const before, during, workers = 20, 10, 4
	partner := newHookPartner()
	hs := httptest.NewServer(partner)
	defer hs.Close()
	defer close(partner.stop)

	data := t.TempDir()
	srv := startServe(t, data, "--demo", "--demo-every", "0", "--seal-key", "demo")
	base := "http://" + srv.HTTP
	// A doctor partner with a webhook, made client-01's family doctor: each
	// ED arrival of client-01 raises one alert for it, one webhook delivery.
	postAs(t, base+"/v1/partners", "demo-pm-1", fmt.Sprintf(`{"partner_id":"doc-hook","category":"doctor","name":"Clinique du webhook","webhook_url":%q}`, hs.URL+"/hook"))
	postAs(t, base+"/v1/clients/client-01/consents", "demo-cm-1", `{"category":"doctor","partner_id":"doc-hook"}`)

	ctl := 7000
	arrive := func(s *server, n int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := mllp.Dial(ctx, s.MLLP, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for range n {
			ctl++
			id := fmt.Sprint(ctl)
			if code := ackCode(t, must(c.Send(ctx, adt("A04", id, "DEMO00000001", "V"+id, "HSTA")))); code != "AA" {
				t.Fatalf("A04 %s: %s", id, code)
			}
		}
	}
	answeredN := func(n int) func() error {
		return func() error {
			if _, ans, _, _ := partner.counts(); len(ans) < n {
				return fmt.Errorf("%d deliveries answered, want %d", len(ans), n)
			}
			return nil
		}
	}

	// Delivered and answered before the kill.
	arrive(srv, before)
	poll.CheckFor(t, time.Minute, 20*time.Millisecond, answeredN(before))
	// Then the partner stops answering: every worker ends up holding one
	// request, the rest wait in the queue; kill -9 at that moment.
	partner.setHold(true)
	arrive(srv, during)
	poll.CheckFor(t, time.Minute, 10*time.Millisecond, func() error {
		if _, _, held, _ := partner.counts(); len(held) != workers {
			return fmt.Errorf("%d requests held, want %d (one per webhook worker)", len(held), workers)
		}
		return nil
	})
	_, _, inFlight, _ := partner.counts()
	srv.kill(t)
	partner.setHold(false)

	// Restart on the same data; a marker arrival after it.
	srv = startServe(t, data, "--seal-key", "demo")
	arrive(srv, 1)
	// Everything is answered (the deliveries in flight at the kill come
	// back after the queue's acknowledgement wait) and the queue is empty:
	// nothing more will be sent.
	nc := srv.natsConnect(t)
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	poll.CheckFor(t, 2*time.Minute, 50*time.Millisecond, func() error {
		if err := answeredN(before + during + 1)(); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := js.Stream(ctx, webhook.StreamName)
		if err != nil {
			return err
		}
		info, err := st.Info(ctx)
		if err != nil {
			return err
		}
		if info.State.Msgs != 0 {
			return fmt.Errorf("%d deliveries still queued", info.State.Msgs)
		}
		return nil
	})

	attempts, answered, _, order := partner.counts()
	held := map[string]bool{}
	for _, id := range inFlight {
		held[id] = true
	}
	var resent, twice, unanswered []string
	sent := 0
	for i, id := range order {
		sent += attempts[id]
		if answered[id] != 1 {
			twice = append(twice, fmt.Sprintf("%s answered %d times", id, answered[id]))
		}
		want := 1
		if held[id] {
			want = 2 // in flight at the kill: never answered, sent again
		}
		if attempts[id] != want {
			resent = append(resent, fmt.Sprintf("#%d %s sent %d times, want %d", i+1, id, attempts[id], want))
		}
		if answered[id] == 0 {
			unanswered = append(unanswered, id)
		}
	}
	t.Logf("%d deliveries, %d requests: %d in flight at the kill sent again, %d answered before the kill, %d after",
		len(order), sent, len(inFlight), before, len(order)-before)
	if len(order) != before+during+1 {
		t.Errorf("%d distinct deliveries, want %d (one per arrival)", len(order), before+during+1)
	}
	if len(resent)+len(twice)+len(unanswered) != 0 {
		t.Fatalf("after kill -9 and restart:\n%s\n%s\nnever answered: %v", strings.Join(resent, "\n"), strings.Join(twice, "\n"), unanswered)
	}
}
