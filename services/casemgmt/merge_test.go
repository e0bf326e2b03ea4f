package casemgmt_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/services"
	"github.com/relais-health/relais/services/casemgmt"
)

var secret = []byte("installation-secret-0123456789")

// The patient keys of a registration are the installation's, derived from
// its identifiers; none are taken from the caller.
func TestRegistrationDerivesThePatientKeys(t *testing.T) {
	ctx := context.Background()
	l := jstest.Ledger(t)
	s := casemgmt.New(l, nil, casemgmt.WithPatientSecret(secret))
	res, err := s.RegisterClient(ctx, cm, registration("c1", ramqHelene, mrnHelene, ramqHelene))
	if err != nil {
		t.Fatal(err)
	}
	p, err := res.Events[0].Payload()
	if err != nil {
		t.Fatal(err)
	}
	r := p.(*events.ClientRegistered)
	want := []string{events.PatientKey(secret, ramqHelene), events.PatientKey(secret, mrnHelene)}
	if !slices.Equal(r.PatientKeys, want) || len(r.Identifiers) != 2 {
		t.Fatalf("recorded identifiers %v and keys %v, want each identifier once and keys %v", r.Identifiers, r.PatientKeys, want)
	}
}

// merged sets up c1 (Hélène, RAMQ) and c2 (a duplicate of her registered
// with her hospital record only), and merges c2 into c1.
func merged(t *testing.T) (*casemgmt.Service, ledger.Ledger, ledger.Result) {
	t.Helper()
	ctx := context.Background()
	l := jstest.Ledger(t)
	s := casemgmt.New(l, nil, casemgmt.WithPatientSecret(secret))
	for _, r := range []events.ClientRegistered{registration("c1", ramqHelene), registration("c2", mrnHelene)} {
		if _, err := s.RegisterClient(ctx, cm, r); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.Merge(ctx, cm, events.ClientMerged{ClientID: "c2", Into: "c1", Reason: "même personne, inscrite deux fois"})
	if err != nil {
		t.Fatal(err)
	}
	return s, l, res
}

func TestMergeIsRecordedOnBothClients(t *testing.T) {
	ctx := context.Background()
	_, l, res := merged(t)
	if res.Stream != events.ClientStream("c1") || len(res.Events) != 2 {
		t.Fatalf("merge answered %s with %d events, want the survivor's stream and 2 events", res.Stream, len(res.Events))
	}
	dup, err := l.Read(ctx, events.ClientStream("c2"), 1)
	if err != nil {
		t.Fatal(err)
	}
	last := dup[len(dup)-1]
	if p, _ := last.Payload(); last.Type != events.TypeClientMerged || p.(*events.ClientMerged).Into != "c1" || last.Actor != cm {
		t.Fatalf("the duplicate's last event is %s by %v, want client.merged into c1 by %v", last.Type, last.Actor, cm)
	}
	surv, err := l.Read(ctx, events.ClientStream("c1"), 1)
	if err != nil {
		t.Fatal(err)
	}
	last = surv[len(surv)-1]
	p, _ := last.Payload()
	a, ok := p.(*events.ClientAbsorbed)
	if !ok || a.Merged != "c2" || !slices.Contains(a.Identifiers, mrnHelene) || !slices.Contains(a.PatientKeys, events.PatientKey(secret, mrnHelene)) || a.Reason == "" {
		t.Fatalf("the survivor's last event is %s %+v, want client.absorbed of c2 with its identifier, key and reason", last.Type, p)
	}
	if c := casemgmt.Fold(surv); !slices.Contains(c.Identifiers, mrnHelene) || !slices.Contains(c.Identifiers, ramqHelene) {
		t.Fatalf("the survivor holds %v, want both identifiers", c.Identifiers)
	}
}

func TestAfterAMerge(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		run    func(s *casemgmt.Service) (ledger.Result, error)
		want   error
		naming string
	}{
		{"the duplicate's identifier is the survivor's: a new registration with it is refused naming the survivor", func(s *casemgmt.Service) (ledger.Result, error) {
			return s.RegisterClient(ctx, cm, registration("c3", mrnHelene))
		}, services.ErrRuleBroken, "client c1"},
		{"the merged client takes no more commands, and says where they go", func(s *casemgmt.Service) (ledger.Result, error) {
			return s.Flag(ctx, cm, events.ClientFlagged{ClientID: "c2", Programme: "defi-sante"})
		}, services.ErrRuleBroken, "merged into client c1"},
		{"the survivor takes commands as before", func(s *casemgmt.Service) (ledger.Result, error) {
			return s.Flag(ctx, cm, events.ClientFlagged{ClientID: "c1", Programme: "defi-sante"})
		}, nil, ""},
		{"the same merge sent again records nothing more", func(s *casemgmt.Service) (ledger.Result, error) {
			res, err := s.Merge(ctx, cm, events.ClientMerged{ClientID: "c2", Into: "c1", Reason: "encore"})
			if err == nil && len(res.Events) != 0 {
				return res, errors.New("a second merge recorded events")
			}
			return res, err
		}, nil, ""},
		{"the merged client cannot be merged elsewhere", func(s *casemgmt.Service) (ledger.Result, error) {
			if _, err := s.RegisterClient(ctx, cm, registration("c4", events.Identifier{Authority: "RAMQ", Value: "ZZZZ00000000"})); err != nil {
				return ledger.Result{}, err
			}
			return s.Merge(ctx, cm, events.ClientMerged{ClientID: "c2", Into: "c4", Reason: "x"})
		}, services.ErrRuleBroken, "already merged into client c1"},
		{"nothing can be merged into the merged client", func(s *casemgmt.Service) (ledger.Result, error) {
			if _, err := s.RegisterClient(ctx, cm, registration("c4", events.Identifier{Authority: "RAMQ", Value: "ZZZZ00000000"})); err != nil {
				return ledger.Result{}, err
			}
			return s.Merge(ctx, cm, events.ClientMerged{ClientID: "c4", Into: "c2", Reason: "x"})
		}, services.ErrRuleBroken, "merge into c1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, _ := merged(t)
			_, err := tt.run(s)
			if !errors.Is(err, tt.want) || (tt.want != nil && !strings.Contains(err.Error(), tt.naming)) {
				t.Fatalf("got %v, want %v naming %q", err, tt.want, tt.naming)
			}
		})
	}
}

