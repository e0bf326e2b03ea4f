package alerts

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/events/consent"
	"github.com/relais-health/relais/infra/ledger"
)

// derived is an alert fact to append to the ledger.
type derived struct {
	alertID string
	ev      events.Event
}

// cancelledReason is why an alert of a visit the hospital cancelled is
// withdrawn.
const cancelledReason = "Visite annulée par l'hôpital (A11) / visit cancelled by the hospital"

// system is the actor of derived alert facts.
var system = events.Actor{ID: "relais-alerts", Role: events.RoleSystem}

// raise builds an alert.raised fact with a deterministic id.
func (p *Projection) raise(cause events.Event, thread, recipient, priority, kind, clientID, summary, amends string, facts *events.AlertFacts) derived {
	correction := ""
	if amends != "" {
		correction = cause.ID // one amendment per correction
	}
	id := events.DeriveID("alert", thread, recipient, kind, amends, correction)
	pl := &events.AlertRaised{AlertID: id, ThreadID: thread, RecipientID: recipient, Priority: priority, Kind: kind,
		ClientID: clientID, Summary: summary, CauseID: cause.ID, RaisedAt: cause.OccurredAt, Amends: amends, Facts: facts}
	e, err := events.New(pl, system, events.WithID(events.DeriveID(id, "raised")), events.WithOccurredAt(cause.OccurredAt),
		events.WithCorrelation(thread, cause.ID))
	if err != nil {
		p.cfg.Log.Sugar().Errorw("alert rule built an invalid alert", "kind", kind, "error", err)
		return derived{}
	}
	return derived{alertID: id, ev: e}
}

// withdraw builds an alert.withdrawn fact.
func withdraw(alertID, reason string, at time.Time, causeID string) derived {
	e := events.MustNew(&events.AlertWithdrawn{AlertID: alertID, Reason: reason}, system,
		events.WithID(events.DeriveID(alertID, "withdrawn")), events.WithOccurredAt(at), events.WithCorrelation(alertID, causeID))
	return derived{alertID: alertID, ev: e}
}

// live reports whether an event is fresh enough to page anyone: a history
// import or a simulation records events long after they happened.
func (p *Projection) live(e events.Event) bool {
	return e.RecordedAt.Sub(e.OccurredAt) < p.cfg.MaxAge
}

