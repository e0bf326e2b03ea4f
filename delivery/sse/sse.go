// Package sse fans events out to Server-Sent Events clients: a hub keyed by
// recipient, and a handler that replays what a reconnecting client missed
// (Last-Event-ID) before going live, without gap or duplicate at the seam.
package sse

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Event is one SSE event; ID is a decimal ledger position.
type Event struct {
	ID   uint64
	Name string
	Data []byte
}

// Subscription receives a recipient's live events. C is closed when the
// hub drops a subscriber that fell behind (it resumes with Last-Event-ID).
type Subscription struct {
	C         chan Event
	recipient string
}

// Hub routes events to the subscriptions of each recipient.
type Hub struct {
	mu     sync.RWMutex
	subs   map[string]map[*Subscription]struct{}
	closed bool
	// Buffer per subscriber (default 256).
	Buffer int
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: map[string]map[*Subscription]struct{}{}} }

// Subscribe registers a subscriber; call the returned func to leave.
func (h *Hub) Subscribe(recipient string) (*Subscription, func()) {
	n := h.Buffer
	if n == 0 {
		n = 256
	}
	s := &Subscription{C: make(chan Event, n), recipient: recipient}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		close(s.C)
		return s, func() {}
	}
	if h.subs[recipient] == nil {
		h.subs[recipient] = map[*Subscription]struct{}{}
	}
	h.subs[recipient][s] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return s, func() { once.Do(func() { h.drop(s) }) }
}

func (h *Hub) drop(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if set, ok := h.subs[s.recipient]; ok {
		if _, ok := set[s]; ok {
			delete(set, s)
			close(s.C)
		}
		if len(set) == 0 {
			delete(h.subs, s.recipient)
		}
	}
}

// Close ends every subscription (their streams return, so an HTTP
// server's Shutdown need not wait for them) and every later one at once.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for r, set := range h.subs {
		for s := range set {
			close(s.C)
		}
		delete(h.subs, r)
	}
}

// Publish sends ev to every subscriber of recipient without blocking: a
// subscriber whose buffer is full is dropped.
func (h *Hub) Publish(recipient string, ev Event) {
	var slow []*Subscription
	h.mu.RLock()
	for s := range h.subs[recipient] {
		select {
		case s.C <- ev:
		default:
			slow = append(slow, s)
		}
	}
	h.mu.RUnlock()
	for _, s := range slow {
		h.drop(s)
	}
}

// Subscribers counts the live subscriptions (all recipients).
func (h *Hub) Subscribers() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for _, set := range h.subs {
		n += len(set)
	}
	return n
}

// Backlog returns the events after position after, in order.
type Backlog func(after uint64) ([]Event, error)

// Serve streams recipient's events on w until the client leaves: it
// subscribes first, then writes the backlog after Last-Event-ID, then live
// events newer than the last one written.
func Serve(w http.ResponseWriter, r *http.Request, h *Hub, recipient string, backlog Backlog, heartbeat time.Duration) error {
	fl, ok := w.(http.Flusher)
	if !ok {
		return fmt.Errorf("sse: response writer cannot flush")
	}
	after, err := lastEventID(r)
	if err != nil {
		return err
	}
	sub, leave := h.Subscribe(recipient)
	defer leave()
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream; charset=utf-8")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("Connection", "keep-alive")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	past, err := backlog(after)
	if err != nil {
		return err
	}
	last := after
	for _, ev := range past {
		if ev.ID <= last {
			continue
		}
		if _, err := w.Write(Encode(ev)); err != nil {
			return nil
		}
		last = ev.ID
	}
	fl.Flush()
	if heartbeat <= 0 {
		heartbeat = 15 * time.Second
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case ev, ok := <-sub.C:
			if !ok {
				return nil // fell behind, or the hub closed: the client reconnects with Last-Event-ID
			}
			if ev.ID <= last {
				continue
			}
			if _, err := w.Write(Encode(ev)); err != nil {
				return nil
			}
			last = ev.ID
			fl.Flush()
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
				return nil
			}
			fl.Flush()
		}
	}
}

func lastEventID(r *http.Request) (uint64, error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("lastEventId")
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: Last-Event-ID %q is not a position", ErrBadLastEventID, v)
	}
	return n, nil
}

// Encode writes one event in SSE wire format; multi-line data becomes
// several data lines.
func Encode(ev Event) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "id: %d\n", ev.ID)
	if ev.Name != "" {
		fmt.Fprintf(&b, "event: %s\n", ev.Name)
	}
	for _, line := range bytes.Split(ev.Data, []byte("\n")) {
		b.WriteString("data: ")
		b.Write(bytes.TrimSuffix(line, []byte("\r")))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	return b.Bytes()
}
