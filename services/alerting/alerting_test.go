package alerting_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/services/alerting"
)

var (
	cm     = events.Actor{ID: "cm-1", Role: events.RoleCaseManager}
	pm     = events.Actor{ID: "pm-1", Role: events.RoleProgrammeManager}
	doctor = events.Actor{ID: "doc-1", Role: events.CategoryDoctor}
	t0     = time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)
)

// finder stands in for the read model's candidate lists, which the
// projection tests cover; decisions here come from the real ledger.
type finder struct {
	overdue  []string
	managers []string
	feeds    map[string]time.Time
}

func (f finder) Overdue(time.Time) []string { return f.overdue }
func (f finder) Managers() []string         { return f.managers }
func (f finder) FeedLastSeen(fac string) (time.Time, uint64, bool) {
	at, ok := f.feeds[fac]
	return at, 7, ok
}

func raised(id, recipient, priority string) events.Payload {
	return &events.AlertRaised{AlertID: id, ThreadID: "t-" + id, RecipientID: recipient, Priority: priority,
		Kind: "ed.arrival", ClientID: "c1", Summary: "s", CauseID: "cause-" + id, RaisedAt: t0}
}

// stream writes an alert's history.
func stream(t *testing.T, l ledger.Ledger, id string, ps ...events.Payload) {
	t.Helper()
	for _, p := range ps {
		e, err := events.New(p, events.Actor{ID: "relais-alerts", Role: events.RoleSystem})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(context.Background(), events.AlertStream(id), ledger.Any, e); err != nil {
			t.Fatal(err)
		}
	}
}

func history(t *testing.T, l ledger.Ledger, id string) alerting.Alert {
	t.Helper()
	h, err := l.Read(context.Background(), events.AlertStream(id), 1)
	if err != nil {
		t.Fatal(err)
	}
	return alerting.Fold(h)
}

