package caseload_test

import (
	"context"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/projections/caseload"
)

var (
	admin = events.Actor{ID: "admin", Role: events.RoleAdmin}
	t0    = time.Date(2024, 1, 15, 9, 0, 0, 0, time.UTC)
)

type step struct {
	p    events.Payload
	days float64
}

func day(d float64) time.Time { return t0.Add(time.Duration(d * float64(24*time.Hour))) }

func build(steps []step) []events.Event {
	out := make([]events.Event, len(steps))
	for i, s := range steps {
		e := events.MustNew(s.p, admin, events.WithOccurredAt(day(s.days)))
		e.Position = uint64(i + 1)
		out[i] = e
	}
	return out
}

func apply(t *testing.T, p *caseload.Projection, evs []events.Event) {
	t.Helper()
	for _, e := range evs {
		if err := p.Apply(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

func raised(id, recipient, client string) *events.AlertRaised {
	return &events.AlertRaised{AlertID: id, ThreadID: "th-" + id, RecipientID: recipient, Priority: events.PriorityHigh,
		Kind: "ed.arrival", ClientID: client, Summary: "À l'urgence", CauseID: "cause-" + id, RaisedAt: t0}
}

// history: two case managers, clients taken over a year and a half.
func history() []step {
	return []step{
		{&events.StaffRegistered{StaffID: "cm-1", Role: events.RoleCaseManager, Name: "Infirmière"}, 0},
		{&events.StaffRegistered{StaffID: "cm-2", Role: events.RoleCaseManager, Name: "Travailleur social"}, 0},
		{&events.StaffRegistered{StaffID: "cm-3", Role: events.RoleCaseManager, Name: "Nouvelle"}, 0},
		{&events.PartnerRegistered{PartnerID: "doc-1", Category: "doctor", Name: "Clinique"}, 0},
		{&events.CaseManagerAssigned{ClientID: "c1", StaffID: "cm-1"}, 1},
		{&events.ClientEnrolled{ClientID: "c1", Programme: "defi-sante", EnrolledAt: day(2)}, 2},
		{&events.CaseManagerAssigned{ClientID: "c2", StaffID: "cm-1"}, 200}, // 2024-H2
		{&events.CaseManagerAssigned{ClientID: "c3", StaffID: "cm-1"}, 210}, // 2024-H2
		{&events.CaseManagerAssigned{ClientID: "c4", StaffID: "cm-2"}, 20},  // cm-2, 2024-H1
		{&events.CaseManagerAssigned{ClientID: "c4", StaffID: "cm-1"}, 400}, // moves to cm-1, 2025-H1
		{&events.ContactMade{ClientID: "c1", StaffID: "cm-1", Channel: "phone", At: day(300)}, 300},
		{&events.ContactMade{ClientID: "c1", StaffID: "pw-1", Channel: "home_visit", At: day(380)}, 380},
		{&events.ContactMade{ClientID: "c2", StaffID: "cm-1", Channel: "ed", At: day(250)}, 250},
		{&events.ContactMade{ClientID: "c1", StaffID: "cm-1", Channel: "phone", At: day(310)}, 381}, // recorded late
		{&events.PivotWorkerAssigned{ClientID: "c1", StaffID: "pw-1"}, 300},
		{&events.CaseClosed{ClientID: "c3", Reason: "déménagé"}, 350},
		{&events.ObjectiveAdded{ClientID: "c1", PlanID: "p1", ObjectiveID: "o1", Description: "a"}, 10},
		{&events.ObjectiveAdded{ClientID: "c1", PlanID: "p1", ObjectiveID: "o2", Description: "b"}, 10},
		{&events.ObjectiveAdded{ClientID: "c2", PlanID: "p1", ObjectiveID: "o1", Description: "c"}, 210},
		{&events.ObjectiveMet{ClientID: "c1", ObjectiveID: "o1"}, 100},
		{raised("a1", "cm-1", "c1"), 390},
		{raised("a2", "cm-1", "c2"), 391},
		{raised("a3", "cm-1", "c2"), 392},
		{raised("a4", "cm-2", "c4"), 393},
		{raised("a5", "doc-1", "c1"), 393},
		{raised("a6", "cm-2", "c9"), 393},
		{&events.AlertAcknowledged{AlertID: "a2", ActorID: "cm-1"}, 394},
		{&events.AlertWithdrawn{AlertID: "a3", Reason: "visite annulée"}, 394},
		{&events.AlertEscalated{AlertID: "a6", EscalatedTo: "cm-1", Reason: "sans réponse"}, 394},
		{raised("a2", "cm-1", "c2"), 395}, // raised again: stays acknowledged
	}
}

func TestCaseloadOfEachCaseManager(t *testing.T) {
	p := caseload.New(caseload.Config{Location: time.UTC})
	apply(t, p, build(history()))
	now := day(400)
	tests := []struct {
		name  string
		staff string
		check func(t *testing.T, c caseload.Caseload)
	}{
		{
			name:  "active clients exclude closed cases and clients who moved to another case manager",
			staff: "cm-1",
			check: func(t *testing.T, c caseload.Caseload) {
				var ids []string
				for _, l := range c.Clients {
					ids = append(ids, l.ClientID)
				}
				// never contacted first, then the longest without contact
				if c.Active != 3 || !reflect.DeepEqual(ids, []string{"c4", "c2", "c1"}) || c.NeverContacted != 1 {
					t.Fatalf("active %d clients %v", c.Active, ids)
				}
			},
		},
		{
			name:  "time since last contact counts any staff member's contact, measured from the query's now",
			staff: "cm-1",
			check: func(t *testing.T, c caseload.Caseload) {
				c1 := find(t, c, "c1")
				if !c1.LastContact.Equal(day(380)) || c1.DaysSinceContact != 20 || c1.SinceContact != 20*24*time.Hour || c1.PivotWorker != "pw-1" {
					t.Fatalf("c1 %+v", c1)
				}
				if c2 := find(t, c, "c2"); c2.DaysSinceContact != 150 || c2.Enrolled {
					t.Fatalf("c2 %+v", c2)
				}
				if c4 := find(t, c, "c4"); !c4.NeverContacted || c4.DaysSinceContact != 0 {
					t.Fatalf("c4 %+v", c4)
				}
			},
		},
		{
			name:  "new clients are counted per half-year of their first assignment to the case manager",
			staff: "cm-1",
			check: func(t *testing.T, c caseload.Caseload) {
				want := []string{"2024-H1:1", "2024-H2:2", "2025-H1:1"}
				if got := periods(c); !reflect.DeepEqual(got, want) {
					t.Fatalf("periods %v, want %v", got, want)
				}
			},
		},
		{
			name:  "open objectives and pending alerts, escalations included, are counted",
			staff: "cm-1",
			check: func(t *testing.T, c caseload.Caseload) {
				if c.OpenObjectives != 2 || c.UnacknowledgedAlerts != 2 || find(t, c, "c1").UnacknowledgedAlerts != 1 || find(t, c, "c2").UnacknowledgedAlerts != 0 {
					t.Fatalf("objectives %d alerts %d clients %+v", c.OpenObjectives, c.UnacknowledgedAlerts, c.Clients)
				}
			},
		},
		{
			name:  "a case manager whose client moved away keeps the past period count",
			staff: "cm-2",
			check: func(t *testing.T, c caseload.Caseload) {
				if c.Active != 0 || c.UnacknowledgedAlerts != 2 {
					t.Fatalf("cm-2 %+v", c)
				}
				want := []string{"2024-H1:1", "2024-H2:0", "2025-H1:0"}
				if got := periods(c); !reflect.DeepEqual(got, want) {
					t.Fatalf("periods %v, want %v", got, want)
				}
			},
		},
		{
			name:  "a case manager with no client has an empty caseload",
			staff: "cm-3",
			check: func(t *testing.T, c caseload.Caseload) {
				if c.Active != 0 || len(c.Clients) != 0 || len(c.NewByPeriod) != 0 {
					t.Fatalf("cm-3 %+v", c)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, p.Caseload(tc.staff, now)) })
	}
	all := p.All(now)
	if len(all) != 3 || all[0].StaffID != "cm-1" || all[2].StaffID != "cm-3" {
		t.Fatalf("all: %+v", all)
	}
}

func TestHalfYearsFollowTheConfiguredTimeZone(t *testing.T) {
	loc, err := time.LoadLocation("America/Toronto")
	if err != nil {
		t.Skip("no time zone database")
	}
	// 1 July 02:00 UTC is still 30 June in Québec.
	evs := []events.Event{events.MustNew(&events.CaseManagerAssigned{ClientID: "c1", StaffID: "cm-1"}, admin,
		events.WithOccurredAt(time.Date(2024, 7, 1, 2, 0, 0, 0, time.UTC)))}
	p := caseload.New(caseload.Config{Location: loc})
	apply(t, p, evs)
	if got := periods(p.Caseload("cm-1", time.Date(2024, 7, 2, 0, 0, 0, 0, time.UTC))); !reflect.DeepEqual(got, []string{"2024-H1:1", "2024-H2:0"}) {
		t.Fatalf("periods %v", got)
	}
}

func find(t *testing.T, c caseload.Caseload, id string) caseload.ClientLoad {
	t.Helper()
	for _, l := range c.Clients {
		if l.ClientID == id {
			return l
		}
	}
	t.Fatalf("%s not in %s's caseload", id, c.StaffID)
	return caseload.ClientLoad{}
}

func periods(c caseload.Caseload) []string {
	var out []string
	for _, p := range c.NewByPeriod {
		out = append(out, p.Period+":"+strconv.Itoa(p.Count))
	}
	return out
}

func TestRebuildInTwoHalvesWithSnapshotEqualsOnePass(t *testing.T) {
	evs := build(history())
	live := caseload.New(caseload.Config{})
	apply(t, live, evs)
	for cut := 0; cut <= len(evs); cut++ {
		first := caseload.New(caseload.Config{})
		apply(t, first, evs[:cut])
		snap, err := first.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		resumed := caseload.New(caseload.Config{})
		if err := resumed.Restore(snap); err != nil {
			t.Fatal(err)
		}
		apply(t, resumed, evs[max(0, cut-3):]) // redelivered events are skipped
		if live.Digest() != resumed.Digest() {
			t.Fatalf("cut at %d: digests differ", cut)
		}
		now := day(400)
		if !reflect.DeepEqual(live.All(now), resumed.All(now)) {
			t.Fatalf("cut at %d: caseloads differ", cut)
		}
	}
	short := caseload.New(caseload.Config{})
	apply(t, short, evs[:len(evs)-1])
	if short.Digest() == live.Digest() {
		t.Fatal("one event fewer, same digest")
	}
	if err := caseload.New(caseload.Config{}).Restore([]byte(`{"version":2}`)); err == nil {
		t.Fatal("restored an unknown snapshot version")
	}
}

func TestQueriesAreSafeWhileApplying(t *testing.T) {
	p := caseload.New(caseload.Config{})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_ = p.All(day(400))
				_ = p.Digest()
			}
		}
	}()
	apply(t, p, build(history()))
	close(stop)
	wg.Wait()
}
