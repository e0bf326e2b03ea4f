// Package webhook delivers JSON notifications to partners' HTTP endpoints,
// signed with HMAC-SHA256 over the timestamp and body, retried with
// exponential backoff and jitter, and set aside in a dead-letter list the
// programme manager can see (and retry) when they keep failing.
//
// Deliveries wait in a JetStream work-queue stream (RELAIS_WEBHOOKS) and
// dead letters in a key-value bucket (RELAIS_WEBHOOK_DEAD), both on disk
// beside the ledger: a delivery being retried, or set aside, survives a
// restart. A delivery is taken off the queue only once the partner answered
// 2xx or it was dead-lettered, so it is sent at least once; partners
// de-duplicate on the Relais-Delivery header.
//
// The queue's own duplicate window forgets a delivery once it is taken off
// the queue (JetStream rebuilds it at start only from messages still
// stored), so the fanout's re-queueing of recent changes after a restart
// would send them all again. A third bucket (RELAIS_WEBHOOK_DELIVERED, keys
// expiring after DeliveredTTL, longer than the re-queue window) records
// every delivery a partner answered 2xx; a queued delivery found there is
// acknowledged without being sent.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	ledgerjs "github.com/relais-health/relais/infra/ledger/jetstream"
)

// Headers of a delivery.
const (
	HeaderTimestamp = "Relais-Timestamp"
	HeaderSignature = "Relais-Signature"
	HeaderDelivery  = "Relais-Delivery"
)

// Where deliveries wait and dead letters are kept.
const (
	StreamName = "RELAIS_WEBHOOKS"
	DeadBucket = "RELAIS_WEBHOOK_DEAD"
	// DeliveredBucket records the delivery ids partners answered 2xx.
	DeliveredBucket = "RELAIS_WEBHOOK_DELIVERED"
	// DeliveredTTL is how long a delivered id is remembered: longer than
	// DedupeWindow, the window within which the fanout queues changes again
	// after a restart.
	DeliveredTTL = 24 * time.Hour
	subject      = "relais.webhooks.deliver"
	consumer     = "relais-webhooks"
	// DedupeWindow is how long the queue remembers a delivery id: the same
	// delivery enqueued again within it (after a restart) is dropped.
	DedupeWindow = time.Hour

	hdrURL       = "Relais-Url"
	hdrRecipient = "Relais-Recipient"
)

var (
	// ErrBadSignature: the signature does not match.
	ErrBadSignature = errors.New("bad webhook signature")
	// ErrStale: the timestamp is outside the tolerance (a replay).
	ErrStale = errors.New("stale webhook timestamp")
	// ErrUnknownDelivery: no dead letter with that id.
	ErrUnknownDelivery = errors.New("unknown dead letter")
)

// Sign returns the signature of body sent at ts: hex HMAC-SHA256 of
// "<unix seconds>.<body>".
func Sign(secret []byte, ts time.Time, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a received delivery, for partners and tests.
func Verify(secret []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	sec, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: no timestamp", ErrBadSignature)
	}
	ts := time.Unix(sec, 0)
	if d := now.Sub(ts); d > tolerance || d < -tolerance {
		return ErrStale
	}
	got, ok := strings.CutPrefix(h.Get(HeaderSignature), "v1=")
	if !ok || !hmac.Equal([]byte(got), []byte(Sign(secret, ts, body))) {
		return ErrBadSignature
	}
	return nil
}

// Delivery is one notification to send.
type Delivery struct {
	ID        string `json:"id"`
	URL       string `json:"url"`
	Recipient string `json:"recipient"`
	Body      []byte `json:"-"`
}

// DeadLetter is a delivery that kept failing.
type DeadLetter struct {
	Delivery   Delivery  `json:"delivery"`
	Attempts   int       `json:"attempts"`
	LastError  string    `json:"last_error"`
	LastStatus int       `json:"last_status,omitempty"`
	FailedAt   time.Time `json:"failed_at"`
}

