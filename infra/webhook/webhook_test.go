package webhook

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

var secret = []byte("partner-secret")

func receiver(t *testing.T, status func(n int32) int) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := Verify(secret, r.Header, body, time.Now(), time.Minute); err != nil {
			t.Errorf("receiver: %v", err)
		}
		w.WriteHeader(status(n.Add(1)))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func run(t *testing.T, d *Dispatcher) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }() //nolint:errcheck
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not stop")
		}
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met")
		}
		time.Sleep(5 * time.Millisecond)
	}
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
			d := New(Config{Secret: secret, MaxAttempts: 4, BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
			run(t, d)
			d.Enqueue(Delivery{ID: "a1", URL: srv.URL, Body: []byte(`{"alert":"x"}`)})
			waitFor(t, func() bool { return n.Load() == tt.calls && (!tt.deadLast || len(d.DeadLetters()) == 1) })
			time.Sleep(20 * time.Millisecond)
			if n.Load() != tt.calls {
				t.Fatalf("%d calls, want %d", n.Load(), tt.calls)
			}
			if tt.deadLast {
				if err := d.Retry("a1"); err != nil {
					t.Fatal(err)
				}
				waitFor(t, func() bool { return n.Load() > tt.calls })
			}
		})
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
