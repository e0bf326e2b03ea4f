// Package delivery takes every alert change out of Relais to the people and
// systems that wait for it: the recipient's Server-Sent Events stream (the
// sse hub), the NATS subject relais.alerts.<recipient-id> for partner
// systems, and the partner's signed webhook (queued durably on JetStream).
// It is the last step of the flow: request → service → ledger → projection
// → delivery. Notify never blocks the projection that calls it.
package delivery

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/relais-health/relais/delivery/sse"
	"github.com/relais-health/relais/delivery/webhook"
	"github.com/relais-health/relais/projections/alerts"
)

// Publisher is the slice of a NATS connection delivery needs.
type Publisher interface {
	PublishMsg(m *nats.Msg) error
}

// Queue takes webhook deliveries without waiting.
type Queue interface {
	Enqueue(d webhook.Delivery)
}

// Fanout delivers alert changes. Before GoLive (while the alert projection
// catches up after a restart) only the SSE hub and recent webhooks are fed,
// so a restart does not re-publish history to partner systems.
//
// The SSE hub and the webhook queue are fed on every instance (the queue
// drops a delivery id it already holds). The NATS subjects are published by
// one instance only, the holder of a JetStream KV lease (see Run), so
// partners hear of each change once however many instances run.
type Fanout struct {
	hub   *sse.Hub
	hooks Queue
	log   *zap.Logger
	now   func() time.Time
	live  atomic.Bool

	p        *publisher // nil: no NATS subject
	liveCh   chan struct{}
	liveOnce sync.Once
	replicas int
	ttl      time.Duration
	instance string
}

// New returns a fanout without NATS subjects; hooks may be nil (no
// webhooks).
func New(hub *sse.Hub, hooks Queue, log *zap.Logger) *Fanout {
	if log == nil {
		log = zap.NewNop()
	}
	return &Fanout{hub: hub, hooks: hooks, log: log, now: time.Now, liveCh: make(chan struct{}), replicas: 1, ttl: DefaultLeaseTTL}
}

// NewNATS is New with a NATS connection: while this instance holds the
// publisher lease (Run), changes are published on relais.alerts.<recipient>.
// A nil connection publishes on no subject.
func NewNATS(hub *sse.Hub, nc *nats.Conn, hooks Queue, log *zap.Logger, opts ...Option) *Fanout {
	f := New(hub, hooks, log)
	for _, o := range opts {
		o(f)
	}
	if nc == nil {
		return f
	}
	if f.instance == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		f.instance = fmt.Sprintf("%s-%x", hostname(), b)
	}
	if f.ttl < 400*time.Millisecond {
		f.ttl = 400 * time.Millisecond
	}
	f.p = &publisher{nc: nc, pub: nc, id: f.instance, ttl: f.ttl, rep: max(f.replicas, 1), log: f.log, wake: make(chan struct{}, 1)}
	return f
}

// GoLive is called once the alert projection has caught up: from then on
// every change is also published on NATS and sent to webhooks.
func (f *Fanout) GoLive() {
	f.live.Store(true)
	f.liveOnce.Do(func() { close(f.liveCh) })
}

// Live reports whether GoLive was called.
func (f *Fanout) Live() bool { return f.live.Load() }

// Subject is where partner systems subscribe to a recipient's alerts.
func Subject(recipient string) string { return "relais.alerts." + recipient }

// Notify delivers one change. It never blocks: the hub drops a subscriber
// that falls behind, NATS publishes are buffered, and webhooks are queued
// asynchronously.
func (f *Fanout) Notify(_ context.Context, u alerts.Update) {
	ev := EncodeUpdate(u)
	f.hub.Publish(u.Recipient, ev)
	live := f.live.Load()
	if f.p != nil {
		f.p.push(pending{pos: u.Position, subject: Subject(u.Recipient), id: fmt.Sprintf("%s-%d", u.Alert.ID, u.Seq), data: ev.Data, live: live})
	}
	// Webhooks: live changes, and while catching up after a restart the
	// recent ones (a change applied just before a crash may not have been
	// queued; the queue drops those it already holds).
	recent := !u.At.IsZero() && f.now().Sub(u.At) < webhook.DedupeWindow-5*time.Minute
	if f.hooks == nil || u.Webhook == "" || u.Change == "thread" || !live && !recent {
		return
	}
	f.hooks.Enqueue(webhook.Delivery{ID: fmt.Sprintf("%s-%d", u.Alert.ID, u.Seq), URL: u.Webhook, Recipient: u.Recipient, Body: ev.Data})
}

// EncodeUpdate is an alert change as an SSE event (id = Update.Seq) and as
// the body of its NATS message and webhook.
func EncodeUpdate(u alerts.Update) sse.Event {
	b, _ := json.Marshal(u)
	return sse.Event{ID: u.Seq, Name: "alert." + u.Change, Data: b}
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "relais"
	}
	return h
}
