// Package clientindex maps hospital patient identifiers and pseudonymous
// patient keys to Relais clients, so ED intake can tell at once whether an
// arriving patient is a client.
package clientindex

import (
	"context"
	"sync"

	"github.com/relais-health/relais/events"
)

// Index folds client.registered and the client merges (client.merged,
// client.absorbed). An identifier or key stays with the client first
// registered with it: a later registration cannot take it over (the
// registration service refuses such a registration; a ledger written
// before it did may hold one), only a merge passes it on, to the survivor.
type Index struct {
	mu     sync.RWMutex
	byID   map[events.Identifier]string
	byKey  map[string]string
	client map[string]bool
	// into maps a merged client to the client it was merged into.
	into map[string]string
}

// New returns an empty index.
func New() *Index {
	return &Index{byID: map[events.Identifier]string{}, byKey: map[string]string{}, client: map[string]bool{}, into: map[string]string{}}
}

// Apply folds one event.
func (x *Index) Apply(_ context.Context, e events.Event) error {
	switch e.Type {
	case events.TypeClientRegistered, events.TypeClientMerged, events.TypeClientAbsorbed:
	default:
		return nil
	}
	p, err := e.Payload()
	if err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	switch v := p.(type) {
	case *events.ClientRegistered:
		x.client[v.ClientID] = true
		x.hold(x.survivor(v.ClientID), v.Identifiers, v.PatientKeys)
	case *events.ClientMerged:
		x.merge(v.ClientID, v.Into)
	case *events.ClientAbsorbed:
		// Normally a no-op (client.merged came first); it also carries
		// the identifiers if the duplicate's history is not in this
		// ledger.
		x.hold(x.survivor(v.ClientID), v.Identifiers, v.PatientKeys)
	}
	return nil
}

// hold gives the identifiers and keys nobody holds yet to clientID.
func (x *Index) hold(clientID string, ids []events.Identifier, keys []string) {
	for _, id := range ids {
		if _, taken := x.byID[id]; !taken {
			x.byID[id] = clientID
		}
	}
	for _, k := range keys {
		if _, taken := x.byKey[k]; !taken {
			x.byKey[k] = clientID
		}
	}
}

// merge passes everything the merged client holds to the survivor (at the
// end of its own chain of merges); a merge that would close a cycle is
// ignored.
func (x *Index) merge(merged, into string) {
	survivor := x.survivor(into)
	if survivor == merged || x.into[merged] != "" {
		return
	}
	x.into[merged] = survivor
	for id, c := range x.byID {
		if c == merged {
			x.byID[id] = survivor
		}
	}
	for k, c := range x.byKey {
		if c == merged {
			x.byKey[k] = survivor
		}
	}
}

// survivor follows the merges of clientID to the client that remains.
func (x *Index) survivor(clientID string) string {
	for seen := 0; seen <= len(x.into); seen++ {
		next, ok := x.into[clientID]
		if !ok {
			return clientID
		}
		clientID = next
	}
	return clientID
}

// ClientByIdentifier returns the client registered with this identifier
// (the survivor, when that client was merged).
func (x *Index) ClientByIdentifier(id events.Identifier) (string, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	c, ok := x.byID[id]
	return c, ok
}

// ClientByPatientKey returns the client whose identifiers have this key
// (the survivor, when that client was merged).
func (x *Index) ClientByPatientKey(key string) (string, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	c, ok := x.byKey[key]
	return c, ok
}

// Exists reports whether the client is registered (a merged client still
// is: its id keeps naming its history).
func (x *Index) Exists(clientID string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.client[clientID]
}

// Survivor returns the client that clientID was merged into, following
// merges to the end, and whether clientID was merged at all.
func (x *Index) Survivor(clientID string) (string, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	s := x.survivor(clientID)
	return s, s != clientID
}
