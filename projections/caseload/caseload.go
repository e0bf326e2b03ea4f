// Package caseload builds each case manager's caseload: the active clients
// (assigned to them, case not closed), the new clients they took per
// six-month period, how long since each client was last reached, the open
// plan objectives and the alerts still waiting for them.
//
// A client is in the caseload of the staff member named by the last
// case_manager.assigned, until case.closed (a new enrolment reopens it).
// Contacts by any staff member count as contact. Alerts count while
// neither acknowledged nor withdrawn, whatever their priority, for their
// recipient and for whoever they were escalated to; alerts addressed to
// partners are not tracked.
//
// The fold depends only on events; anything relative to "now" (time since
// last contact, the current period) is computed at query time from the
// instant the caller passes, so a rebuild equals the live projection
// (compare Digest) and tests need no clock.
package caseload

import (
	"context"
	"fmt"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/projections"
)

const snapshotVersion = 1

// Config tunes the queries (never the fold).
type Config struct {
	// Location draws the six-month periods (default America/Toronto).
	Location *time.Location
}

// Projection is the caseload read model. Apply is called by one goroutine
// at a time; queries may run concurrently with it.
type Projection struct {
	cfg Config
	sh  *projections.Shell[*state]
}

type state struct {
	projections.Checkpoint
	// CaseManagers are the staff registered with that role.
	CaseManagers map[string]bool `json:"case_managers"`
	// Partners are directory partners; alerts addressed to them are not
	// counted here.
	Partners map[string]bool    `json:"partners"`
	Clients  map[string]*client `json:"clients"`
	// Taken: case manager -> client -> when first assigned to them.
	Taken map[string]map[string]time.Time `json:"taken"`
	// Pending alerts (raised, neither acknowledged nor withdrawn); Done
	// the ids of those that were, so a repeated raise stays done.
	Pending map[string]*alert `json:"pending"`
	Done    map[string]bool   `json:"done"`
}

type client struct {
	CaseManager string    `json:"case_manager,omitempty"`
	AssignedAt  time.Time `json:"assigned_at,omitzero"`
	PivotWorker string    `json:"pivot_worker,omitempty"`
	EnrolledAt  time.Time `json:"enrolled_at,omitzero"`
	Closed      bool      `json:"closed,omitempty"`
	ClosedAt    time.Time `json:"closed_at,omitzero"`
	LastContact time.Time `json:"last_contact,omitzero"`
	// Open objective ids.
	Open map[string]bool `json:"open,omitempty"`
}

type alert struct {
	Recipient   string   `json:"recipient"`
	ClientID    string   `json:"client_id,omitempty"`
	EscalatedTo []string `json:"escalated_to,omitempty"`
}

func newState() *state {
	return &state{CaseManagers: map[string]bool{}, Partners: map[string]bool{},
		Clients: map[string]*client{}, Taken: map[string]map[string]time.Time{}, Pending: map[string]*alert{},
		Done: map[string]bool{}}
}

// Reindex gives the maps a snapshot left null their empty value.
func (s *state) Reindex() error {
	fresh := newState()
	if s.CaseManagers == nil {
		s.CaseManagers = fresh.CaseManagers
	}
	if s.Partners == nil {
		s.Partners = fresh.Partners
	}
	if s.Clients == nil {
		s.Clients = fresh.Clients
	}
	if s.Taken == nil {
		s.Taken = fresh.Taken
	}
	if s.Pending == nil {
		s.Pending = fresh.Pending
	}
	if s.Done == nil {
		s.Done = fresh.Done
	}
	return nil
}

// New returns an empty projection.
func New(cfg Config) *Projection {
	if cfg.Location == nil {
		cfg.Location, _ = time.LoadLocation("America/Toronto")
		if cfg.Location == nil {
			cfg.Location = time.UTC
		}
	}
	return &Projection{cfg: cfg, sh: projections.NewShell("caseload", snapshotVersion, newState)}
}

// Apply folds one event; events at or below the position already applied
// are skipped (a redelivery never counts twice).
func (p *Projection) Apply(_ context.Context, e events.Event) error {
	if !used[e.Type] {
		p.sh.Fold(e.Position, nil)
		return nil
	}
	// Decode outside the lock: readers wait only for the fold itself.
	pl, err := e.Payload()
	if err != nil {
		return fmt.Errorf("caseload: apply %s at %d: %w", e.Type, e.Position, err)
	}
	at := e.OccurredAt.UTC()
	p.sh.Fold(e.Position, func(st *state) { st.apply(pl, at) })
	return nil
}

