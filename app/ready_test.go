package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/internal/poll"
	"github.com/relais-health/relais/projections"
)

// partialLedger counts head events but delivers only the first readable
// ones, then nothing: the last records are unreadable but still counted by
// the index (issue 11 §3). release lets the rest through.
type partialLedger struct {
	head, readable uint64
	release        chan struct{}
}

func (l *partialLedger) Head(context.Context) (uint64, error) { return l.head, nil }

func (l *partialLedger) Subscribe(ctx context.Context, from uint64, fn func(context.Context, events.Event) error, _ ...ledger.SubscribeOption) error {
	deliver := func(to uint64) error {
		for ; from <= to; from++ {
			if err := fn(ctx, events.Event{ID: fmt.Sprintf("e%d", from), Position: from, Type: "test"}); err != nil {
				return err
			}
		}
		return nil
	}
	if err := deliver(l.readable); err != nil {
		return err
	}
	select {
	case <-l.release:
		if err := deliver(l.head); err != nil {
			return err
		}
	case <-ctx.Done():
		return nil
	}
	<-ctx.Done()
	return nil
}

type noopApplier struct{}

func (noopApplier) Apply(context.Context, events.Event) error { return nil }

// startingApp is an App whose only projection runs on l, served by an
// httptest server through Handler.
func startingApp(t *testing.T, l *partialLedger, stall time.Duration) (*App, string) {
	t.Helper()
	a := &App{log: zap.NewNop(), cfg: Config{StartTimeout: stall, ProgressEvery: 10 * time.Millisecond}}
	a.runners = []*projections.Runner{{Name: "alerts", L: l, P: noopApplier{}}}
	h := a.gate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") }))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	var g errgroup.Group
	g.Go(func() error { return a.runners[0].Run(ctx, 1) })
	t.Cleanup(func() { cancel(); g.Wait() }) //nolint:errcheck
	return a, srv.URL
}

func getStatus(url string) (int, map[string]string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var body map[string]string
	if resp.StatusCode == http.StatusServiceUnavailable {
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return 0, nil, err
		}
	}
	return resp.StatusCode, body, nil
}

// A catch-up that makes no progress becomes an error naming the projection
// and the position it is stuck at (it used to wait forever).
func TestWaitReadyNamesAStuckProjection(t *testing.T) {
	l := &partialLedger{head: 10, readable: 7, release: make(chan struct{})}
	a, _ := startingApp(t, l, 300*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := a.WaitReady(ctx)
	if !errors.Is(err, ErrStartStuck) {
		t.Fatalf("WaitReady: %v, want ErrStartStuck", err)
	}
	for _, want := range []string{"alerts", "position 7 of 10"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// While the projections catch up every request answers 503 "starting",
// /healthz with how far it got; once caught up, they are served.
func TestHealthzSaysStartingUntilCaughtUp(t *testing.T) {
	l := &partialLedger{head: 10, readable: 7, release: make(chan struct{})}
	a, url := startingApp(t, l, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.WaitReady(ctx) }()
	for _, path := range []string{"/healthz", "/v1/me"} {
		poll.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			code, body, err := getStatus(url + path)
			if err != nil {
				return err
			}
			if code != http.StatusServiceUnavailable || body["status"] != "starting" || body["reason"] != "catching up: alerts at 7/10" {
				return fmt.Errorf("%s: %d %v, want 503 starting, catching up: alerts at 7/10", path, code, body)
			}
			return nil
		})
	}
	close(l.release)
	if err := <-done; err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	if code, _, err := getStatus(url + "/healthz"); err != nil || code != http.StatusOK {
		t.Fatalf("/healthz once ready: %d %v, want 200", code, err)
	}
}
