package events

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"
)

// Payload is the typed body of an event. EventType returns the stable type
// name (never derived from the Go type name); Validate names the first field
// that is wrong.
type Payload interface {
	EventType() string
	Validate() error
}

// Upcaster turns the JSON of schema version v into version v+1.
type Upcaster func(json.RawMessage) (json.RawMessage, error)

type descriptor struct {
	// name is the type's name as registered: a decoded event's Type is
	// set to it, so a kept Type holds no stored bytes alive.
	name      string
	version   int
	new       func() Payload
	upcasters map[int]Upcaster
}

var (
	catalogMu sync.RWMutex
	catalog   = map[string]*descriptor{}
)

// Register adds a payload type to the catalog at its current schema version.
// It panics on a duplicate, which is a programming error found at start-up.
func Register(version int, newPayload func() Payload) {
	t := newPayload().EventType()
	catalogMu.Lock()
	defer catalogMu.Unlock()
	if _, dup := catalog[t]; dup {
		panic(fmt.Sprintf("events: type %q registered twice", t))
	}
	catalog[t] = &descriptor{name: t, version: version, new: newPayload, upcasters: map[int]Upcaster{}}
}

// RegisterUpcaster installs the function that lifts type t from schema
// version `from` to from+1.
func RegisterUpcaster(t string, from int, up Upcaster) {
	catalogMu.Lock()
	defer catalogMu.Unlock()
	d, ok := catalog[t]
	if !ok {
		panic(fmt.Sprintf("events: upcaster for unregistered type %q", t))
	}
	d.upcasters[from] = up
}

func lookup(t string) (*descriptor, bool) {
	catalogMu.RLock()
	defer catalogMu.RUnlock()
	d, ok := catalog[t]
	return d, ok
}

// CurrentVersion returns the schema version new events of type t are written
// with, or 0 if t is unknown.
func CurrentVersion(t string) int {
	if d, ok := lookup(t); ok {
		return d.version
	}
	return 0
}

// Types lists every registered event type, sorted.
func Types() []string {
	catalogMu.RLock()
	defer catalogMu.RUnlock()
	out := make([]string, 0, len(catalog))
	for t := range catalog {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// NewPayload returns an empty payload of type t, for decoding outside input.
func NewPayload(t string) (Payload, error) {
	d, ok := lookup(t)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownType, t)
	}
	return d.new(), nil
}
