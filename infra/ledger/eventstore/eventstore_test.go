package eventstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"

	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/ledgertest"
)

func TestExpectedRevisionMapping(t *testing.T) {
	tests := []struct {
		name     string
		expected int64
		want     kurrentdb.StreamState
	}{
		{"any skips the check", ledger.Any, kurrentdb.Any{}},
		{"a new stream is NoStream", 0, kurrentdb.NoStream{}},
		{"revision n is event number n-1", 5, kurrentdb.Revision(4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StreamState(tt.expected); got != tt.want {
				t.Fatalf("got %#v want %#v", got, tt.want)
			}
		})
	}
}

func TestErrorsMapToTheLedgersKinds(t *testing.T) {
	if err := MapError(errors.New("connection refused")); !errors.Is(err, ledger.ErrUnavailable) {
		t.Fatalf("transport error: %v", err)
	}
	if err := MapError(context.Canceled); !errors.Is(err, context.Canceled) || errors.Is(err, ledger.ErrUnavailable) {
		t.Fatalf("cancellation: %v", err)
	}
	if MapError(nil) != nil {
		t.Fatal("nil")
	}
}

// The conformance suite, against a real server only.
func TestConformance(t *testing.T) {
	url := os.Getenv("RELAIS_EVENTSTORE_URL")
	if url == "" {
		t.Skip("RELAIS_EVENTSTORE_URL is not set: the KurrentDB/EventStoreDB adapter suite runs only where a server is reachable")
	}
	ledgertest.Run(t, func(t *testing.T) ledger.Ledger {
		s, err := Open(context.Background(), url, WithPrefix(fmt.Sprintf("t%d-", time.Now().UnixNano())))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