// Config tunes the dispatcher.
type Config struct {
	Secret      []byte
	Client      *http.Client
	MaxAttempts int           // default 8
	BaseBackoff time.Duration // default 1s
	MaxBackoff  time.Duration // default 5m
	Workers     int           // default 4
	Replicas    int           // of the queue stream and the bucket; default 1
	Log         *zap.Logger
	Now         func() time.Time
}

// Dispatcher sends deliveries from its durable queue.
type Dispatcher struct {
	cfg       Config
	js        jetstream.JetStream
	dead      jetstream.KeyValue
	delivered jetstream.KeyValue
}

// New opens (creating them if needed, never changing them) the delivery
// queue and the dead-letter and delivered buckets on nc's JetStream; Run
// sends.
func New(ctx context.Context, nc *nats.Conn, cfg Config) (*Dispatcher, error) {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.BaseBackoff == 0 {
		cfg.BaseBackoff = time.Second
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.Workers == 0 {
		cfg.Workers = 4
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
		log.Warn("webhook not queued", zap.String("delivery", m.Header.Get(HeaderDelivery)), zap.Error(err))
	}))
	if err != nil {
		return nil, fmt.Errorf("webhook queue: %w", err)
	}
	// Created when missing, never updated: an instance started with other
	// replicas reports the difference and leaves the cluster's queue and
	// buckets as they are (`relais admin replicas` rescales them).
	report := func(m *ledgerjs.Mismatch) {
		if m != nil {
			log.Warn("replicas mismatch: " + m.String())
		}
	}
	_, m, err := ledgerjs.EnsureStream(ctx, js, jetstream.StreamConfig{
		Name: StreamName, Subjects: []string{subject}, Retention: jetstream.WorkQueuePolicy,
		Storage: jetstream.FileStorage, Replicas: cfg.Replicas, Duplicates: DedupeWindow,
	})
	if err != nil {
		return nil, fmt.Errorf("webhook queue %s: %w", StreamName, err)
	}
	report(m)
	dead, m, err := ledgerjs.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket: DeadBucket, Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
		Description: "webhook deliveries that kept failing",
	})
	if err != nil {
		return nil, fmt.Errorf("webhook dead letters %s: %w", DeadBucket, err)
	}
	report(m)
	delivered, m, err := ledgerjs.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket: DeliveredBucket, Storage: jetstream.FileStorage, Replicas: cfg.Replicas, TTL: DeliveredTTL,
		Description: "webhook deliveries partners answered 2xx (not sent again after a restart)",
	})
	if err != nil {
		return nil, fmt.Errorf("webhook delivered set %s: %w", DeliveredBucket, err)
	}
	report(m)
	return &Dispatcher{cfg: cfg, js: js, dead: dead, delivered: delivered}, nil
}

// Enqueue queues a delivery without waiting; the queue drops an id it has
// seen within DedupeWindow. A delivery that cannot be queued is logged (the
// alert stays in the recipient's queue and SSE stream).
func (d *Dispatcher) Enqueue(del Delivery) {
	d.publish(del, del.ID)
}

func (d *Dispatcher) publish(del Delivery, msgID string) {
	m := nats.NewMsg(subject)
	m.Data = del.Body
	m.Header.Set(HeaderDelivery, del.ID)
	m.Header.Set(hdrURL, del.URL)
	m.Header.Set(hdrRecipient, del.Recipient)
	m.Header.Set(jetstream.MsgIDHeader, msgID)
	if _, err := d.js.PublishMsgAsync(m); err != nil {
		d.cfg.Log.Warn("webhook not queued", zap.String("delivery", del.ID), zap.Error(err))
	}
}

// Run delivers until ctx ends, then waits for its workers. A consumer
// that fails (the server restarting, the consumer deleted by hand) is
// logged and opened again; Run itself fails only if it cannot start.
func (d *Dispatcher) Run(ctx context.Context) error {
	if _, err := d.consumer(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	var wg sync.WaitGroup
	for range d.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.work(ctx)
		}()
	}
	wg.Wait()
	return nil
}

