package alerts

import (
	"time"

	"github.com/relais-health/relais/projections"
)

// view is the whole read model as one JSON value: what Digest hashes. The
// rules' state keeps unexported fields (it is read on every event); this
// spells every one of them out, so a field added there must be added here.
type view struct {
	LastPos     uint64                `json:"last_pos"`
	Clients     map[string]clientView `json:"clients"`
	Partners    map[string]string     `json:"partners"`
	Webhooks    map[string]string     `json:"webhooks"`
	Roles       map[string][]string   `json:"roles"`
	Threads     map[string]threadView `json:"threads"`
	ByKey       map[string][]string   `json:"by_key"`
	Feeds       map[string]feedView   `json:"feeds"`
	Alerts      map[string]*Alert     `json:"alerts"`
	ByRecipient map[string][]string   `json:"by_recipient"`
	Updates     map[string][]Update   `json:"updates"`
}

type clientView struct {
	Name       string                  `json:"name"`
	Programmes map[string]bool         `json:"programmes"`
	Enrolled   string                  `json:"enrolled"`
	Closed     bool                    `json:"closed"`
	Consents   map[string]string       `json:"consents"`
	CM         string                  `json:"cm"`
	Pivot      string                  `json:"pivot"`
	Doctor     string                  `json:"doctor"`
	Referrals  map[string]referralView `json:"referrals"`
	Objectives map[string]string       `json:"objectives"`
}

type referralView struct {
	Partner  string `json:"partner"`
	Category string `json:"category"`
	State    string `json:"state"`
}

type threadView struct {
	ID         string   `json:"id"`
	Facility   string   `json:"facility"`
	Visit      string   `json:"visit"`
	ClientID   string   `json:"client_id"`
	PatientKey string   `json:"patient_key"`
	Reason     string   `json:"reason"`
	Status     string   `json:"status"`
	Alerts     []string `json:"alerts"`
	// ArrivalReason and CorrectedAt (omitted when never corrected: the
	// digest of a ledger without corrections stays what it was).
	ArrivalReason string    `json:"arrival_reason,omitempty"`
	CorrectedAt   time.Time `json:"corrected_at,omitzero"`
}

type feedView struct {
	LastSeen time.Time `json:"last_seen"`
	LastPos  uint64    `json:"last_pos"`
	LastCtl  uint64    `json:"last_ctl"`
}

// Digest is the SHA-256 (hex) of the canonical JSON of the read model (map
// keys sorted, lists in fold order): a projection rebuilt from position 1
// has the digest of the live one.
func (p *Projection) Digest() string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return projections.DigestJSON(p.viewLocked())
}

// viewLocked copies the state into its JSON form. Read lock held.
func (p *Projection) viewLocked() view {
	s := p.st
	v := view{LastPos: p.lastPos, Partners: s.partners, Webhooks: s.webhooks, Roles: s.roles, ByKey: s.byKey,
		Alerts: p.alerts, ByRecipient: p.byRecipient, Updates: p.updates,
		Clients: make(map[string]clientView, len(s.clients)), Threads: make(map[string]threadView, len(s.threads)),
		Feeds: make(map[string]feedView, len(s.feeds))}
	for id, c := range s.clients {
		refs := make(map[string]referralView, len(c.referrals))
		for rid, r := range c.referrals {
			refs[rid] = referralView{Partner: r.partner, Category: r.category, State: r.state}
		}
		v.Clients[id] = clientView{Name: c.name, Programmes: c.programmes, Enrolled: c.enrolled, Closed: c.closed,
			Consents: c.consents, CM: c.cm, Pivot: c.pivot, Doctor: c.doctor, Referrals: refs, Objectives: c.objectives}
	}
	for id, t := range s.threads {
		tv := threadView{ID: t.id, Facility: t.facility, Visit: t.visit, ClientID: t.clientID,
			PatientKey: t.patientKey, Reason: t.reason, Status: t.status, Alerts: t.alerts}
		if !t.correctedAt.IsZero() {
			tv.ArrivalReason, tv.CorrectedAt = t.arrivalReason, t.correctedAt
		}
		v.Threads[id] = tv
	}
	for fac, f := range s.feeds {
		v.Feeds[fac] = feedView{LastSeen: f.lastSeen, LastPos: f.lastPos, LastCtl: f.lastCtl}
	}
	return v
}
