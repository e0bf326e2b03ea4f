// Package clientfile builds the shared client file: one record per client
// across sites (ED visits and admissions, medications, service plan and
// objectives, referrals, consents, support network, assigned staff, flags,
// enrolment and closure), its chronological timeline with bilingual labels,
// and the view each caller may see of it (staff everything, a partner only
// with the client's consent and only what its category needs).
//
// The projection is a pure fold over events in global order: it reads only
// the events (their payloads and OccurredAt), never the clock, so a rebuild
// from scratch equals the live one (compare Digest).
//
// Visits are linked to a client by Visit.ClientID, or by a patient key
// already known to be the client's (registration, an earlier visit, a
// merge) when the visit's event is applied. Encounters of people who are
// not clients are not kept here: they are counted, compactly, by the
// reports projection for the archivist's list.
package clientfile

import (
	"context"
	"fmt"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/projections"
)

// snapshotVersion is the layout of Snapshot; Restore refuses others.
const snapshotVersion = 1

// Projection is the client file read model. Apply is called by one
// goroutine at a time; queries may run concurrently with it.
type Projection struct {
	sh *projections.Shell[*state]
}

// state is everything the fold keeps; Snapshot is its JSON.
type state struct {
	projections.Checkpoint
	// Files by client id.
	Files map[string]*File `json:"files"`
	// Keys maps a patient key to the client it belongs to.
	Keys map[string]string `json:"keys"`
	// Aliases maps a merged patient key to the key that survived it.
	Aliases projections.Aliases `json:"aliases"`

	// holders maps a visit (visitRef of facility and visit number) to the
	// client whose file holds it; strs shares one copy of repeated
	// strings. Both are rebuilt from Files by Reindex.
	holders map[uint64]string
	strs    map[string]string
}

func newState() *state {
	return &state{Files: map[string]*File{}, Keys: map[string]string{},
		Aliases: projections.Aliases{}, holders: map[uint64]string{}, strs: map[string]string{}}
}

// Reindex rebuilds, after a restore, the maps a snapshot left null, which
// client holds each visit and the shared copies of repeated strings.
func (s *state) Reindex() error {
	if s.Keys == nil {
		s.Keys = map[string]string{}
	}
	if s.Aliases == nil {
		s.Aliases = projections.Aliases{}
	}
	if s.Files == nil {
		s.Files = map[string]*File{}
	}
	for id, f := range s.Files {
		if f == nil {
			return fmt.Errorf("null file %s", id)
		}
		for i := range f.Visits {
			v := &f.Visits[i]
			s.internVisit(v)
			s.holders[events.VisitHash(v.Facility, v.VisitNumber)] = id
		}
		for i := range f.History {
			f.History[i].Type, f.History[i].Subject = s.in(f.History[i].Type), s.in(f.History[i].Subject)
		}
	}
	return nil
}

// New returns an empty projection.
func New() *Projection {
	return &Projection{sh: projections.NewShell("client file", snapshotVersion, newState)}
}

// Apply folds one event. Events at or below the position already applied
// are skipped, so a redelivery after a restore never counts twice; events
// of types the file does not use are ignored.
func (p *Projection) Apply(_ context.Context, e events.Event) error {
	if !used[e.Type] || p.stranger(e) {
		p.sh.Fold(e.Position, nil)
		return nil
	}
	// Decode outside the lock: readers wait only for the fold itself.
	pl, err := e.Payload()
	if err != nil {
		return fmt.Errorf("client file: apply %s at %d: %w", e.Type, e.Position, err)
	}
	at := e.OccurredAt.UTC()
	p.sh.Fold(e.Position, func(st *state) { st.apply(e.Type, pl, at) })
	return nil
}

// stranger reports, without decoding the payload, that e is an encounter
// event of someone who is not a client (most of the hospital feed): it
// names no client, its patient key is linked to none and no file holds the
// visit. It reads the top-level members of the stored canonical JSON
// (events.Canonical) without allocating; anything it cannot read that way
// is decoded.
func (p *Projection) stranger(e events.Event) bool {
	switch e.Type {
	case events.TypeEDVisitStarted, events.TypeEDVisitUpdated, events.TypeEDVisitEnded, events.TypeEDVisitCancelled,
		events.TypeHospitalAdmitted, events.TypeHospitalDischarged:
	default:
		return false
	}
	if e.SchemaVersion != events.CurrentVersion(e.Type) {
		return false
	}
	var key, facility, number []byte
	ok := events.Members(e.Data, func(k, v []byte) bool {
		var dst *[]byte
		switch string(k) {
		case "client_id":
			return false
		case "patient_key":
			dst = &key
		case "facility":
			dst = &facility
		case "visit_number":
			dst = &number
		case "identifier", "arrived_at", "reason", "reason_category", "ended_at", "disposition", "trigger",
			"admitted_at", "unit", "discharged_at":
			return true
		default:
			return false // not a member of these payloads: let the decoder judge
		}
		s, ok := events.PlainString(v)
		*dst = s
		return ok
	})
	if !ok || key == nil || facility == nil || number == nil {
		return false
	}
	stranger := false
	p.sh.View(func(st *state) {
		if !st.linked(key) {
			_, held := st.holders[events.VisitHash(facility, number)]
			stranger = !held
		}
	})
	return stranger
}

// Position is the global position of the last applied event.
func (p *Projection) Position() uint64 { return p.sh.Position() }

// File returns a copy of the client's full file.
func (p *Projection) File(clientID string) (f File, ok bool) {
	p.sh.View(func(st *state) {
		var x *File
		if x, ok = st.Files[clientID]; ok {
			f = x.clone()
		}
	})
	return f, ok
}

// FileFor returns the client's file as viewer may see it: ErrNotFound when
// there is no such client, an error wrapping ErrNoConsent or ErrForbidden
// when viewer may not see it at all.
func (p *Projection) FileFor(clientID string, viewer Viewer) (File, error) {
	f, ok := p.File(clientID)
	if !ok {
		return File{}, fmt.Errorf("%w: %s", ErrNotFound, clientID)
	}
	return View(f, viewer)
}

// Timeline returns the client's full timeline, oldest first (nil when the
// client is unknown). Use Entries on a viewed File for a caller's timeline.
func (p *Projection) Timeline(clientID string) []Entry {
	f, ok := p.File(clientID)
	if !ok {
		return nil
	}
	return Entries(f)
}

// Consented reports whether the client's consent for category is in force
// (for any partner of the category, or for one named partner).
func (p *Projection) Consented(clientID, category string) (ok bool) {
	p.sh.View(func(st *state) {
		if f, known := st.Files[clientID]; known {
			_, ok = f.Consents[category]
		}
	})
	return ok
}

// Clients lists the client ids that have a file, sorted.
func (p *Projection) Clients() (ids []string) {
	p.sh.View(func(st *state) { ids = sortedKeys(st.Files) })
	return ids
}

// Snapshot returns the full state as JSON.
func (p *Projection) Snapshot() ([]byte, error) { return p.sh.Snapshot() }

// Restore replaces the state with a snapshot taken by Snapshot.
func (p *Projection) Restore(b []byte) error { return p.sh.Restore(b) }

// Digest is the SHA-256 (hex) of the canonical JSON of the state (map keys
// sorted, lists in fold order): equal digests mean equal read models.
func (p *Projection) Digest() string { return p.sh.Digest() }
