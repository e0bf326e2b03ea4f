package alerts_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/projections/alerts"
)

// updates returns what the notifier was told for recipient so far.
func (r *recorder) updates(recipient string) []alerts.Update {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []alerts.Update
	for _, u := range r.us {
		if u.Recipient == recipient {
			out = append(out, u)
		}
	}
	return out
}

func changes(us []alerts.Update) string {
	var s []string
	for _, u := range us {
		s = append(s, u.Change)
	}
	return strings.Join(s, ",")
}

var yes = func() *bool { b := true; return &b }()

// Fan-out follows the one consent rule: a doctor the consent does not name
// never becomes a recipient, even when a confirmation of theirs is in the
// ledger (recorded before writes were checked).
func TestADoctorTheConsentDoesNotNameIsNeverAlerted(t *testing.T) {
	w := newWorld(t)
	put(t, w.l, "partner-doc-2", nil, &events.PartnerRegistered{PartnerID: "doc-2", Category: "doctor", Name: "doc-2"})
	put(t, w.l, "client-c1", nil, &events.DoctorConfirmed{ClientID: "c1", DoctorID: "doc-2", IsPatient: yes})
	w.hl7(&events.EDVisitStarted{Visit: visit("c1", "V1"), ArrivedAt: time.Now(), Reason: "Dyspnée"})
	w.queue("doc-1", kind("ed.arrival", 1)) // the doctor the consent names
	w.settle()
	if q := w.p.Queue("doc-2"); len(q) != 0 {
		t.Fatalf("a doctor the consent does not name got %+v", q)
	}
	if us := w.rec.updates("doc-2"); len(us) != 0 {
		t.Fatalf("a doctor the consent does not name was sent %s", changes(us))
	}
}

// After a revocation the partner hears nothing more of the visit: its
// alert is withdrawn (read or not), and the visit's later moves (an
// admission, here) reach the staff only.
func TestAfterRevocationThePartnerGetsNoMoreVisitUpdates(t *testing.T) {
	tests := []struct {
		name        string
		acknowledge bool
	}{
		{"a pending partner alert is withdrawn and gets no thread update", false},
		{"an acknowledged partner alert is withdrawn and gets no thread update", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.hl7(&events.EDVisitStarted{Visit: visit("c1", "V1"), ArrivedAt: time.Now(), Reason: "Sevrage"})
			a := ofKind(w.queue("rehab-1", kind("ed.arrival", 1)), "ed.arrival")[0]
			if tt.acknowledge {
				if _, err := w.service(time.Now()).Acknowledge(context.Background(), events.Actor{ID: "rehab-1", Role: "rehab"}, a.ID); err != nil {
					t.Fatal(err)
				}
				w.queue("rehab-1", func(q []alerts.Alert) bool { return ofKind(q, "ed.arrival")[0].Acknowledged })
			}
			w.settle()
			before := len(w.rec.updates("rehab-1"))

			put(t, w.l, "client-c1", nil, &events.ConsentRevoked{ClientID: "c1", Category: "rehab"})
			w.hl7(&events.HospitalAdmitted{Visit: visit("c1", "V1"), AdmittedAt: time.Now()})
			// The marker: the case manager's alert of the same visit moved on.
			w.queue("cm-1", func(q []alerts.Alert) bool { return len(q) == 1 && q[0].Status == "admitted" })
			w.settle()

			after := w.rec.updates("rehab-1")[before:]
			// rehab-1 had two alerts about c1: the referral and the arrival.
			if got := changes(after); got != "withdrawn,withdrawn" {
				t.Fatalf("after the revocation rehab-1 was sent %q, want only the withdrawals of its two alerts", got)
			}
			if got := ofKind(w.p.Queue("rehab-1"), "ed.arrival")[0]; !got.Withdrawn || got.Status == "admitted" {
				t.Fatalf("rehab-1's alert after the revocation and the admission: %+v", got)
			}
		})
	}
}

// A withdrawn alert is cut down, in a partner's queue and in the change
// log an SSE stream resumes from, to "withdrawn"; staff keep theirs whole.
func TestAWithdrawnAlertKeepsOnlyWithdrawnForThePartner(t *testing.T) {
	w := newWorld(t)
	w.hl7(&events.EDVisitStarted{Visit: visit("c1", "V1"), ArrivedAt: time.Now(), Reason: "Sevrage"})
	w.queue("rehab-1", kind("ed.arrival", 1))
	put(t, w.l, "client-c1", nil, &events.ConsentRevoked{ClientID: "c1", Category: "rehab"})
	q := w.queue("rehab-1", func(q []alerts.Alert) bool { return len(q) == 2 && q[0].Withdrawn && q[1].Withdrawn })
	for _, a := range q {
		if a.Summary != "Retiré / withdrawn" || a.Status != "" || a.WithdrawReason == "" {
			t.Fatalf("a withdrawn alert in the partner's queue still says %q (status %q)", a.Summary, a.Status)
		}
	}
	for _, u := range w.p.Since("rehab-1", 0) {
		if u.Alert.Summary != "Retiré / withdrawn" {
			t.Fatalf("the partner's change log still holds the %s change saying %q", u.Change, u.Alert.Summary)
		}
	}
	if us := w.rec.updates("rehab-1"); us[len(us)-1].Change != "withdrawn" || us[len(us)-1].Alert.Summary != "Retiré / withdrawn" {
		t.Fatalf("the withdrawal sent to the partner: %+v", us[len(us)-1])
	}
	if cm := w.p.Queue("cm-1")[0]; !strings.Contains(cm.Summary, "Sevrage") {
		t.Fatalf("the case manager's alert lost its summary: %q", cm.Summary)
	}
}

// A grant that names one partner narrows a consent that covered the whole
// category: the other partners' alerts are withdrawn, and they are not
// alerted again.
func TestAGrantNamingAnotherPartnerWithdrawsTheOthersAlerts(t *testing.T) {
	w := newWorld(t)
	put(t, w.l, "partner-rehab-2", nil, &events.PartnerRegistered{PartnerID: "rehab-2", Category: "rehab", Name: "rehab-2"})
	w.hl7(&events.EDVisitStarted{Visit: visit("c1", "V1"), ArrivedAt: time.Now()})
	w.queue("rehab-1", kind("ed.arrival", 1))
	put(t, w.l, "client-c1", nil, &events.ConsentGranted{ClientID: "c1", Category: "rehab", PartnerID: "rehab-2"})
	w.queue("rehab-1", func(q []alerts.Alert) bool { return len(q) == 2 && q[0].Withdrawn && q[1].Withdrawn })
	w.hl7(&events.EDVisitStarted{Visit: visit("c1", "V2"), ArrivedAt: time.Now()})
	w.queue("cm-1", count(2))
	w.settle()
	if q := w.p.Queue("rehab-1"); len(q) != 2 {
		t.Fatalf("rehab-1 alerted after the consent named rehab-2: %+v", q)
	}
}
