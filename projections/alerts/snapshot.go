package alerts

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/relais-health/relais/events/consent"
	"github.com/relais-health/relais/projections"
)

// snapshotVersion is the layout of the alerts snapshot; bump it when
// snapshotState changes meaning.
const snapshotVersion = 1

// The snapshot holds every piece of state the projection folds, so that a
// restart restores it and replays only the events after it instead of the
// whole ledger from position 1: what the rules read (clients with their
// consents, assignments, referrals and objectives; the directory's
// partners, webhook URLs and roles; the visit threads with the alerts
// already raised for each, which is what keeps an arrival sent twice from
// paging twice; the merged patient keys; each feed's last control id, for
// gap alerts) and the queues (every alert with its acknowledgement and
// escalation, each recipient's list and change log for SSE resumption,
// webhook URLs included). TestSnapshotHoldsEveryField keeps these types in
// step with the fold's.

type snapState struct {
	projections.Checkpoint
	Clients     map[string]snapClient `json:"clients"`
	Partners    map[string]string     `json:"partners"`
	Webhooks    map[string]string     `json:"webhooks"`
	Roles       map[string][]string   `json:"roles"`
	Threads     map[string]snapThread `json:"threads"`
	ByKey       map[string][]string   `json:"by_key"`
	Feeds       map[string]snapFeed   `json:"feeds"`
	Alerts      map[string]*Alert     `json:"alerts"`
	ByRecipient map[string][]string   `json:"by_recipient"`
	Updates     map[string][]snapUpd  `json:"updates"`
}

type snapClient struct {
	Name       string                  `json:"name,omitempty"`
	Programmes map[string]bool         `json:"programmes,omitempty"`
	Enrolled   string                  `json:"enrolled,omitempty"`
	Closed     bool                    `json:"closed,omitempty"`
	Consents   consent.Consents        `json:"consents,omitempty"`
	CM         string                  `json:"cm,omitempty"`
	Pivot      string                  `json:"pivot,omitempty"`
	Doctor     string                  `json:"doctor,omitempty"`
	Referrals  map[string]snapReferral `json:"referrals,omitempty"`
	Objectives map[string]string       `json:"objectives,omitempty"`
}

type snapReferral struct {
	Partner  string `json:"partner"`
	Category string `json:"category"`
	State    string `json:"state"`
}

type snapThread struct {
	ID         string   `json:"id"`
	Facility   string   `json:"facility"`
	Visit      string   `json:"visit"`
	ClientID   string   `json:"client_id,omitempty"`
	PatientKey string   `json:"patient_key,omitempty"`
	Reason     string   `json:"reason,omitempty"`
	Status     string   `json:"status,omitempty"`
	Alerts     []string `json:"alerts,omitempty"`
	// ArrivalReason and CorrectedAt: a snapshot written before them has
	// neither, and then no late alert of its threads is amended.
	ArrivalReason string    `json:"arrival_reason,omitempty"`
	CorrectedAt   time.Time `json:"corrected_at,omitzero"`
}

type snapFeed struct {
	LastSeen time.Time `json:"last_seen"`
	LastPos  uint64    `json:"last_pos"`
	LastCtl  uint64    `json:"last_ctl"`
}

// snapUpd is an Update with the webhook URL its JSON leaves out (the
// fan-out reads it from the change log when an SSE client or a partner
// resumes).
type snapUpd struct {
	Update
	Webhook string `json:"webhook,omitempty"`
}

// Snapshot returns the projection's whole state as JSON, with the position
// of the last event folded into it.
func (p *Projection) Snapshot() ([]byte, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	s := p.st
	out := snapState{
		Checkpoint: projections.Checkpoint{Version: snapshotVersion, Position: p.lastPos},
		Clients:    make(map[string]snapClient, len(s.clients)),
		Partners:   s.partners, Webhooks: s.webhooks, Roles: s.roles, ByKey: s.byKey,
		Threads:     make(map[string]snapThread, len(s.threads)),
		Feeds:       make(map[string]snapFeed, len(s.feeds)),
		Alerts:      p.alerts,
		ByRecipient: p.byRecipient,
		Updates:     make(map[string][]snapUpd, len(p.updates)),
	}
	for id, c := range s.clients {
		refs := make(map[string]snapReferral, len(c.referrals))
		for rid, r := range c.referrals {
			refs[rid] = snapReferral{Partner: r.partner, Category: r.category, State: r.state}
		}
		out.Clients[id] = snapClient{Name: c.name, Programmes: c.programmes, Enrolled: c.enrolled, Closed: c.closed, Consents: c.consents,
			CM: c.cm, Pivot: c.pivot, Doctor: c.doctor, Referrals: refs, Objectives: c.objectives}
	}
	for id, t := range s.threads {
		out.Threads[id] = snapThread{ID: t.id, Facility: t.facility, Visit: t.visit, ClientID: t.clientID, PatientKey: t.patientKey,
			Reason: t.reason, Status: t.status, Alerts: t.alerts, ArrivalReason: t.arrivalReason, CorrectedAt: t.correctedAt}
	}
	for id, f := range s.feeds {
		out.Feeds[id] = snapFeed{LastSeen: f.lastSeen, LastPos: f.lastPos, LastCtl: f.lastCtl}
	}
	for r, log := range p.updates {
		ul := make([]snapUpd, len(log))
		for i, u := range log {
			ul[i] = snapUpd{Update: u, Webhook: u.Webhook}
		}
		out.Updates[r] = ul
	}
	return projections.SnapshotJSON("alerts", out)
}

