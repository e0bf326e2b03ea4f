package httpapi

import (
	"testing"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/projections/alerts"
	"github.com/relais-health/relais/services/alerting"
)

type feedsOf []alerting.FeedHealth

func (f feedsOf) Feeds() []alerting.FeedHealth { return f }

type pendingOf []alerts.Alert

func (p pendingOf) Queue(string) []alerts.Alert          { return nil }
func (p pendingOf) Get(string) (alerts.Alert, bool)      { return alerts.Alert{}, false }
func (p pendingOf) Since(string, uint64) []alerts.Update { return nil }
func (p pendingOf) Unacknowledged() []alerts.Alert       { return p }

// Each feed gets its own pending silence and gap alarms, once per thread
// with every manager's copy, by the facts' facility (or, for alerts
// recorded before facts, the summary's).
func TestFeedStatusesJoinEachFeedWithItsAlarms(t *testing.T) {
	gap := func(id, thread, to, facility string) alerts.Alert {
		return alerts.Alert{ID: id, ThreadID: thread, RecipientID: to, Kind: "feed.gap", Facts: &events.AlertFacts{Facility: facility}}
	}
	pending := pendingOf{
		gap("a1", "t1", "pm-1", "HSTA"), gap("a2", "t1", "pm-2", "HSTA"),
		{ID: "a3", ThreadID: "t2", RecipientID: "pm-1", Kind: "feed.silent", Summary: "Flux HL7 HLAU silencieux depuis 11:00"},
		gap("a4", "t3", "pm-1", "HSTAX"),
		{ID: "a5", ThreadID: "t4", RecipientID: "cm-1", Kind: "ed.arrival", Facts: &events.AlertFacts{Facility: "HSTA"}},
	}
	got := FeedStatuses(feedsOf{{Facility: "HSTA"}, {Facility: "HLAU"}, {Facility: "HRDN"}}, pending)
	want := map[string][]string{"HSTA": {"t1:2"}, "HLAU": {"t2:1"}, "HRDN": nil}
	if len(got) != 3 {
		t.Fatalf("%d feeds, want 3", len(got))
	}
	for _, st := range got {
		var alarms []string
		for _, a := range st.Alarms {
			alarms = append(alarms, a.ThreadID+":"+string(rune('0'+len(a.Recipients))))
		}
		if w := want[st.Facility]; len(alarms) != len(w) || (len(w) > 0 && alarms[0] != w[0]) {
			t.Errorf("%s alarms %v, want %v", st.Facility, alarms, w)
		}
	}
}
