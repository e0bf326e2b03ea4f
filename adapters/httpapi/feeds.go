package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/projections/alerts"
	"github.com/relais-health/relais/services/alerting"
)

// Feeds is the hospital feeds' health (services/alerting: the sweep's own
// rule for silence, over the alert read model's last message per facility).
type Feeds interface {
	Feeds() []alerting.FeedHealth
}

// FeedAlarm is a pending feed alert (silence or a gap in the control ids)
// naming the facility, once per thread (each manager has a copy).
type FeedAlarm struct {
	Kind     string    `json:"kind"`
	ThreadID string    `json:"thread_id"`
	Summary  string    `json:"summary"`
	RaisedAt time.Time `json:"raised_at"`
	// Recipients are the managers whose copy is still unacknowledged.
	Recipients []string `json:"recipients"`
	// Alert is the first copy, for a reader that says it in its own words.
	Alert alerts.Alert `json:"-"`
}

// FeedStatus is one facility's health and its pending alarms.
type FeedStatus struct {
	alerting.FeedHealth
	Alarms []FeedAlarm `json:"alarms"`
}

// FeedStatuses joins the feeds' health with their pending feed.silent and
// feed.gap alerts (their facts name the facility; older ones without
// facts, their summaries beginning "Flux HL7 <facility> ").
func FeedStatuses(f Feeds, a Alerts) []FeedStatus {
	pending := a.Unacknowledged()
	var out []FeedStatus
	for _, h := range f.Feeds() {
		st := FeedStatus{FeedHealth: h, Alarms: []FeedAlarm{}}
		prefix := "Flux HL7 " + h.Facility + " "
		for _, al := range pending {
			if al.Kind != "feed.silent" && al.Kind != "feed.gap" {
				continue
			}
			if al.Facts != nil && al.Facts.Facility != h.Facility || al.Facts == nil && !strings.HasPrefix(al.Summary, prefix) {
				continue
			}
			i := slices.IndexFunc(st.Alarms, func(x FeedAlarm) bool { return x.ThreadID == al.ThreadID })
			if i < 0 {
				st.Alarms = append(st.Alarms, FeedAlarm{Kind: al.Kind, ThreadID: al.ThreadID, Summary: al.Summary, RaisedAt: al.RaisedAt, Alert: al})
				i = len(st.Alarms) - 1
			}
			st.Alarms[i].Recipients = append(st.Alarms[i].Recipients, al.RecipientID)
		}
		out = append(out, st)
	}
	return out
}

// RegisterFeeds adds the programme manager's view of the hospital feeds:
// last message per facility, whether its silence is beyond the alarm's
// threshold during its hours, and its pending silence and gap alarms.
func (s *Server) RegisterFeeds(f Feeds, a Alerts) {
	s.Handle("GET", "/v1/feeds", []string{events.RoleProgrammeManager, events.RoleAdmin}, func(w http.ResponseWriter, r *http.Request, p Principal) error {
		st := FeedStatuses(f, a)
		if st == nil {
			st = []FeedStatus{}
		}
		return ok(w, http.StatusOK, map[string]any{"feeds": st})
	})
}