// Restore replaces the state with snapshot b, taken by Snapshot. A
// snapshot of another layout version is refused and the state is left as
// it was.
//
// The restored change logs are then told to the notifier in ledger order,
// as a replay from position 1 would have told them (before GoLive): the
// delivery keeps what its last run had not published or queued (the alert
// publisher after its recorded progress, webhooks the recent changes) and
// drops the rest, so a snapshot taken ahead of the delivery loses nothing
// (up to maxUpdates changes per recipient, what the logs keep).
func (p *Projection) Restore(b []byte) error {
	var in snapState
	if err := projections.RestoreJSON("alerts", b, &in, &in.Version, snapshotVersion); err != nil {
		return err
	}
	s := newState()
	for id, c := range in.Clients {
		nc := s.client(id)
		nc.name, nc.enrolled, nc.closed, nc.cm, nc.pivot, nc.doctor = c.Name, c.Enrolled, c.Closed, c.CM, c.Pivot, c.Doctor
		for k, v := range c.Programmes {
			nc.programmes[k] = v
		}
		for k, v := range c.Consents {
			nc.consents[k] = v
		}
		for rid, r := range c.Referrals {
			nc.referrals[rid] = &referral{partner: r.Partner, category: r.Category, state: r.State}
		}
		for k, v := range c.Objectives {
			nc.objectives[k] = v
		}
	}
	orEmpty(&in.Partners)
	orEmpty(&in.Webhooks)
	orEmpty(&in.Roles)
	orEmpty(&in.ByKey)
	s.partners, s.webhooks, s.roles, s.byKey = in.Partners, in.Webhooks, in.Roles, in.ByKey
	for id, t := range in.Threads {
		s.threads[id] = &thread{id: t.ID, facility: t.Facility, visit: t.Visit, clientID: t.ClientID, patientKey: t.PatientKey,
			reason: t.Reason, status: t.Status, alerts: t.Alerts, arrivalReason: t.ArrivalReason, correctedAt: t.CorrectedAt}
	}
	for id, f := range in.Feeds {
		s.feeds[id] = &feed{lastSeen: f.LastSeen, lastPos: f.LastPos, lastCtl: f.LastCtl}
	}
	orEmpty(&in.Alerts)
	orEmpty(&in.ByRecipient)
	for id, a := range in.Alerts {
		if a == nil || a.ID != id {
			return fmt.Errorf("alerts: restore: alert %q holds %v", id, a)
		}
	}
	for _, ids := range in.ByRecipient {
		for _, id := range ids {
			if in.Alerts[id] == nil {
				return fmt.Errorf("alerts: restore: a queue lists alert %q the snapshot does not hold", id)
			}
		}
	}
	updates := make(map[string][]Update, len(in.Updates))
	for r, log := range in.Updates {
		ul := make([]Update, len(log))
		for i, u := range log {
			ul[i] = u.Update
			ul[i].Webhook = u.Webhook
		}
		updates[r] = ul
	}
	p.mu.Lock()
	p.st, p.alerts, p.byRecipient, p.updates, p.lastPos = s, in.Alerts, in.ByRecipient, updates, in.Position
	p.mu.Unlock()
	p.retell(updates)
	return nil
}

// retell notifies every change of the logs, in ledger order.
func (p *Projection) retell(logs map[string][]Update) {
	if p.cfg.Notifier == nil {
		return
	}
	var all []Update
	for _, log := range logs {
		all = append(all, log...)
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.Position != b.Position {
			return a.Position < b.Position
		}
		if a.Recipient != b.Recipient {
			return a.Recipient < b.Recipient
		}
		return a.Seq < b.Seq
	})
	ctx := context.Background() // Notify does not block
	for _, u := range all {
		p.notify(ctx, u)
	}
}

func orEmpty[M ~map[K]V, K comparable, V any](m *M) {
	if *m == nil {
		*m = M{}
	}
}
