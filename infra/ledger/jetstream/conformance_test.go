package jetstream_test

import (
	"testing"

	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/infra/ledger/ledgertest"
)

// The conformance suite on the embedded server, relaxed and strict.
func TestConformance(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) ledger.Ledger { return jstest.Ledger(t) })
}

func TestConformanceStrict(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) ledger.Ledger { return jstest.Start(t, jstest.Options{Strict: true}).Store })
}

func TestConformanceServerSync(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) ledger.Ledger { return jstest.Start(t, jstest.Options{ServerSync: true}).Store })
}
