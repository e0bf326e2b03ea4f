// Package directory is the read model of who may use Relais: staff and
// partners with their roles, the hashes of their bearer tokens and when
// those expire, and partners' NATS public keys, so the API can
// authenticate a request, and the embedded NATS server admit a partner,
// without touching the ledger.
package directory

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/relais-health/relais/events"
)

// Entry kinds.
const (
	KindStaff   = "staff"
	KindPartner = "partner"
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
	// TokenExpiresAt is when the current token stops working (nil: never).
	TokenExpiresAt *time.Time `json:"token_expires_at,omitempty"`
	// NATSKey is the partner's NATS user public key ("" when it has none).
	NATSKey   string `json:"nats_key,omitempty"`
	tokenHash string
}

// Actor is the entry as the envelope's actor.
func (e Entry) Actor() events.Actor { return events.Actor{ID: e.ID, Role: e.Role} }

// IsPartner reports whether the entry is an outside organization.
func (e Entry) IsPartner() bool { return e.Kind == KindPartner }

// Directory folds the directory's events: registrations, token rotations
// and revocations, NATS keys.
type Directory struct {
	mu      sync.RWMutex
	byID    map[string]Entry
	byToken map[string]string
	// natsChanged is signalled (without blocking) when a partner's NATS
	// key is issued or revoked.
	natsChanged chan struct{}
}

// New returns an empty directory.
func New() *Directory {
	return &Directory{byID: map[string]Entry{}, byToken: map[string]string{}, natsChanged: make(chan struct{}, 1)}
}

// streamKind is the kind of entry a directory stream holds ("" when the
// event does not say, e.g. not read from a ledger).
func streamKind(stream string) string {
	switch {
	case strings.HasPrefix(stream, "staff-"):
		return KindStaff
	case strings.HasPrefix(stream, "partner-"):
		return KindPartner
	}
	return ""
}

// Apply folds one event; events of other types are ignored.
func (d *Directory) Apply(_ context.Context, e events.Event) error {
	switch e.Type {
	case events.TypeStaffRegistered, events.TypePartnerRegistered, events.TypeTokenRotated,
		events.TypeTokenRevoked, events.TypeNATSKeyIssued, events.TypeNATSKeyRevoked:
	default:
		return nil
	}
	p, err := e.Payload()
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch p := p.(type) {
	case *events.StaffRegistered:
		d.register(Entry{ID: p.StaffID, Kind: KindStaff, Role: p.Role, Name: p.Name, TokenExpiresAt: p.TokenExpiresAt, tokenHash: p.TokenHash})
	case *events.PartnerRegistered:
		d.register(Entry{ID: p.PartnerID, Kind: KindPartner, Role: p.Category, Name: p.Name, WebhookURL: p.WebhookURL,
			TokenExpiresAt: p.TokenExpiresAt, tokenHash: p.TokenHash})
	case *events.TokenRotated:
		d.update(p.ID, streamKind(e.Stream), func(en *Entry) { en.tokenHash, en.TokenExpiresAt = p.TokenHash, p.ExpiresAt })
	case *events.TokenRevoked:
		d.update(p.ID, streamKind(e.Stream), func(en *Entry) { en.tokenHash, en.TokenExpiresAt = "", nil })
	case *events.NATSKeyIssued:
		d.update(p.PartnerID, KindPartner, func(en *Entry) { en.NATSKey = p.PublicKey })
		d.signalNATS()
	case *events.NATSKeyRevoked:
		d.update(p.PartnerID, KindPartner, func(en *Entry) { en.NATSKey = "" })
		d.signalNATS()
	}
	return nil
}

// register folds a registration. An id names one actor: a registration of
// the other kind for an id already held (two registrations that raced past
// the service's check) is ignored, so neither takes the other's entry; one
// of the same kind (the bootstrap admin's, re-registered before rotations
// existed) replaces it, and its token with it.
func (d *Directory) register(entry Entry) {
	old, ok := d.byID[entry.ID]
	if ok && old.Kind != entry.Kind {
		return
	}
	if ok {
		entry.NATSKey = old.NATSKey
	}
	d.set(old, entry)
}

// update changes the entry id of kind (any kind when "") and re-indexes
// its token.
func (d *Directory) update(id, kind string, change func(*Entry)) {
	old, ok := d.byID[id]
	if !ok || (kind != "" && old.Kind != kind) {
		return
	}
	entry := old
	change(&entry)
	d.set(old, entry)
}

// set replaces old (the zero Entry when new) by entry.
func (d *Directory) set(old, entry Entry) {
	if old.tokenHash != "" && d.byToken[old.tokenHash] == old.ID {
		delete(d.byToken, old.tokenHash)
	}
	d.byID[entry.ID] = entry
	if entry.tokenHash != "" {
		d.byToken[entry.tokenHash] = entry.ID
	}
}

func (d *Directory) signalNATS() {
	select {
	case d.natsChanged <- struct{}{}:
	default:
	}
}

// Resolve returns the entry whose token this is at instant at:
// ErrUnknownToken when no entry holds it, ErrTokenExpired when its
// lifetime ended at or before at.
func (d *Directory) Resolve(token string, at time.Time) (Entry, error) {
	if token == "" {
		return Entry{}, ErrUnknownToken
	}
	sum := sha256.Sum256([]byte(token))
	h := hex.EncodeToString(sum[:])
	d.mu.RLock()
	defer d.mu.RUnlock()
	id, ok := d.byToken[h]
	if !ok {
		return Entry{}, ErrUnknownToken
	}
	e := d.byID[id]
	// The map lookup already matched; compare again in constant time so
	// the check does not depend on map internals.
	if subtle.ConstantTimeCompare([]byte(e.tokenHash), []byte(h)) != 1 {
		return Entry{}, ErrUnknownToken
	}
	if e.TokenExpiresAt != nil && !at.Before(*e.TokenExpiresAt) {
		return Entry{}, fmt.Errorf("%w at %s (ask an administrator to rotate it)", ErrTokenExpired, e.TokenExpiresAt.UTC().Format(time.RFC3339))
	}
	return e, nil
}

// Authenticate returns the actor whose token this is, now.
func (d *Directory) Authenticate(token string) (Entry, bool) {
	e, err := d.Resolve(token, time.Now())
	return e, err == nil
}

// NATSKeys lists the partners that hold a NATS key: partner id → public key.
func (d *Directory) NATSKeys() map[string]string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := map[string]string{}
	for id, e := range d.byID {
		if e.IsPartner() && e.NATSKey != "" {
			out[id] = e.NATSKey
		}
	}
	return out
}

// NATSChanged is signalled when a partner's NATS key was issued or
// revoked; read NATSKeys after it. One signal may stand for several
// changes.
func (d *Directory) NATSChanged() <-chan struct{} { return d.natsChanged }

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
	out := slicesOf(d.byID)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func slicesOf(m map[string]Entry) []Entry {
	out := make([]Entry, 0, len(m))
	for v := range maps.Values(m) {
		out = append(out, v)
	}
	return out
}
