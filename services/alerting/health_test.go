package alerting_test

import (
	"testing"
	"time"

	"github.com/relais-health/relais/services/alerting"
)

// The feed health says, per watched facility, when it was last heard from
// and whether its silence is what the sweep alarms on (the same rule).
func TestFeedsSaysWhichFeedIsSilent(t *testing.T) {
	loc, _ := time.LoadLocation("America/Toronto")
	afternoon := time.Date(2026, 3, 2, 15, 0, 0, 0, loc)
	tests := []struct {
		name      string
		now       time.Time
		lastSeen  time.Time
		windows   map[string]alerting.FeedWindow
		silent    bool
		expecting bool
	}{
		{"three silent hours in the afternoon", afternoon, afternoon.Add(-3 * time.Hour), nil, true, true},
		{"an hour of silence is normal", afternoon, afternoon.Add(-time.Hour), nil, false, true},
		{"silence at night is expected", afternoon.Add(12 * time.Hour), afternoon.Add(-3 * time.Hour), nil, false, false},
		{"outside the facility's own hours", afternoon, afternoon.Add(-3 * time.Hour), map[string]alerting.FeedWindow{"HSTA": {Hours: [2]int{7, 14}}}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := finder{feeds: map[string]time.Time{"HSTA": tt.lastSeen}}
			s := alerting.New(nil, f, alerting.Config{Facilities: []string{"HSTA", "HRDN"}, FeedWindows: tt.windows, Now: func() time.Time { return tt.now }})
			got := s.Feeds()
			if len(got) != 2 || got[0].Facility != "HSTA" || got[1].Facility != "HRDN" {
				t.Fatalf("feeds %+v, want HSTA then HRDN", got)
			}
			h := got[0]
			if !h.Heard || !h.LastSeen.Equal(tt.lastSeen) || h.LastPosition != 7 || h.Silent != tt.silent || h.Expecting != tt.expecting {
				t.Errorf("HSTA %+v, want heard at %s, position 7, silent %v, expecting %v", h, tt.lastSeen, tt.silent, tt.expecting)
			}
			if want := int64(tt.now.Sub(tt.lastSeen) / time.Second); h.SilentSeconds != want || h.SilenceAfterSeconds != 7200 {
				t.Errorf("HSTA silent %d s (alarm after %d s), want %d s (after 7200 s)", h.SilentSeconds, h.SilenceAfterSeconds, want)
			}
			if got[1].Heard || got[1].Silent {
				t.Errorf("HRDN was never heard from: %+v", got[1])
			}
		})
	}
}