// derive runs the rules for e against the state before e and returns the
// facts to append. It only reads: the state moves after the facts are in.
// Read lock held.
func (p *Projection) derive(e events.Event) ([]derived, error) {
	pl, err := e.Payload()
	if err != nil {
		if strings.HasPrefix(e.Type, "alert.") {
			return nil, fmt.Errorf("alert event %s: %w", e.ID, err)
		}
		return nil, nil
	}
	var out []derived
	add := func(d derived) {
		if d.alertID != "" {
			out = append(out, d)
		}
	}
	s := p.st
	switch v := pl.(type) {
	case *events.AlertRaised:
		// The consent may have been revoked between the cause and this
		// alert reaching the ledger: withdraw it at once.
		if _, dup := p.alerts[v.AlertID]; dup {
			break
		}
		if cat, partner := s.partners[v.RecipientID]; partner && !s.mayReceive(&Alert{RecipientID: v.RecipientID, ClientID: v.ClientID}, consent.PurposeAlert) {
			add(withdraw(v.AlertID, "Consentement retiré / consent revoked ("+cat+")", e.OccurredAt, e.ID))
		} else if t, ok := s.threads[v.ThreadID]; ok && t.status == "cancelled" && v.Amends == "" {
			// The hospital cancelled the visit between its arrival and this
			// alert reaching the ledger (derived appends are pipelined): the
			// cancellation found no alert to retract, so retract it now.
			add(withdraw(v.AlertID, cancelledReason, e.OccurredAt, e.ID))
		} else if ok && v.Amends == "" && v.Kind == "ed.arrival" && !t.correctedAt.IsZero() && t.reason != t.arrivalReason {
			// The hospital corrected the visit's reason between its arrival
			// and this alert reaching the ledger: the correction amended only
			// the alerts already there, so amend this one now.
			summary, facts := p.arrivalSummary(s.peek(t.clientID), t.clientID, v.RecipientID, t.facility, t.correctedAt, t.reason, "Correction")
			add(p.raise(e, t.id, v.RecipientID, events.PriorityFYI, "ed.arrival.amended", t.clientID, summary, v.AlertID, facts))
		}
	case *events.EDVisitStarted:
		if !p.live(e) {
			break
		}
		p.feedGap(e, add)
		c, ok := s.clients[v.ClientID]
		if !ok || v.ClientID == "" || c.closed || (c.enrolled == "" && len(c.programmes) == 0) {
			break
		}
		p.edArrival(e, v, c, add)
	case *events.EDVisitUpdated:
		if !p.live(e) {
			break
		}
		p.feedGap(e, add)
		t, ok := s.threads[threadID(v.Facility, v.VisitNumber)]
		if ok && v.Reason != "" && v.Reason != t.reason {
			// A correction: amend what each recipient was told.
			for _, id := range t.alerts {
				a := p.alerts[id]
				if a == nil || a.Withdrawn || a.Amends != "" {
					continue
				}
				c := s.peek(t.clientID)
				summary, facts := p.arrivalSummary(c, t.clientID, a.RecipientID, v.Facility, e.OccurredAt, v.Reason, "Correction")
				add(p.raise(e, t.id, a.RecipientID, events.PriorityFYI, "ed.arrival.amended", t.clientID, summary, a.ID, facts))
			}
		}
	case *events.EDVisitCancelled:
		if !p.live(e) {
			break
		}
		p.feedGap(e, add)
		// An A11 after an admission cancels the admission only: the ED
		// visit happened and its alert stands (the client file reads it the
		// same way). Otherwise it cancels the visit: retract.
		if v.Trigger == "A11" {
			if t, ok := s.threads[threadID(v.Facility, v.VisitNumber)]; ok && t.status != "admitted" {
				for _, id := range t.alerts {
					if a := p.alerts[id]; a != nil && !a.Withdrawn {
						add(withdraw(id, cancelledReason, e.OccurredAt, e.ID))
					}
				}
			}
		}
	case *events.PharmacistConcernRaised:
		c := s.peek(v.ClientID)
		recipient := p.caseManagerOrOnCall(c)
		// A concern that needs a medical evaluation pages: it is high
		// priority (escalated when nobody acknowledges it), the others normal.
		priority := events.PriorityNormal
		if v.NeedsMedicalEvaluation {
			priority = events.PriorityHigh
		}
		add(p.raise(e, e.ID, recipient, priority, "pharmacist.concern", v.ClientID,
			fmt.Sprintf("Préoccupation du pharmacien / pharmacist concern (client %s): %s%s", v.ClientID, v.Concern, evalNote(v.NeedsMedicalEvaluation)), "",
			&events.AlertFacts{Text: v.Concern, Evaluation: v.NeedsMedicalEvaluation}))
	case *events.DoctorNotified:
		// "Notify the family doctor": the doctor's inbox gets it, if the
		// client's doctor consent covers that doctor (the service refuses
		// the notification otherwise; a revocation since is checked here).
		c := s.peek(v.ClientID)
		if v.DoctorID != "" && s.allows(c, v.DoctorID, events.CategoryDoctor, consent.PurposeAlert) {
			add(p.raise(e, e.ID, v.DoctorID, events.PriorityNormal, "doctor.notified", v.ClientID,
				fmt.Sprintf("Avis au médecin de famille / family doctor notified (client %s): %s", v.ClientID, v.About), "", &events.AlertFacts{Text: v.About}))
		}
	case *events.ObjectiveMet:
		c := s.peek(v.ClientID)
		summary := fmt.Sprintf("Objectif atteint / objective met (client %s, %s)", v.ClientID, v.ObjectiveID)
		facts := &events.AlertFacts{Ref: v.ObjectiveID}
		if s.allows(c, c.doctor, events.CategoryDoctor, consent.PurposeAlert) {
			add(p.raise(e, e.ID, c.doctor, events.PriorityFYI, "objective.met", v.ClientID, summary, "", facts))
		}
		if rp := c.objectives[v.ObjectiveID]; rp != "" && rp != c.doctor {
			if cat, ok := s.partners[rp]; ok && s.allows(c, rp, cat, consent.PurposeAlert) {
				add(p.raise(e, e.ID, rp, events.PriorityFYI, "objective.met", v.ClientID, summary, "", facts))
			}
		}
	case *events.ReferralSent:
		c := s.peek(v.ClientID)
		if s.allows(c, v.PartnerID, v.Category, consent.PurposeReferral) {
			add(p.raise(e, e.ID, v.PartnerID, events.PriorityNormal, "referral.received", v.ClientID,
				fmt.Sprintf("Nouvelle demande de service / new referral (client %s, %s): %s", v.ClientID, v.ReferralID, v.Reason), "",
				&events.AlertFacts{Ref: v.ReferralID, Text: v.Reason}))
		}
	case *events.ReferralAccepted, *events.ReferralDeclined:
		var ans events.ReferralAnswer
		verdict, code := "acceptée / accepted", "accepted"
		if a, ok := v.(*events.ReferralAccepted); ok {
			ans = a.ReferralAnswer
		} else {
			ans = v.(*events.ReferralDeclined).ReferralAnswer
			verdict, code = "refusée / declined", "declined"
		}
		c := s.peek(ans.ClientID)
		add(p.raise(e, e.ID, p.caseManagerOrOnCall(c), events.PriorityFYI, "referral.answered", ans.ClientID,
			fmt.Sprintf("Demande %s %s par %s (client %s) %s", ans.ReferralID, verdict, ans.PartnerID, ans.ClientID, ans.Note), "",
			&events.AlertFacts{Ref: ans.ReferralID, Verdict: code, Partner: ans.PartnerID, Text: ans.Note}))
	case *events.ConsentRevoked:
		p.withdrawUncovered(e, v.ClientID, v.Category, v, add)
	case *events.ConsentGranted:
		// A grant naming one partner narrows the category: the others'
		// alerts go.
		p.withdrawUncovered(e, v.ClientID, v.Category, v, add)
	case *events.HospitalAdmitted, *events.EDVisitEnded, *events.HospitalDischarged:
		if p.live(e) {
			p.feedGap(e, add)
		}
	}
	return out, nil
}

