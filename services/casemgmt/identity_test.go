package casemgmt_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/services"
	"github.com/relais-health/relais/services/casemgmt"
)

var (
	ramqHelene = events.Identifier{Authority: "RAMQ", Value: "BELH12345678"}
	mrnHelene  = events.Identifier{Authority: "HSTA", Value: "MRN-0042"}
)

// withHelene is a service on a real ledger where client c1 (Hélène
// Bélanger) is registered with her RAMQ number and her hospital record.
func withHelene(t *testing.T) (*casemgmt.Service, ledger.Ledger) {
	t.Helper()
	l := jstest.Ledger(t)
	s := casemgmt.New(l, nil)
	if _, err := s.RegisterClient(context.Background(), cm, events.ClientRegistered{ClientID: "c1", GivenName: "Hélène", FamilyName: "Bélanger",
		Identifiers: []events.Identifier{ramqHelene, mrnHelene}}); err != nil {
		t.Fatal(err)
	}
	return s, l
}

func registration(id string, ids ...events.Identifier) events.ClientRegistered {
	return events.ClientRegistered{ClientID: id, GivenName: "Hélène", FamilyName: "Bélanger", Identifiers: ids}
}

// registered reports whether the client's stream holds anything.
func registered(t *testing.T, l ledger.Ledger, clientID string) bool {
	t.Helper()
	_, err := l.Read(context.Background(), events.ClientStream(clientID), 1)
	if errors.Is(err, ledger.ErrStreamNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

func TestRegistrationRefusesAnIdentifierAnotherClientHolds(t *testing.T) {
	ctx := context.Background()
	other := events.Identifier{Authority: "RAMQ", Value: "TREM87654321"}
	tests := []struct {
		name     string
		reg      events.ClientRegistered
		want     error  // nil: recorded
		naming   string // the refusal names it
		recorded bool
	}{
		{"a second client with the first one's RAMQ number is refused, naming the first", registration("c2", ramqHelene), services.ErrRuleBroken, "client c1", false},
		{"a second client with the first one's hospital record number is refused too", registration("c2", other, mrnHelene), services.ErrRuleBroken, "client c1", false},
		{"the same number from another authority is someone else", registration("c2", events.Identifier{Authority: "HSTA", Value: ramqHelene.Value}), nil, "", true},
		{"a client with identifiers nobody holds is registered", registration("c2", other), nil, "", true},
		{"the same client sent again is refused as already registered", registration("c1", ramqHelene), services.ErrRuleBroken, "already registered", true},
		{"patient keys from the caller are refused, naming the field", events.ClientRegistered{ClientID: "c2", GivenName: "X", FamilyName: "Y",
			Identifiers: []events.Identifier{other}, PatientKeys: []string{"pk-forged"}}, services.ErrBadRequest, "patient_keys", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, l := withHelene(t)
			_, err := s.RegisterClient(ctx, cm, tt.reg)
			if !errors.Is(err, tt.want) || (tt.want != nil && !strings.Contains(err.Error(), tt.naming)) {
				t.Fatalf("RegisterClient(%s) = %v, want %v naming %q", tt.reg.ClientID, err, tt.want, tt.naming)
			}
			if err != nil && strings.Contains(err.Error(), "Bélanger") {
				t.Fatalf("the refusal names the client: %v", err)
			}
			if got := registered(t, l, tt.reg.ClientID); got != tt.recorded {
				t.Fatalf("client %s recorded = %v, want %v", tt.reg.ClientID, got, tt.recorded)
			}
		})
	}
}

// A registration refused for its second identifier gives its first back:
// the next registration of that identifier alone goes through.
func TestRefusedRegistrationLeavesItsOtherIdentifiersFree(t *testing.T) {
	ctx := context.Background()
	s, l := withHelene(t)
	fresh := events.Identifier{Authority: "RAMQ", Value: "GAGN11111111"}
	if _, err := s.RegisterClient(ctx, cm, registration("c2", fresh, mrnHelene)); !errors.Is(err, services.ErrRuleBroken) {
		t.Fatalf("registration naming c1's record: %v, want refused", err)
	}
	if _, err := s.RegisterClient(ctx, cm, registration("c3", fresh)); err != nil {
		t.Fatalf("the identifier of the refused registration stayed taken: %v", err)
	}
	if registered(t, l, "c2") {
		t.Fatal("the refused client was recorded")
	}
}

// Many registrations of different clients with one identifier at the same
// time: exactly one is recorded, and every other is refused naming it.
func TestConcurrentRegistrationsOfOneIdentifierHaveOneWinner(t *testing.T) {
	ctx := context.Background()
	l := jstest.Ledger(t)
	s := casemgmt.New(l, nil)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = s.RegisterClient(ctx, cm, registration(fmt.Sprintf("c%d", i), ramqHelene))
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				t.Fatalf("clients c%d and c%d were both registered with one RAMQ number", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("no registration won: %v", errs)
	}
	for i, err := range errs {
		if i == winner {
			continue
		}
		if !errors.Is(err, services.ErrRuleBroken) || !strings.Contains(err.Error(), fmt.Sprintf("client c%d", winner)) {
			t.Errorf("c%d: %v, want refused naming the winner c%d", i, err, winner)
		}
		if registered(t, l, fmt.Sprintf("c%d", i)) {
			t.Errorf("the loser c%d was recorded", i)
		}
	}
}
