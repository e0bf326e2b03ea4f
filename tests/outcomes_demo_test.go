package tests

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream"
)

// cohortJSON is what the test reads of a cohort of GET /v1/reports/outcomes.
type cohortJSON struct {
	Cohort           string  `json:"cohort"`
	Clients          int     `json:"clients"`
	Followed         int     `json:"followed"`
	FollowUpTooShort int     `json:"follow_up_too_short"`
	Prorated         int     `json:"prorated"`
	BeforeVisits     int     `json:"before_visits"`
	AfterVisits      int     `json:"after_visits"`
	AfterVisits12    float64 `json:"after_visits_12m"`
}

// The demo territory tells the seed programme's story: 200 clients, 1,054
// ED visits in the year before their enrolment and 254 in the year after.
// The figures are counted here from the ledger's own events (arrivals
// against each client's enrolment), not by the report code, and the
// report must agree with them.
func TestDemoOutcomesTellTheSeedProgrammesStory(t *testing.T) {
	srv := startServe(t, t.TempDir(), "--demo", "--demo-every", "0")

	// Count in the ledger.
	nc := srv.natsConnect(t)
	defer nc.Close()
	ctx := context.Background()
	st, err := jetstream.Open(ctx, nc, jetstream.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	enrolled := map[string]time.Time{} // client -> first enrolment
	keyOf := map[string]string{}       // patient key -> client
	type arrival struct {
		key, client string
		at          time.Time
	}
	var arrivals []arrival
	err = st.Subscribe(ctx, 1, func(_ context.Context, e events.Event) error {
		switch e.Type {
		case events.TypeClientEnrolled, events.TypeClientRegistered, events.TypeEDVisitStarted:
		default:
			return nil
		}
		p, err := e.Payload()
		if err != nil {
			return err
		}
		switch v := p.(type) {
		case *events.ClientEnrolled:
			if _, ok := enrolled[v.ClientID]; !ok {
				enrolled[v.ClientID] = v.EnrolledAt
			}
		case *events.ClientRegistered:
			for _, k := range v.PatientKeys {
				keyOf[k] = v.ClientID
			}
		case *events.EDVisitStarted:
			arrivals = append(arrivals, arrival{v.PatientKey, v.ClientID, v.ArrivedAt})
		}
		return nil
	}, ledger.StopAtHead())
	if err != nil {
		t.Fatal(err)
	}
	before, after := 0, 0
	for _, a := range arrivals {
		client := a.client
		if client == "" {
			client = keyOf[a.key]
		}
		at, ok := enrolled[client]
		if !ok {
			continue
		}
		switch {
		case !a.at.Before(at.AddDate(-1, 0, 0)) && a.at.Before(at):
			before++
		case !a.at.Before(at) && a.at.Before(at.AddDate(1, 0, 0)):
			after++
		}
	}
	if len(enrolled) != 200 || before != 1054 || after != 254 {
		t.Fatalf("the demo's ledger holds %d enrolled clients with %d ED visits the year before and %d after; want 200, 1054, 254",
			len(enrolled), before, after)
	}

	tests := []struct {
		name  string
		query string
		want  cohortJSON
	}{
		{
			name: "by default every client is followed a full year: the chart compares 1,054 with 254",
			want: cohortJSON{Cohort: "all", Clients: 200, Followed: 200, BeforeVisits: before, AfterVisits: after, AfterVisits12: float64(after)},
		},
		{
			name:  "with a minimum longer than anyone's follow-up, every client is too short to rate",
			query: "?min_follow_up=600d",
			want:  cohortJSON{Cohort: "all", Clients: 200, FollowUpTooShort: 200},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out struct {
				MinFollowUpDays float64      `json:"min_follow_up_days"`
				Cohorts         []cohortJSON `json:"cohorts"`
			}
			if code := getJSON(t, "http://"+srv.HTTP+"/v1/reports/outcomes"+tc.query, "demo-pm-1", &out); code != http.StatusOK || len(out.Cohorts) == 0 {
				t.Fatalf("outcomes: %d %+v", code, out)
			}
			if all := out.Cohorts[len(out.Cohorts)-1]; all != tc.want {
				t.Fatalf("all clients: %+v\nwant %+v", all, tc.want)
			}
		})
	}
	if code := getJSON(t, "http://"+srv.HTTP+"/v1/reports/outcomes?min_follow_up=soon", "demo-pm-1", nil); code != http.StatusBadRequest {
		t.Fatalf("a minimum that does not parse: %d, want 400", code)
	}
}
