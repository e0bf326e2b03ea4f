package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-health/relais/infra/natsembed"
	"github.com/relais-health/relais/internal/poll"
)

var secret = []byte("partner-secret")

// calls counts what a receiver was sent, in all and per delivery id.
type calls struct {
	n    atomic.Int32
	mu   sync.Mutex
	byID map[string]int
}

// of is the number of requests received for one delivery id.
func (c *calls) of(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byID[id]
}

// receiver is a partner endpoint that checks every signature and answers
// status(n) to its n-th request.
func receiver(t *testing.T, status func(n int32) int) (*httptest.Server, *calls) {
	t.Helper()
	c := &calls{byID: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := Verify(secret, r.Header, body, time.Now(), time.Minute); err != nil {
			t.Errorf("receiver: %v", err)
		}
		c.mu.Lock()
		c.byID[r.Header.Get(HeaderDelivery)]++
		c.mu.Unlock()
		w.WriteHeader(status(c.n.Add(1)))
	}))
	t.Cleanup(srv.Close)
	return srv, c
}

// server starts a real embedded NATS server with JetStream on dir.
func server(t *testing.T, dir string) *nats.Conn {
	nc, _ := serverStop(t, dir)
	return nc
}

// serverStop is server with a stop (also run at cleanup).
func serverStop(t *testing.T, dir string) (*nats.Conn, func()) {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Config{DataDir: dir, Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		srv.Shutdown()
		t.Fatal(err)
	}
	stop := func() { nc.Close(); srv.Shutdown() }
	t.Cleanup(stop)
	return nc, stop
}

func dispatcher(t *testing.T, nc *nats.Conn, cfg Config) *Dispatcher {
	t.Helper()
	cfg.Secret = secret
	d, err := New(t.Context(), nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// run runs d until the returned stop is called (or the test ends).
func run(t *testing.T, d *Dispatcher) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not stop")
		}
	}
	t.Cleanup(stop)
	return stop
}

func deadLetters(t *testing.T, d *Dispatcher) []DeadLetter {
	t.Helper()
	dl, err := d.DeadLetters(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return dl
}

// drained is nil once the queue holds no delivery: every one sent was
// acknowledged or dead-lettered, so none can be sent again.
func drained(ctx context.Context, d *Dispatcher) error {
	st, err := d.js.Stream(ctx, StreamName)
	if err != nil {
		return err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return err
	}
	if info.State.Msgs != 0 {
		return fmt.Errorf("the queue still holds %d deliveries", info.State.Msgs)
	}
	return nil
}

// settle proves that nothing more will reach a receiver: it queues a marker
// delivery after everything enqueued so far, and returns once the marker
// has arrived and the queue is drained. A copy of an earlier delivery still
// in the queue, or one the dispatcher took back instead of settling, keeps
// the queue from draining and fails the test.
func settle(t *testing.T, d *Dispatcher) {
	t.Helper()
	// A new id each time: a marker delivered before a restart is in the
	// delivered set and would not be sent again.
	marker := "marker-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	srv, got := receiver(t, func(int32) int { return 204 })
	d.Enqueue(Delivery{ID: marker, URL: srv.URL, Body: []byte(`{"marker":true}`)})
	poll.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if got.of(marker) == 0 {
			return errors.New("the marker delivery has not arrived")
		}
		return drained(t.Context(), d)
	})
}