func (d *Dispatcher) consumer(ctx context.Context) (jetstream.Consumer, error) {
	// Created when missing, never updated (its replicas follow the queue's).
	cons, err := d.js.Consumer(ctx, StreamName, consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = d.js.CreateConsumer(ctx, StreamName, jetstream.ConsumerConfig{
			Durable: consumer, AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: -1,
			AckWait: d.cfg.Client.Timeout + 20*time.Second, MaxAckPending: 10_000,
		})
		if errors.Is(err, jetstream.ErrConsumerExists) {
			cons, err = d.js.Consumer(ctx, StreamName, consumer)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("webhook consumer: %w", err)
	}
	return cons, nil
}

// work is one delivery worker: it pulls one delivery at a time until ctx
// ends, reopening the consumer after a failure.
func (d *Dispatcher) work(ctx context.Context) {
	for ctx.Err() == nil {
		err := d.pull(ctx)
		if ctx.Err() != nil {
			return
		}
		d.cfg.Log.Warn("webhook consumer failed; reopening", zap.Error(err))
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (d *Dispatcher) pull(ctx context.Context) error {
	cons, err := d.consumer(ctx)
	if err != nil {
		return err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(1))
	if err != nil {
		return fmt.Errorf("webhook consumer: %w", err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for {
		m, err := it.Next()
		if err != nil {
			return fmt.Errorf("webhook consumer: %w", err)
		}
		d.attempt(ctx, m)
	}
}

// attempt sends one queued delivery and acknowledges, reschedules or
// dead-letters it.
func (d *Dispatcher) attempt(ctx context.Context, m jetstream.Msg) {
	h := m.Headers()
	del := Delivery{ID: h.Get(HeaderDelivery), URL: h.Get(hdrURL), Recipient: h.Get(hdrRecipient), Body: m.Data()}
	attempt := 1
	if meta, err := m.Metadata(); err == nil {
		attempt = int(meta.NumDelivered)
	}
	if _, err := d.delivered.Get(ctx, deadKey(del.ID)); err == nil {
		// Sent before (queued again after a restart): not sent twice.
		d.settle(m.Ack, del)
		return
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		// The set cannot be read: sending may repeat a delivery, but
		// holding it back could lose it; at least once wins.
		if ctx.Err() != nil {
			return
		}
		d.cfg.Log.Warn("webhook delivered set not readable; sending anyway", zap.String("delivery", del.ID), zap.Error(err))
	}
	status, retryAfter, err := d.send(ctx, del)
	if err == nil {
		if _, perr := d.delivered.Put(context.WithoutCancel(ctx), deadKey(del.ID), []byte(d.cfg.Now().UTC().Format(time.RFC3339Nano))); perr != nil {
			d.cfg.Log.Warn("webhook delivery not recorded as delivered; a restart may send it again", zap.String("delivery", del.ID), zap.Error(perr))
		}
		d.settle(m.Ack, del)
		return
	}
	if ctx.Err() != nil {
		// Stopping: left unsettled, sent again after the restart (a Nak
		// here would hand it at once to another worker's pending pull
		// that the stop then abandons).
		return
	}
	host := ""
	if u, perr := url.Parse(del.URL); perr == nil {
		host = u.Host
	}
	permanent := status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests
	if permanent || attempt >= d.cfg.MaxAttempts {
		dl := deadLetter{DeadLetter: DeadLetter{Delivery: del, Attempts: attempt, LastError: err.Error(), LastStatus: status, FailedAt: d.cfg.Now().UTC()}, Body: del.Body}
		b, _ := json.Marshal(dl)
		if _, perr := d.dead.Put(ctx, deadKey(del.ID), b); perr != nil {
			d.cfg.Log.Error("webhook dead letter not kept; the delivery stays queued", zap.String("delivery", del.ID), zap.Error(perr))
			d.settle(func() error { return m.NakWithDelay(d.cfg.MaxBackoff) }, del)
			return
		}
		d.cfg.Log.Warn("webhook dead letter", zap.String("delivery", del.ID), zap.String("host", host), zap.Int("status", status), zap.Int("attempts", attempt))
		d.settle(m.Term, del)
		return
	}
	backoff := d.cfg.BaseBackoff << min(attempt-1, 20)
	if backoff > d.cfg.MaxBackoff || backoff <= 0 {
		backoff = d.cfg.MaxBackoff
	}
	backoff = backoff/2 + time.Duration(rand.Int64N(int64(backoff/2)+1))
	if retryAfter > backoff {
		backoff = retryAfter
	}
	d.settle(func() error { return m.NakWithDelay(backoff) }, del)
}

// settle tells the queue what became of a delivery; if that fails, the
// queue sends it again after its acknowledgement wait.
func (d *Dispatcher) settle(fn func() error, del Delivery) {
	if err := fn(); err != nil {
		d.cfg.Log.Warn("webhook queue not updated; the delivery will be sent again", zap.String("delivery", del.ID), zap.Error(err))
	}
}

func (d *Dispatcher) send(ctx context.Context, del Delivery) (int, time.Duration, error) {
	ts := d.cfg.Now()
	req, err := http.NewRequestWithContext(ctx, "POST", del.URL, bytes.NewReader(del.Body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(HeaderSignature, "v1="+Sign(d.cfg.Secret, ts, del.Body))
	req.Header.Set(HeaderDelivery, del.ID)
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, 0, nil
	}
	var ra time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		ra = time.Duration(s) * time.Second
	}
	return resp.StatusCode, ra, fmt.Errorf("status %d", resp.StatusCode)
}

// deadLetter is a dead letter as kept in the bucket, with its body.
type deadLetter struct {
	DeadLetter
	Body []byte `json:"body"`
}

// deadKey is a valid bucket key for any delivery id.
func deadKey(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

// DeadLetters lists what kept failing, oldest first.
func (d *Dispatcher) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	keys, err := d.dead.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	defer keys.Stop() //nolint:errcheck
	out := []DeadLetter{}
	for k := range keys.Keys() {
		dl, err := d.deadLetter(ctx, k)
		if errors.Is(err, ErrUnknownDelivery) {
			continue // retried meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, dl.DeadLetter)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].FailedAt.Before(out[j].FailedAt) })
	return out, nil
}

func (d *Dispatcher) deadLetter(ctx context.Context, key string) (deadLetter, error) {
	e, err := d.dead.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return deadLetter{}, ErrUnknownDelivery
	}
	if err != nil {
		return deadLetter{}, fmt.Errorf("dead letter: %w", err)
	}
	var dl deadLetter
	if err := json.Unmarshal(e.Value(), &dl); err != nil {
		return deadLetter{}, fmt.Errorf("dead letter %s: %w", key, err)
	}
	dl.Delivery.Body = dl.Body
	return dl, nil
}

// Retry takes a dead letter back into the queue, as a new first attempt.
func (d *Dispatcher) Retry(ctx context.Context, id string) error {
	dl, err := d.deadLetter(ctx, deadKey(id))
	if errors.Is(err, ErrUnknownDelivery) {
		return fmt.Errorf("%w: %s", ErrUnknownDelivery, id)
	}
	if err != nil {
		return err
	}
	if err := d.dead.Delete(ctx, deadKey(id)); err != nil {
		return fmt.Errorf("retry %s: %w", id, err)
	}
	// A new queue id: the original one may still be in the de-duplication
	// window. The partner still sees the same Relais-Delivery id.
	d.publish(dl.Delivery, id+"/retry/"+strconv.FormatInt(time.Now().UnixNano(), 10))
	return nil
}
