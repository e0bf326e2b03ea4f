// Package clientindex maps hospital patient identifiers and pseudonymous
// patient keys to Relais clients, so ED intake can tell at once whether an
// arriving patient is a client.
package clientindex

import (
	"context"
	"sync"

	"github.com/relais-health/relais/events"
)

// Index folds client.registered events.
type Index struct {
	mu     sync.RWMutex
	byID   map[events.Identifier]string
	byKey  map[string]string
	client map[string]bool
}

// New returns an empty index.
func New() *Index {
	return &Index{byID: map[events.Identifier]string{}, byKey: map[string]string{}, client: map[string]bool{}}
}

// Apply folds one event.
func (x *Index) Apply(_ context.Context, e events.Event) error {
	if e.Type != events.TypeClientRegistered {
		return nil
	}
	p, err := e.Payload()
	if err != nil {
		return err
	}
	r := p.(*events.ClientRegistered)
	x.mu.Lock()
	defer x.mu.Unlock()
	x.client[r.ClientID] = true
	for _, id := range r.Identifiers {
		x.byID[id] = r.ClientID
	}
	for _, k := range r.PatientKeys {
		x.byKey[k] = r.ClientID
	}
	return nil
}

// ClientByIdentifier returns the client registered with this identifier.
func (x *Index) ClientByIdentifier(id events.Identifier) (string, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	c, ok := x.byID[id]
	return c, ok
}

// ClientByPatientKey returns the client whose identifiers have this key.
func (x *Index) ClientByPatientKey(key string) (string, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	c, ok := x.byKey[key]
	return c, ok
}

// Exists reports whether the client is registered.
func (x *Index) Exists(clientID string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.client[clientID]
}