func TestDeliveriesAreSignedRetriedAndDeadLettered(t *testing.T) {
	tests := []struct {
		name     string
		status   func(n int32) int
		calls    int32
		deadLast bool
	}{
		{"a 500 is retried until it succeeds", func(n int32) int {
			if n < 3 {
				return 500
			}
			return 204
		}, 3, false},
		{"a 400 goes to the dead letters at once", func(int32) int { return 400 }, 1, true},
		{"exhausted retries go to the dead letters", func(int32) int { return 503 }, 4, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, n := receiver(t, tt.status)
			d := dispatcher(t, server(t, t.TempDir()), Config{MaxAttempts: 4, BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
			run(t, d)
			d.Enqueue(Delivery{ID: "a1", URL: srv.URL, Body: []byte(`{"alert":"x"}`)})
			poll.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
				if got := n.of("a1"); got < int(tt.calls) {
					return fmt.Errorf("%d calls, want %d", got, tt.calls)
				}
				if tt.deadLast && len(deadLetters(t, d)) != 1 {
					return errors.New("no dead letter yet")
				}
				return nil
			})
			settle(t, d)
			if got := n.of("a1"); got != int(tt.calls) {
				t.Fatalf("%d calls, want %d", got, tt.calls)
			}
			if !tt.deadLast {
				if dl := deadLetters(t, d); len(dl) != 0 {
					t.Fatalf("dead letters after a success: %+v", dl)
				}
				return
			}
			if dl := deadLetters(t, d)[0]; dl.Delivery.ID != "a1" || dl.Attempts != int(tt.calls) {
				t.Fatalf("dead letter %+v, want a1 after %d attempts", dl, tt.calls)
			}
			if err := d.Retry(t.Context(), "a1"); err != nil {
				t.Fatal(err)
			}
			poll.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
				if got := n.of("a1"); got <= int(tt.calls) {
					return fmt.Errorf("%d calls after the retry, want more than %d", got, tt.calls)
				}
				return nil
			})
		})
	}
}

// A delivery being retried, and a dead letter, outlive a restart of Relais
// and of its server.
func TestPendingDeliveriesAndDeadLettersSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	var up atomic.Bool
	var delivered atomic.Int32
	srv, n := receiver(t, func(int32) int {
		if up.Load() {
			delivered.Add(1)
			return 204
		}
		return 503
	})
	gone, _ := receiver(t, func(int32) int { return 410 })

	nc, shutdown := serverStop(t, dir)
	d := dispatcher(t, nc, Config{MaxAttempts: 1000, BaseBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	stop := run(t, d)
	d.Enqueue(Delivery{ID: "pending", URL: srv.URL, Body: []byte(`{"alert":"p"}`)})
	d.Enqueue(Delivery{ID: "dead", URL: gone.URL, Recipient: "pharm-1", Body: []byte(`{"alert":"d"}`)})
	poll.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if n.of("pending") < 2 {
			return fmt.Errorf("the pending delivery was tried %d times, want it failing at least twice", n.of("pending"))
		}
		if len(deadLetters(t, d)) != 1 {
			return errors.New("no dead letter yet")
		}
		return nil
	})
	stop()
	shutdown()

	// Restart on the same directory.
	nc2 := server(t, dir)
	up.Store(true)
	d2 := dispatcher(t, nc2, Config{MaxAttempts: 1000, BaseBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	run(t, d2)
	poll.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if delivered.Load() == 0 {
			return errors.New("the pending delivery did not arrive after the restart")
		}
		return nil
	})
	dl := deadLetters(t, d2)
	if len(dl) != 1 || dl[0].Delivery.ID != "dead" || dl[0].LastStatus != 410 || dl[0].Delivery.Recipient != "pharm-1" {
		t.Fatalf("dead letters after restart: %+v", dl)
	}
	settle(t, d2)
	if delivered.Load() != 1 {
		t.Fatalf("the pending delivery arrived %d times", delivered.Load())
	}
}

// The same delivery id enqueued again (as after a restart) is sent once.
func TestTheSameDeliveryIsQueuedOnce(t *testing.T) {
	srv, n := receiver(t, func(int32) int { return 204 })
	d := dispatcher(t, server(t, t.TempDir()), Config{})
	for range 3 {
		d.Enqueue(Delivery{ID: "same", URL: srv.URL, Body: []byte(`{}`)})
	}
	run(t, d)
	settle(t, d)
	if got := n.of("same"); got != 1 {
		t.Fatalf("%d deliveries of one id, want 1", got)
	}
}

