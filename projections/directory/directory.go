// Package directory is the read model of who may use Relais: staff and
// partners with their roles, and the hashes of their bearer tokens, so the
// API can authenticate a request without touching the ledger.
package directory

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"sort"
	"sync"

	"github.com/relais-health/relais/events"
)

// Entry is one directory actor.
type Entry struct {
	ID   string `json:"id"`
	Kind string `json:"kind"` // "staff" or "partner"
	// Role is the staff role, or the partner's category (doctor, pharmacy,
	// community, rehab), which is the role partners act in.
	Role       string `json:"role"`
	Name       string `json:"name"`
	WebhookURL string `json:"webhook_url,omitempty"`
	tokenHash  string
}

// Actor is the entry as the envelope's actor.
func (e Entry) Actor() events.Actor { return events.Actor{ID: e.ID, Role: e.Role} }

// IsPartner reports whether the entry is an outside organization.
func (e Entry) IsPartner() bool { return e.Kind == "partner" }

// Directory folds staff.registered and partner.registered events.
type Directory struct {
	mu      sync.RWMutex
	byID    map[string]Entry
	byToken map[string]string
}

// New returns an empty directory.
func New() *Directory {
	return &Directory{byID: map[string]Entry{}, byToken: map[string]string{}}
}

// Apply folds one event; events of other types are ignored.
func (d *Directory) Apply(_ context.Context, e events.Event) error {
	var entry Entry
	switch e.Type {
	case events.TypeStaffRegistered:
		p, err := e.Payload()
		if err != nil {
			return err
		}
		s := p.(*events.StaffRegistered)
		entry = Entry{ID: s.StaffID, Kind: "staff", Role: s.Role, Name: s.Name, tokenHash: s.TokenHash}
	case events.TypePartnerRegistered:
		p, err := e.Payload()
		if err != nil {
			return err
		}
		s := p.(*events.PartnerRegistered)
		entry = Entry{ID: s.PartnerID, Kind: "partner", Role: s.Category, Name: s.Name, WebhookURL: s.WebhookURL, tokenHash: s.TokenHash}
	default:
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if old, ok := d.byID[entry.ID]; ok && old.tokenHash != "" {
		delete(d.byToken, old.tokenHash)
	}
	d.byID[entry.ID] = entry
	if entry.tokenHash != "" {
		d.byToken[entry.tokenHash] = entry.ID
	}
	return nil
}

// Authenticate returns the actor whose token this is.
func (d *Directory) Authenticate(token string) (Entry, bool) {
	if token == "" {
		return Entry{}, false
	}
	sum := sha256.Sum256([]byte(token))
	h := hex.EncodeToString(sum[:])
	d.mu.RLock()
	defer d.mu.RUnlock()
	id, ok := d.byToken[h]
	if !ok {
		return Entry{}, false
	}
	e := d.byID[id]
	// The map lookup already matched; compare again in constant time so
	// the check does not depend on map internals.
	if subtle.ConstantTimeCompare([]byte(e.tokenHash), []byte(h)) != 1 {
		return Entry{}, false
	}
	return e, true
}

// Get returns the entry with this id.
func (d *Directory) Get(id string) (Entry, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	e, ok := d.byID[id]
	return e, ok
}

// ByRole lists the entries with this role (or partner category), by id.
func (d *Directory) ByRole(role string) []Entry {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []Entry
	for _, e := range d.byID {
		if e.Role == role {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// All lists every entry, by id.
func (d *Directory) All() []Entry {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]Entry, 0, len(d.byID))
	for _, e := range d.byID {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