// Position is the global position of the last applied event.
func (p *Projection) Position() uint64 { return p.sh.Position() }

// Snapshot returns the full state as JSON.
func (p *Projection) Snapshot() ([]byte, error) { return p.sh.Snapshot() }

// Restore replaces the state with a snapshot taken by Snapshot.
func (p *Projection) Restore(b []byte) error { return p.sh.Restore(b) }

// Digest is the SHA-256 (hex) of the canonical JSON of the state.
func (p *Projection) Digest() string { return p.sh.Digest() }

// used lists the event types the caseload folds.
var used = map[string]bool{
	events.TypeStaffRegistered: true, events.TypePartnerRegistered: true, events.TypeCaseManagerAssigned: true,
	events.TypePivotWorkerAssigned: true, events.TypeClientEnrolled: true, events.TypeCaseClosed: true,
	events.TypeContactMade: true, events.TypeObjectiveAdded: true, events.TypeObjectiveMet: true,
	events.TypeObjectiveAbandoned: true, events.TypeAlertRaised: true, events.TypeAlertAcknowledged: true,
	events.TypeAlertWithdrawn: true, events.TypeAlertEscalated: true,
}

// apply folds one decoded payload that happened at at.
func (s *state) apply(pl events.Payload, at time.Time) {
	switch v := pl.(type) {
	case *events.StaffRegistered:
		if v.Role == events.RoleCaseManager {
			s.CaseManagers[v.StaffID] = true
		} else {
			delete(s.CaseManagers, v.StaffID)
		}
	case *events.PartnerRegistered:
		s.Partners[v.PartnerID] = true
	case *events.CaseManagerAssigned:
		s.assign(v.ClientID, v.StaffID, at)
	case *events.PivotWorkerAssigned:
		s.client(v.ClientID).PivotWorker = v.StaffID
	case *events.ClientEnrolled:
		c := s.client(v.ClientID)
		if c.EnrolledAt.IsZero() || v.EnrolledAt.Before(c.EnrolledAt) {
			c.EnrolledAt = v.EnrolledAt.UTC()
		}
		c.Closed, c.ClosedAt = false, time.Time{}
	case *events.CaseClosed:
		c := s.client(v.ClientID)
		c.Closed, c.ClosedAt = true, at
	case *events.ContactMade:
		if c := s.client(v.ClientID); v.At.After(c.LastContact) {
			c.LastContact = v.At.UTC()
		}
	case *events.ObjectiveAdded:
		c := s.client(v.ClientID)
		if c.Open == nil {
			c.Open = map[string]bool{}
		}
		c.Open[v.ObjectiveID] = true
	case *events.ObjectiveMet:
		delete(s.client(v.ClientID).Open, v.ObjectiveID)
	case *events.ObjectiveAbandoned:
		delete(s.client(v.ClientID).Open, v.ObjectiveID)
	default:
		s.applyAlert(pl)
	}
}

func (s *state) client(id string) *client {
	c, ok := s.Clients[id]
	if !ok {
		c = &client{}
		s.Clients[id] = c
	}
	return c
}

// assign makes staffID the client's case manager; the first assignment of
// a client to a case manager is what counts as a new client of theirs.
func (s *state) assign(clientID, staffID string, at time.Time) {
	c := s.client(clientID)
	if c.CaseManager != staffID {
		c.CaseManager, c.AssignedAt = staffID, at
	}
	taken := s.Taken[staffID]
	if taken == nil {
		taken = map[string]time.Time{}
		s.Taken[staffID] = taken
	}
	if first, ok := taken[clientID]; !ok || at.Before(first) {
		taken[clientID] = at
	}
}

func (s *state) applyAlert(pl events.Payload) {
	switch v := pl.(type) {
	case *events.AlertRaised:
		if _, dup := s.Pending[v.AlertID]; !dup && !s.Done[v.AlertID] && !s.Partners[v.RecipientID] {
			s.Pending[v.AlertID] = &alert{Recipient: v.RecipientID, ClientID: v.ClientID}
		}
	case *events.AlertEscalated:
		a, ok := s.Pending[v.AlertID]
		if !ok {
			return
		}
		for _, x := range a.EscalatedTo {
			if x == v.EscalatedTo {
				return
			}
		}
		a.EscalatedTo = append(a.EscalatedTo, v.EscalatedTo)
	case *events.AlertAcknowledged:
		s.done(v.AlertID)
	case *events.AlertWithdrawn:
		s.done(v.AlertID)
	}
}

func (s *state) done(id string) {
	if _, ok := s.Pending[id]; ok {
		delete(s.Pending, id)
		s.Done[id] = true
	}
}