func TestMergeRefusals(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		actor events.Actor
		r     events.ClientMerged
		want  error
	}{
		{"a pivot worker cannot merge clients", events.Actor{ID: "pw-1", Role: events.RolePivotWorker}, events.ClientMerged{ClientID: "c2", Into: "c1", Reason: "x"}, services.ErrForbidden},
		{"a partner cannot merge clients", events.Actor{ID: "ph-1", Role: events.CategoryPharmacy}, events.ClientMerged{ClientID: "c2", Into: "c1", Reason: "x"}, services.ErrForbidden},
		{"a merge without a reason is refused", cm, events.ClientMerged{ClientID: "c2", Into: "c1"}, services.ErrBadRequest},
		{"a client cannot be merged into itself", cm, events.ClientMerged{ClientID: "c1", Into: "c1", Reason: "x"}, services.ErrBadRequest},
		{"a merge into an unknown client is refused", cm, events.ClientMerged{ClientID: "c2", Into: "ghost", Reason: "x"}, services.ErrNotFound},
		{"an unknown client cannot be merged", cm, events.ClientMerged{ClientID: "ghost", Into: "c1", Reason: "x"}, services.ErrNotFound},
		{"a programme manager may merge", events.Actor{ID: "pm-1", Role: events.RoleProgrammeManager}, events.ClientMerged{ClientID: "c2", Into: "c1", Reason: "x"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := jstest.Ledger(t)
			s := casemgmt.New(l, nil)
			for _, r := range []events.ClientRegistered{registration("c1", ramqHelene), registration("c2", mrnHelene)} {
				if _, err := s.RegisterClient(ctx, cm, r); err != nil {
					t.Fatal(err)
				}
			}
			before, err := l.Head(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Merge(ctx, tt.actor, tt.r)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Merge = %v, want %v", err, tt.want)
			}
			after, err := l.Head(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != nil && after != before {
				t.Fatalf("a refused merge moved the ledger from %d to %d", before, after)
			}
		})
	}
}
