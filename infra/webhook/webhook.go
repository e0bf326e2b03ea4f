// Package webhook delivers JSON notifications to partners' HTTP endpoints,
// signed with HMAC-SHA256 over the timestamp and body, retried with
// exponential backoff and jitter, and set aside in a dead-letter list the
// programme manager can see (and retry) when they keep failing.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Headers of a delivery.
const (
	HeaderTimestamp = "Relais-Timestamp"
	HeaderSignature = "Relais-Signature"
	HeaderDelivery  = "Relais-Delivery"
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
	Log         *zap.Logger
	Now         func() time.Time
}

// Dispatcher sends deliveries.
type Dispatcher struct {
	cfg   Config
	queue chan job
	mu    sync.Mutex
	dead  map[string]DeadLetter
}

type job struct {
	d       Delivery
	attempt int
	at      time.Time
}

// New returns a dispatcher; Run starts it.
func New(cfg Config) *Dispatcher {
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
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Dispatcher{cfg: cfg, queue: make(chan job, 10_000), dead: map[string]DeadLetter{}}
}

// Enqueue schedules a delivery (dropped with a log line if the queue is full:
// the alert stays in the recipient's queue and SSE stream).
func (d *Dispatcher) Enqueue(del Delivery) {
	select {
	case d.queue <- job{d: del, attempt: 1}:
	default:
		d.cfg.Log.Warn("webhook queue full", zap.String("delivery", del.ID))
	}
}

// Run delivers until ctx ends, then waits for its workers.
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range d.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-d.queue:
					d.attempt(ctx, j)
				}
			}
		}()
	}
	wg.Wait()
	return nil
}

func (d *Dispatcher) attempt(ctx context.Context, j job) {
	if wait := time.Until(j.at); wait > 0 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
	}
	status, retryAfter, err := d.send(ctx, j.d)
	if err == nil {
		return
	}
	host := ""
	if u, perr := url.Parse(j.d.URL); perr == nil {
		host = u.Host
	}
	permanent := status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests
	if permanent || j.attempt >= d.cfg.MaxAttempts {
		d.mu.Lock()
		d.dead[j.d.ID] = DeadLetter{Delivery: j.d, Attempts: j.attempt, LastError: err.Error(), LastStatus: status, FailedAt: d.cfg.Now().UTC()}
		d.mu.Unlock()
		d.cfg.Log.Warn("webhook dead letter", zap.String("delivery", j.d.ID), zap.String("host", host), zap.Int("status", status), zap.Int("attempts", j.attempt))
		return
	}
	backoff := d.cfg.BaseBackoff << min(j.attempt-1, 20)
	if backoff > d.cfg.MaxBackoff || backoff <= 0 {
		backoff = d.cfg.MaxBackoff
	}
	backoff = backoff/2 + time.Duration(rand.Int64N(int64(backoff/2)+1))
	if retryAfter > backoff {
		backoff = retryAfter
	}
	j.attempt++
	j.at = time.Now().Add(backoff)
	go func() {
		select {
		case d.queue <- j:
		case <-ctx.Done():
		}
	}()
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

// DeadLetters lists what kept failing, oldest first.
func (d *Dispatcher) DeadLetters() []DeadLetter {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]DeadLetter, 0, len(d.dead))
	for _, dl := range d.dead {
		out = append(out, dl)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].FailedAt.Before(out[j-1].FailedAt); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Retry takes a dead letter back into the queue.
func (d *Dispatcher) Retry(id string) error {
	d.mu.Lock()
	dl, ok := d.dead[id]
	delete(d.dead, id)
	d.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownDelivery, id)
	}
	d.Enqueue(dl.Delivery)
	return nil
}
