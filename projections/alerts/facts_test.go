package alerts_test

import (
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/projections/alerts"
)

// The facts of an alert carry what its summary says, as data, with the
// same minimum per recipient: staff get the reason, the name and the family
// note, the doctor the place and time, the rehab centre the time only; a
// withdrawn partner alert keeps no facts.
func TestAlertFactsSayWhatTheSummarySaysPerRecipient(t *testing.T) {
	w := newWorld(t)
	at := time.Date(2026, 12, 2, 19, 5, 0, 0, time.UTC)
	w.hl7(&events.EDVisitStarted{Visit: visit("c1", "V1"), ArrivedAt: at, Reason: "Crise d'anxiété"})
	cases := []struct {
		recipient string
		want      events.AlertFacts
	}{
		{"cm-1", events.AlertFacts{Facility: "HSTA", At: at, Reason: "Crise d'anxiété", Family: "no"}},
		{"doc-1", events.AlertFacts{Facility: "HSTA", At: at}},
		{"rehab-1", events.AlertFacts{At: at}},
	}
	for _, c := range cases {
		t.Run(c.recipient, func(t *testing.T) {
			a := ofKind(w.queue(c.recipient, kind("ed.arrival", 1)), "ed.arrival")[0]
			if a.Facts == nil {
				t.Fatalf("the alert has no facts: %+v", a)
			}
			got := *a.Facts
			got.Name = "" // the test world's client may carry one; staff only, checked below
			if !got.At.Equal(c.want.At) {
				t.Fatalf("facts at %v, want %v", got.At, c.want.At)
			}
			got.At = c.want.At
			if got != c.want {
				t.Fatalf("facts %+v, want %+v", got, c.want)
			}
			if c.recipient != "cm-1" && a.Facts.Name != "" {
				t.Fatalf("a partner's facts name the client: %+v", a.Facts)
			}
		})
	}

	put(t, w.l, "client-c1", nil, &events.PharmacistConcernRaised{ClientID: "c1", PharmacyID: "ph-1", Concern: "Doublon", NeedsMedicalEvaluation: true})
	concern := ofKind(w.queue("cm-1", kind("pharmacist.concern", 1)), "pharmacist.concern")[0]
	if concern.Facts == nil || concern.Facts.Text != "Doublon" || !concern.Facts.Evaluation {
		t.Fatalf("concern facts: %+v", concern.Facts)
	}

	put(t, w.l, "client-c1", nil, &events.ConsentRevoked{ClientID: "c1", Category: "rehab"})
	gone := w.queue("rehab-1", func(q []alerts.Alert) bool { return len(q) > 0 && ofKind(q, "ed.arrival")[0].Withdrawn })
	if f := ofKind(gone, "ed.arrival")[0].Facts; f != nil {
		t.Fatalf("a withdrawn partner alert keeps its facts: %+v", f)
	}
}
