package alerts

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

// applyAlert folds an alert event into the queues and notifies.
func (p *Projection) applyAlert(ctx context.Context, e events.Event) error {
	pl, err := e.Payload()
	if err != nil {
		return err
	}
	p.mu.Lock()
	var notes []Update
	var follow []derived
	switch v := pl.(type) {
	case *events.AlertRaised:
		if _, dup := p.alerts[v.AlertID]; dup {
			break
		}
		a := &Alert{ID: v.AlertID, ThreadID: v.ThreadID, RecipientID: v.RecipientID, Priority: v.Priority, Kind: v.Kind,
			ClientID: v.ClientID, Summary: v.Summary, RaisedAt: v.RaisedAt, Amends: v.Amends, Position: e.Position}
		if t, ok := p.st.threads[v.ThreadID]; ok {
			a.Status = t.status
			if v.Amends == "" {
				t.alerts = appendUnique(t.alerts, a.ID)
			}
		}
		p.alerts[a.ID] = a
		p.byRecipient[a.RecipientID] = append(p.byRecipient[a.RecipientID], a.ID)
		notes = p.recordLocked(a, "raised", e)
		// The consent may have been revoked between the cause and this
		// alert reaching the ledger: withdraw it at once.
		if cat, partner := p.st.partners[a.RecipientID]; partner && a.ClientID != "" && !p.st.client(a.ClientID).consented(cat) {
			follow = append(follow, withdraw(a.ID, "Consentement retiré / consent revoked ("+cat+")", e.OccurredAt, e.ID))
		}
	case *events.AlertAcknowledged:
		if a := p.alerts[v.AlertID]; a != nil && !a.Acknowledged {
			a.Acknowledged, a.AcknowledgedBy, a.AcknowledgedAt, a.Position = true, v.ActorID, e.OccurredAt, e.Position
			notes = p.recordLocked(a, "acknowledged", e)
		}
	case *events.AlertEscalated:
		if a := p.alerts[v.AlertID]; a != nil && a.EscalatedTo == "" {
			a.EscalatedTo, a.Position = v.EscalatedTo, e.Position
			p.byRecipient[v.EscalatedTo] = append(p.byRecipient[v.EscalatedTo], a.ID)
			notes = p.recordLocked(a, "escalated", e)
		}
	case *events.AlertWithdrawn:
		if a := p.alerts[v.AlertID]; a != nil && !a.Withdrawn {
			a.Withdrawn, a.WithdrawReason, a.Position = true, v.Reason, e.Position
			notes = p.recordLocked(a, "withdrawn", e)
		}
	}
	p.lastPos = e.Position
	p.mu.Unlock()
	for _, u := range notes {
		p.notify(ctx, u)
	}
	for _, d := range follow {
		if err := p.append(ctx, d); err != nil {
			return err
		}
	}
	return nil
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

// MayAct reports whether actor may read or acknowledge the alert: its
// recipient, the escalation target, or staff for on-call queues.
func MayAct(a Alert, actor events.Actor) bool {
	if actor.ID == a.RecipientID || actor.ID == a.EscalatedTo {
		return true
	}
	staff := actor.Role == events.RoleCaseManager || actor.Role == events.RoleProgrammeManager || actor.Role == events.RolePivotWorker
	return staff && (strings.HasPrefix(a.RecipientID, "oncall-") || strings.HasPrefix(a.EscalatedTo, "oncall-"))
}

// Acknowledge records that actor has seen the alert; acknowledging twice is
// harmless. It returns the ledger position of the acknowledgement.
func (p *Projection) Acknowledge(ctx context.Context, actor events.Actor, alertID string) (uint64, error) {
	a, ok := p.Get(alertID)
	if !ok {
		return 0, fmt.Errorf("%w: %s", ErrNotFound, alertID)
	}
	if !MayAct(a, actor) {
		return 0, fmt.Errorf("%w: %s may not acknowledge alert %s", ErrForbidden, actor.ID, alertID)
	}
	res, err := ledger.Update(ctx, p.l, events.AlertStream(alertID), func(history []events.Event) ([]events.Event, error) {
		for _, h := range history {
			if h.Type == events.TypeAlertAcknowledged {
				return nil, nil
			}
		}
		e, err := events.New(&events.AlertAcknowledged{AlertID: alertID, ActorID: actor.ID}, actor,
			events.WithID(events.DeriveID(alertID, "acknowledged")), events.WithCorrelation(alertID, ""))
		if err != nil {
			return nil, err
		}
		return []events.Event{e}, nil
	})
	if err != nil {
		return 0, fmt.Errorf("acknowledge %s: %w", alertID, err)
	}
	return res.Position, nil
}

// Escalate escalates every high-priority alert still pending after
// EscalateAfter, and raises an alert for each watched feed silent beyond
// FeedSilence during expected hours. now is injected for tests.
func (p *Projection) Escalate(ctx context.Context, now time.Time) error {
	var todo []derived
	p.mu.RLock()
	for _, a := range p.alerts {
		if a.Priority != events.PriorityHigh || !a.Pending() || a.EscalatedTo != "" || now.Sub(a.RaisedAt) < p.cfg.EscalateAfter {
			continue
		}
		target := p.managers()[0]
		if strings.HasPrefix(a.RecipientID, "oncall-") || a.RecipientID == target {
			// Already with the programme: escalate to the general on-call.
			target = onCall("escalation")
		}
		e := events.MustNew(&events.AlertEscalated{AlertID: a.ID, EscalatedTo: target,
			Reason: fmt.Sprintf("Non accusé après %s / not acknowledged after %s", p.cfg.EscalateAfter, p.cfg.EscalateAfter)},
			system, events.WithID(events.DeriveID(a.ID, "escalated")), events.WithOccurredAt(now), events.WithCorrelation(a.ID, ""))
		todo = append(todo, derived{alertID: a.ID, ev: e})
	}
	local := now.In(p.cfg.Location)
	inHours := local.Hour() >= p.cfg.FeedHours[0] && local.Hour() < p.cfg.FeedHours[1]
	for _, fac := range p.cfg.Facilities {
		f := p.st.feeds[fac]
		if f == nil || !inHours || now.Sub(f.lastSeen) < p.cfg.FeedSilence {
			continue
		}
		cause := events.Event{ID: events.DeriveID("feed.silent", fac, fmt.Sprint(f.lastPos)), OccurredAt: now}
		for _, pm := range p.managers() {
			d := p.raise(cause, events.DeriveID("feed.silent", fac, fmt.Sprint(f.lastPos)), pm, events.PriorityHigh, "feed.silent", "",
				fmt.Sprintf("Flux HL7 %s silencieux depuis %s / feed silent since %s — des arrivées sont peut-être manquées / arrivals may be missed",
					fac, f.lastSeen.In(p.cfg.Location).Format("15:04"), f.lastSeen.In(p.cfg.Location).Format("15:04")), "")
			if d.alertID != "" {
				todo = append(todo, d)
			}
		}
	}
	p.mu.RUnlock()
	for _, d := range todo {
		if err := p.append(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// RunEscalator calls Escalate every period until ctx ends.
func (p *Projection) RunEscalator(ctx context.Context, every time.Duration, now func() time.Time) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := p.Escalate(ctx, now()); err != nil && ctx.Err() == nil {
				p.cfg.Log.Sugar().Warnw("escalation round failed", "error", err)
			}
		}
	}
}
