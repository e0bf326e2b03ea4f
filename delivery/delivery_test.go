package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/relais-health/relais/delivery/sse"
	"github.com/relais-health/relais/delivery/webhook"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/projections/alerts"
)

// queue records webhook deliveries.
type queue struct {
	mu  sync.Mutex
	got []webhook.Delivery
}

func (q *queue) Enqueue(d webhook.Delivery) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.got = append(q.got, d)
}

func (q *queue) ids() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []string
	for _, d := range q.got {
		out = append(out, d.ID)
	}
	return out
}

var now = time.Date(2026, 12, 2, 14, 5, 0, 0, time.UTC)

func update(seq uint64, recipient, change, hook string, at time.Time) alerts.Update {
	return alerts.Update{Seq: seq, Position: seq / 1000, Recipient: recipient, Change: change, Webhook: hook, At: at,
		Alert: alerts.Alert{ID: "a1", RecipientID: recipient, Kind: "referral.received"}}
}

// Partner systems hear of alerts on relais.alerts.<recipient> only once the
// projection is live (a restart does not re-publish history); the SSE hub
// hears of every change; the webhook URL never leaves Relais.
func TestNotifyPublishesOnNATSOnlyOnceLive(t *testing.T) {
	env := jstest.Start(t, jstest.Options{})
	msgs := make(chan *nats.Msg, 8)
	sub, err := env.Conn.ChanSubscribe(Subject("org-1"), msgs)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe() //nolint:errcheck
	if err := env.Conn.Flush(); err != nil {
		t.Fatal(err)
	}
	hub := sse.NewHub()
	s, leave := hub.Subscribe("org-1")
	defer leave()
	f := NewNATS(hub, env.Conn, nil, nil, WithLeaseTTL(time.Second))
	f.now = func() time.Time { return now }
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() { cancel(); <-done }()

	f.Notify(t.Context(), update(1000, "org-1", "raised", "https://org-1.example/hook", now))
	f.GoLive()
	f.Notify(t.Context(), update(2000, "org-1", "acknowledged", "https://org-1.example/hook", now))

	for _, want := range []uint64{1000, 2000} {
		select {
		case ev := <-s.C:
			if ev.ID != want {
				t.Fatalf("SSE event id %d, want %d", ev.ID, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("SSE event %d not delivered", want)
		}
	}
	select {
	case m := <-msgs:
		var u alerts.Update
		if err := json.Unmarshal(m.Data, &u); err != nil {
			t.Fatal(err)
		}
		// The first message on the subject is the live one: the change made
		// while catching up was not published.
		if u.Seq != 2000 || u.Change != "acknowledged" {
			t.Fatalf("first NATS message is seq %d %q, want the live change 2000", u.Seq, u.Change)
		}
		if bytes.Contains(m.Data, []byte("org-1.example")) {
			t.Fatalf("the webhook URL left Relais: %s", m.Data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no NATS message for the live change")
	}
}

// Webhooks go to partners with a URL, for every change but thread notes;
// while catching up only recent changes are queued again (the queue drops
// ids it already holds), old ones are history.
func TestNotifyQueuesWebhooks(t *testing.T) {
	const hook = "https://org-1.example/hook"
	old := now.Add(-webhook.DedupeWindow)
	tests := []struct {
		name string
		live bool
		u    alerts.Update
		want bool
	}{
		{"a live change to a partner with a webhook is queued", true, update(1000, "org-1", "raised", hook, now), true},
		{"a live change to someone without a webhook is not", true, update(1000, "cm-1", "raised", "", now), false},
		{"a thread note is never sent", true, update(1000, "org-1", "thread", hook, now), false},
		{"a recent change read while catching up is queued again", false, update(1000, "org-1", "raised", hook, now.Add(-time.Minute)), true},
		{"an old change read while catching up is not", false, update(1000, "org-1", "raised", hook, old), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &queue{}
			f := New(sse.NewHub(), q, nil)
			f.now = func() time.Time { return now }
			if tt.live {
				f.GoLive()
			}
			f.Notify(t.Context(), tt.u)
			got := q.ids()
			if tt.want && (len(got) != 1 || got[0] != "a1-1000") {
				t.Fatalf("queued %v, want [a1-1000]", got)
			}
			if !tt.want && len(got) != 0 {
				t.Fatalf("queued %v, want nothing", got)
			}
		})
	}
}
