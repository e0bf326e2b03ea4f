// Package poll is the one helper tests use to wait for something to become
// true: it polls with a deadline instead of sleeping, and fails the test
// with the last error when the deadline passes (nats.go's checkFor).
package poll

import (
	"testing"
	"time"
)

// CheckFor calls fn every `every` until it returns nil, and fails t with
// fn's last error once `wait` has passed.
func CheckFor(t testing.TB, wait, every time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", wait, err)
		}
		<-tick.C
	}
}
