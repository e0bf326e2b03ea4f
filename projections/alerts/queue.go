package alerts

import (
	"strings"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/events/consent"
)

// withdrawnSummary is all a partner keeps of an alert once it is
// withdrawn: the alert's id, kind and client say which one it was; what it
// said is gone from the partner's queue and change log.
const withdrawnSummary = "Retiré / withdrawn"

// foldLocked moves the state past e once its derived facts are in the
// ledger, and returns the updates to notify. Lock held.
func (p *Projection) foldLocked(e events.Event) []Update {
	p.lastPos = e.Position
	pl, err := e.Payload()
	if err != nil {
		return nil
	}
	if strings.HasPrefix(e.Type, "alert.") {
		return p.foldAlertLocked(e, pl)
	}
	p.st.fold(e)
	return p.threadNotesLocked(e, pl)
}

// foldAlertLocked applies an alert event to the queues. Lock held.
func (p *Projection) foldAlertLocked(e events.Event, pl events.Payload) []Update {
	switch v := pl.(type) {
	case *events.AlertRaised:
		if _, dup := p.alerts[v.AlertID]; dup {
			return nil
		}
		a := &Alert{ID: v.AlertID, ThreadID: v.ThreadID, RecipientID: v.RecipientID, Priority: v.Priority, Kind: v.Kind,
			ClientID: v.ClientID, Summary: v.Summary, Facts: v.Facts, RaisedAt: v.RaisedAt, Amends: v.Amends, Position: e.Position}
		if t, ok := p.st.threads[v.ThreadID]; ok {
			a.Status = t.status
			if v.Amends == "" {
				t.alerts = appendUnique(t.alerts, a.ID)
			}
		}
		p.alerts[a.ID] = a
		p.byRecipient[a.RecipientID] = append(p.byRecipient[a.RecipientID], a.ID)
		if !p.st.mayReceive(a, consent.PurposeAlert) {
			// Its consent went between the cause and this alert: the
			// withdrawal derived from it follows; nothing is sent.
			a.Summary, a.Facts, a.Status = withdrawnSummary, nil, ""
			return nil
		}
		return p.recordLocked(a, "raised", e)
	case *events.AlertAcknowledged:
		if a := p.alerts[v.AlertID]; a != nil && !a.Acknowledged {
			a.Acknowledged, a.AcknowledgedBy, a.AcknowledgedAt, a.Position = true, v.ActorID, e.OccurredAt, e.Position
			return p.recordLocked(a, "acknowledged", e)
		}
	case *events.AlertEscalated:
		if a := p.alerts[v.AlertID]; a != nil && a.EscalatedTo == "" {
			a.EscalatedTo, a.Position = v.EscalatedTo, e.Position
			p.byRecipient[v.EscalatedTo] = append(p.byRecipient[v.EscalatedTo], a.ID)
			return p.recordLocked(a, "escalated", e)
		}
	case *events.AlertWithdrawn:
		if a := p.alerts[v.AlertID]; a != nil && !a.Withdrawn {
			a.Withdrawn, a.WithdrawReason, a.Position = true, v.Reason, e.Position
			if _, partner := p.st.partners[a.RecipientID]; partner {
				p.reduceLocked(a)
			}
			return p.recordLocked(a, "withdrawn", e)
		}
	}
	return nil
}

// threadNotesLocked tells everyone alerted on a visit thread that it moved
// on, without paging them again: each alert of the thread takes the status
// the fold just gave the thread. Lock held; state folded.
func (p *Projection) threadNotesLocked(e events.Event, pl events.Payload) []Update {
	var v events.Visit
	switch x := pl.(type) {
	case *events.EDVisitUpdated:
		v = x.Visit
	case *events.HospitalAdmitted:
		v = x.Visit
	case *events.EDVisitEnded:
		v = x.Visit
	case *events.HospitalDischarged:
		v = x.Visit
	case *events.EDVisitCancelled:
		v = x.Visit
	default:
		return nil
	}
	t, ok := p.st.threads[threadID(v.Facility, v.VisitNumber)]
	if !ok {
		return nil
	}
	var out []Update
	for _, id := range t.alerts {
		a := p.alerts[id]
		if a == nil {
			continue
		}
		if _, partner := p.st.partners[a.RecipientID]; partner && (a.Withdrawn || !p.st.mayReceive(a, consent.PurposeVisitUpdate)) {
			continue // a partner hears of the visit only while its consent covers it
		}
		a.Status = t.status
		a.Position = e.Position
		out = append(out, p.recordLocked(a, "thread", e)...)
	}
	return out
}

// reduceLocked cuts a withdrawn alert down to what its partner recipient
// needs to know, in the queue and in the change log kept for SSE
// resumption. Lock held.
func (p *Projection) reduceLocked(a *Alert) {
	a.Summary, a.Facts, a.Status = withdrawnSummary, nil, ""
	log := p.updates[a.RecipientID]
	for i := range log {
		if log[i].Alert.ID == a.ID {
			log[i].Alert.Summary, log[i].Alert.Facts, log[i].Alert.Status = withdrawnSummary, nil, ""
		}
	}
}

// recordLocked logs a change for the alert's recipient and escalation
// target and returns the updates to notify. Lock held.
func (p *Projection) recordLocked(a *Alert, change string, e events.Event) []Update {
	pos := e.Position
	var out []Update
	for _, r := range []string{a.RecipientID, a.EscalatedTo} {
		if r == "" {
			continue
		}
		seq := pos * 1000
		if log := p.updates[r]; len(log) > 0 && log[len(log)-1].Position == pos {
			seq = log[len(log)-1].Seq + 1
		}
		u := Update{Seq: seq, Position: pos, Recipient: r, Change: change, Alert: *a, At: e.RecordedAt, Webhook: p.st.webhooks[r]}
		log := append(p.updates[r], u)
		if len(log) > maxUpdates {
			log = log[len(log)-maxUpdates:]
		}
		p.updates[r] = log
		out = append(out, u)
	}
	return out
}