func countOf(t *testing.T, l ledger.Ledger, id, typ string) int {
	t.Helper()
	h, _ := l.Read(context.Background(), events.AlertStream(id), 1)
	n := 0
	for _, e := range h {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func TestWhoMayActOnAnAlert(t *testing.T) {
	tests := []struct {
		name  string
		alert alerting.Alert
		actor events.Actor
		want  bool
	}{
		{"the recipient may", alerting.Alert{RecipientID: "cm-1"}, cm, true},
		{"the escalation target may", alerting.Alert{RecipientID: "cm-1", EscalatedTo: "pm-1"}, pm, true},
		{"another case manager may not", alerting.Alert{RecipientID: "cm-2"}, cm, false},
		{"care staff may for an on-call queue", alerting.Alert{RecipientID: "oncall-defi-sante"}, cm, true},
		{"care staff may for an alert escalated on call", alerting.Alert{RecipientID: "pm-2", EscalatedTo: "oncall-escalation"}, cm, true},
		{"a partner may not for an on-call queue", alerting.Alert{RecipientID: "oncall-defi-sante"}, doctor, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := alerting.MayAct(tt.alert, tt.actor); got != tt.want {
				t.Fatalf("MayAct = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAcknowledgeDecidesFromTheAlertStream(t *testing.T) {
	tests := []struct {
		name    string
		history []events.Payload
		actor   events.Actor
		err     error
	}{
		{"an unknown alert is not found", nil, cm, alerting.ErrNotFound},
		{"the recipient acknowledges", []events.Payload{raised("a", "cm-1", events.PriorityHigh)}, cm, nil},
		{"a doctor may not acknowledge the case manager's alert", []events.Payload{raised("a", "cm-1", events.PriorityHigh)}, doctor, alerting.ErrForbidden},
		{"the escalation target acknowledges", []events.Payload{raised("a", "cm-1", events.PriorityHigh),
			&events.AlertEscalated{AlertID: "a", EscalatedTo: "pm-1", Reason: "late"}}, pm, nil},
		{"a withdrawn alert may still be acknowledged", []events.Payload{raised("a", "cm-1", events.PriorityHigh),
			&events.AlertWithdrawn{AlertID: "a", Reason: "A11"}}, cm, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := jstest.Ledger(t)
			stream(t, l, "a", tt.history...)
			s := alerting.New(l, nil, alerting.Config{})
			pos, err := s.Acknowledge(context.Background(), tt.actor, "a")
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if tt.err != nil {
				if n := countOf(t, l, "a", events.TypeAlertAcknowledged); n != 0 {
					t.Fatalf("a refused acknowledgement recorded %d events", n)
				}
				return
			}
			again, err := s.Acknowledge(context.Background(), tt.actor, "a")
			if err != nil || again != pos || pos == 0 {
				t.Fatalf("second acknowledgement: position %d (first %d), %v", again, pos, err)
			}
			if n := countOf(t, l, "a", events.TypeAlertAcknowledged); n != 1 {
				t.Fatalf("%d acknowledgements recorded, want 1", n)
			}
		})
	}
}

func TestEscalateDecidesFromTheAlertStream(t *testing.T) {
	due := t0.Add(16 * time.Minute)
	tests := []struct {
		name    string
		history []events.Payload
		now     time.Time
		want    string // escalation target, "" for none
	}{
		{"an overdue high-priority alert goes to the programme manager", []events.Payload{raised("a", "cm-1", events.PriorityHigh)}, due, "pm-1"},
		{"an on-call alert goes one step up", []events.Payload{raised("a", "oncall-defi-sante", events.PriorityHigh)}, due, "oncall-escalation"},
		{"the programme manager's own alert goes one step up", []events.Payload{raised("a", "pm-1", events.PriorityHigh)}, due, "oncall-escalation"},
		{"an alert not yet due stays", []events.Payload{raised("a", "cm-1", events.PriorityHigh)}, t0.Add(10 * time.Minute), ""},
		{"a normal alert is never escalated", []events.Payload{raised("a", "cm-1", events.PriorityNormal)}, due, ""},
		{"an acknowledged alert stays", []events.Payload{raised("a", "cm-1", events.PriorityHigh),
			&events.AlertAcknowledged{AlertID: "a", ActorID: "cm-1"}}, due, ""},
		{"a withdrawn alert stays", []events.Payload{raised("a", "cm-1", events.PriorityHigh),
			&events.AlertWithdrawn{AlertID: "a", Reason: "A11"}}, due, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := jstest.Ledger(t)
			stream(t, l, "a", tt.history...)
			s := alerting.New(l, finder{managers: []string{"pm-1", "pm-2"}}, alerting.Config{Now: func() time.Time { return tt.now }})
			for range 2 { // a second sweep changes nothing
				if _, err := s.Escalate(context.Background(), "a"); err != nil {
					t.Fatal(err)
				}
			}
			if got := history(t, l, "a").EscalatedTo; got != tt.want {
				t.Fatalf("escalated to %q, want %q", got, tt.want)
			}
			want := 0
			if tt.want != "" {
				want = 1
			}
			if n := countOf(t, l, "a", events.TypeAlertEscalated); n != want {
				t.Fatalf("%d escalations recorded, want %d", n, want)
			}
		})
	}
	t.Run("an unknown alert is not found", func(t *testing.T) {
		s := alerting.New(jstest.Ledger(t), finder{}, alerting.Config{Now: func() time.Time { return due }})
		if _, err := s.Escalate(context.Background(), "nope"); !errors.Is(err, alerting.ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestTheSweepRaisesOneAlertPerSilentFeedAndManager(t *testing.T) {
	loc, _ := time.LoadLocation("America/Toronto")
	afternoon := time.Date(2026, 3, 2, 15, 0, 0, 0, loc)
	paris, _ := time.LoadLocation("Europe/Paris")
	tests := []struct {
		name     string
		now      time.Time
		lastSeen time.Time
		windows  map[string]alerting.FeedWindow
		want     int
	}{
		{"three silent hours in the afternoon raise it", afternoon, afternoon.Add(-3 * time.Hour), nil, 2},
		{"an hour of silence is normal", afternoon, afternoon.Add(-time.Hour), nil, 0},
		{"silence at night is expected", afternoon.Add(12 * time.Hour), afternoon.Add(-3 * time.Hour), nil, 0},
		{"a facility whose hours end at 14:00 is not expected at 15:00", afternoon, afternoon.Add(-3 * time.Hour),
			map[string]alerting.FeedWindow{"HSTA": {Hours: [2]int{7, 14}}}, 0},
		{"a facility in Paris is expected at 03:00 Toronto time (09:00 there)", afternoon.Add(12 * time.Hour), afternoon.Add(9 * time.Hour),
			map[string]alerting.FeedWindow{"HSTA": {Location: paris}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := jstest.Ledger(t)
			f := finder{managers: []string{"pm-1", "pm-2"}, feeds: map[string]time.Time{"HSTA": tt.lastSeen}}
			s := alerting.New(l, f, alerting.Config{Facilities: []string{"HSTA", "HRDN"}, FeedWindows: tt.windows, Now: func() time.Time { return tt.now }})
			for range 2 { // the same silence, swept twice, is one alert each
				if err := s.Sweep(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			n := 0
			err := l.Subscribe(context.Background(), 1, func(_ context.Context, e events.Event) error {
				if e.Type == events.TypeAlertRaised {
					n++
				}
				return nil
			}, ledger.StopAtHead())
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.want {
				t.Fatalf("%d silence alerts, want %d", n, tt.want)
			}
		})
	}
}