// edArrival pages the case manager and tells the consented partners.
func (p *Projection) edArrival(e events.Event, v *events.EDVisitStarted, c *client, add func(derived)) {
	t := threadID(v.Facility, v.VisitNumber)
	if th, ok := p.st.threads[t]; ok && len(th.alerts) > 0 {
		return // the thread already paged: A04 sent twice under two control ids
	}
	cm := p.caseManagerOrOnCall(c)
	arrival := func(recipient, priority string) derived {
		summary, facts := p.arrivalSummary(c, v.ClientID, recipient, v.Facility, v.ArrivedAt, v.Reason, "")
		return p.raise(e, t, recipient, priority, "ed.arrival", v.ClientID, summary, "", facts)
	}
	add(arrival(cm, events.PriorityHigh))
	if p.st.allows(c, c.doctor, events.CategoryDoctor, consent.PurposeAlert) {
		add(arrival(c.doctor, events.PriorityFYI))
	}
	for _, r := range sortedReferrals(c) {
		if r.category == events.CategoryRehab && (r.state == "sent" || r.state == "accepted") &&
			p.st.allows(c, r.partner, events.CategoryRehab, consent.PurposeAlert) {
			add(arrival(r.partner, events.PriorityFYI))
		}
	}
}

// withdrawUncovered withdraws, when a consent of category changes, every
// alert about the client still standing in the queue of a partner of that
// category whom the consent, as it will be after the change, no longer
// covers: pending or already read, the partner keeps only "withdrawn".
func (p *Projection) withdrawUncovered(e events.Event, clientID, category string, change events.Payload, add func(derived)) {
	after := maps.Clone(p.st.peek(clientID).consents)
	after.Apply(change)
	var ids []string
	for _, a := range p.alerts {
		if a.ClientID == clientID && !a.Withdrawn && p.st.partners[a.RecipientID] == category &&
			!after.Allows(a.RecipientID, category, consent.PurposeAlert) {
			ids = append(ids, a.ID)
		}
	}
	slices.Sort(ids) // the same order on every replay
	for _, id := range ids {
		add(withdraw(id, "Consentement retiré / consent revoked ("+category+")", e.OccurredAt, e.ID))
	}
}