// What a partner answered 2xx is not sent again when the fanout queues it
// again after a restart (as it does for the changes of the last hour),
// although the queue's own duplicate window forgot it with the message.
func TestDeliveredIsNotSentAgainAfterARestart(t *testing.T) {
	dir := t.TempDir()
	srv, n := receiver(t, func(int32) int { return 204 })
	ids := []string{"a-1", "a-2", "b-1"}

	nc, shutdown := serverStop(t, dir)
	d := dispatcher(t, nc, Config{})
	stop := run(t, d)
	for _, id := range ids {
		d.Enqueue(Delivery{ID: id, URL: srv.URL, Body: []byte(`{"id":"` + id + `"}`)})
	}
	settle(t, d)
	stop()
	shutdown()

	for restart := range 2 {
		nc, shutdown := serverStop(t, dir)
		d := dispatcher(t, nc, Config{})
		stop := run(t, d)
		for _, id := range ids {
			d.Enqueue(Delivery{ID: id, URL: srv.URL, Body: []byte(`{"id":"` + id + `"}`)})
		}
		settle(t, d)
		stop()
		shutdown()
		for _, id := range ids {
			if got := n.of(id); got != 1 {
				t.Fatalf("after restart %d: delivery %s sent %d times, want 1", restart+1, id, got)
			}
		}
	}
}

// A consumer deleted under a running dispatcher is opened again, and what
// was delivered before is not sent again.
func TestDeliveriesGoOnAfterTheConsumerIsDeleted(t *testing.T) {
	srv, n := receiver(t, func(int32) int { return 204 })
	nc := server(t, t.TempDir())
	d := dispatcher(t, nc, Config{Workers: 2})
	run(t, d)
	d.Enqueue(Delivery{ID: "before", URL: srv.URL, Body: []byte(`{}`)})
	// The receiver has it once the queue is drained: its acknowledgement
	// reached the queue, or deleting the consumer would lose the ack and (at
	// least once) send "before" again.
	poll.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if n.of("before") == 0 {
			return errors.New(`"before" has not arrived`)
		}
		return drained(t.Context(), d)
	})
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteConsumer(t.Context(), StreamName, consumer); err != nil {
		t.Fatal(err)
	}
	d.Enqueue(Delivery{ID: "after", URL: srv.URL, Body: []byte(`{}`)})
	// The workers notice the lost consumer and reopen it after a second.
	poll.CheckFor(t, 15*time.Second, 20*time.Millisecond, func() error {
		if n.of("after") == 0 {
			return errors.New(`"after" was not delivered after the consumer was deleted`)
		}
		return nil
	})
	settle(t, d)
	if b, a := n.of("before"), n.of("after"); b != 1 || a != 1 {
		t.Fatalf(`"before" sent %d times, "after" %d times; want each once`, b, a)
	}
}

func TestRetryOfAnUnknownDeadLetter(t *testing.T) {
	d := dispatcher(t, server(t, t.TempDir()), Config{})
	if err := d.Retry(t.Context(), "nope"); !errors.Is(err, ErrUnknownDelivery) {
		t.Fatalf("got %v", err)
	}
}

func TestVerifyRefusesForgeriesAndReplays(t *testing.T) {
	now := time.Now()
	body := []byte(`{"a":1}`)
	h := http.Header{}
	h.Set(HeaderTimestamp, itoa(now.Unix()))
	h.Set(HeaderSignature, "v1="+Sign(secret, now, body))
	if err := Verify(secret, h, body, now, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := Verify(secret, h, []byte(`{"a":2}`), now, time.Minute); err != ErrBadSignature {
		t.Fatalf("changed body: %v", err)
	}
	if err := Verify([]byte("other"), h, body, now, time.Minute); err != ErrBadSignature {
		t.Fatalf("other secret: %v", err)
	}
	if err := Verify(secret, h, body, now.Add(10*time.Minute), time.Minute); err != ErrStale {
		t.Fatalf("replayed later: %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
