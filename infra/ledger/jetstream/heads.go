package jetstream

import (
	"sync"

	"github.com/relais-health/relais/infra/ledger"
)

// head is what the committer knows of a ledger stream: its revision, the
// hash of its last event, and that event's JetStream sequence (for
// Nats-Expected-Last-Subject-Sequence).
type head struct {
	ledger.Head
	seq uint64
}

// headCache remembers stream heads so appends need no read round trip. It
// only ever moves a head forward (by sequence), so a slow read racing a
// commit cannot roll it back. When full it is emptied: heads are reloaded
// on demand.
type headCache struct {
	mu  sync.Mutex
	m   map[string]head
	max int
}

func newHeadCache(max int) *headCache { return &headCache{m: map[string]head{}, max: max} }

func (c *headCache) get(stream string) (head, bool) {
	c.mu.Lock()
	h, ok := c.m[stream]
	c.mu.Unlock()
	return h, ok
}

func (c *headCache) advance(stream string, h head) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[stream]; ok && old.seq >= h.seq {
		return
	}
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[stream] = h
}

func (c *headCache) forget(stream string) {
	c.mu.Lock()
	delete(c.m, stream)
	c.mu.Unlock()
}