// arrivalSummary says what the recipient needs and no more: staff get the
// reason and the family note; a doctor the place and time; others only that
// the client is at the ED. The facts say the same, as data.
func (p *Projection) arrivalSummary(c *client, clientID, recipient, facility string, at time.Time, reason, prefix string) (string, *events.AlertFacts) {
	when := at.In(p.cfg.Location).Format("2006-01-02 15:04")
	head := "Arrivée à l'urgence / ED arrival"
	if prefix != "" {
		head = prefix + " — " + head
	}
	switch p.st.partners[recipient] {
	case events.CategoryDoctor:
		return fmt.Sprintf("%s: votre patient(e) / your patient %s — %s, %s", head, clientID, facility, when), &events.AlertFacts{Facility: facility, At: at}
	case "":
		family, fam := "Ne pas contacter la famille (pas de consentement) / do not contact family (no consent)", "no"
		if c.consented(events.CategoryFamily) {
			family, fam = "Famille : consentement donné / family may be contacted", "yes"
		}
		facts := &events.AlertFacts{Facility: facility, At: at, Name: c.name, Reason: reason, Family: fam}
		name := c.name
		if name != "" {
			name = " (" + name + ")"
		}
		r := ""
		if reason != "" {
			r = " — motif / reason: " + reason
		}
		return fmt.Sprintf("%s: client %s%s — %s, %s%s. %s", head, clientID, name, facility, when, r, family), facts
	default:
		return fmt.Sprintf("%s: client %s — %s", head, clientID, when), &events.AlertFacts{At: at}
	}
}

func evalNote(needs bool) string {
	if needs {
		return " — évaluation médicale requise / needs medical evaluation"
	}
	return ""
}

func (p *Projection) caseManagerOrOnCall(c *client) string {
	if c.cm != "" {
		return c.cm
	}
	return onCall(c.programme())
}

func onCall(programme string) string {
	if programme == "" {
		programme = "general"
	}
	return "oncall-" + programme
}

func sortedReferrals(c *client) []*referral {
	ids := make([]string, 0, len(c.referrals))
	for id := range c.referrals {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]*referral, len(ids))
	for i, id := range ids {
		out[i] = c.referrals[id]
	}
	return out
}

// feedGap raises an alert when a sending facility skips control ids.
func (p *Projection) feedGap(e events.Event, add func(derived)) {
	n, err := strconv.ParseUint(e.Source.MessageID, 10, 64)
	if err != nil || e.Source.System == "" {
		return
	}
	f := p.st.feeds[e.Source.System]
	if f == nil || f.lastCtl == 0 || n <= f.lastCtl+1 {
		return
	}
	for _, pm := range p.managers() {
		add(p.raise(e, events.DeriveID("feed.gap", e.Source.System, strconv.FormatUint(f.lastCtl, 10)), pm, events.PriorityHigh, "feed.gap", "",
			fmt.Sprintf("Flux HL7 %s : messages manquants / missing messages %d à/to %d — des arrivées ont pu être manquées / arrivals may have been missed",
				e.Source.System, f.lastCtl+1, n-1), "", &events.AlertFacts{Facility: e.Source.System, From: f.lastCtl + 1, To: n - 1}))
	}
}

// managers are the programme managers, or the general on-call queue.
func (p *Projection) managers() []string {
	if pms := p.st.roles[events.RoleProgrammeManager]; len(pms) > 0 {
		return pms
	}
	return []string{onCall("")}
}

// append writes a derived fact idempotently: the same id appended twice
// (a replay, a second instance) returns the original.
func (p *Projection) append(ctx context.Context, d derived) error {
	stream := events.AlertStream(d.alertID)
	var err error
	if d.ev.Type == events.TypeAlertRaised {
		_, err = p.l.Append(ctx, stream, ledger.NoStream, d.ev)
	} else {
		_, err = ledger.Update(ctx, p.l, stream, func(history []events.Event) ([]events.Event, error) {
			for _, h := range history {
				if h.ID == d.ev.ID {
					return nil, nil
				}
			}
			return []events.Event{d.ev}, nil
		})
	}
	if err != nil {
		return fmt.Errorf("alert %s: %w", d.alertID, err)
	}
	return nil
}
