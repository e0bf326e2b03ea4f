package sse

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-health/relais/internal/poll"
)

// client reads an SSE stream into events.
func client(t *testing.T, ctx context.Context, url, lastID string) <-chan Event {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	out := make(chan Event, 100)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var ev Event
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if len(data) > 0 {
					ev.Data = []byte(strings.Join(data, "\n"))
					out <- ev
				}
				ev, data = Event{}, nil
			case strings.HasPrefix(line, "id: "):
				ev.ID, _ = strconv.ParseUint(line[4:], 10, 64)
			case strings.HasPrefix(line, "event: "):
				ev.Name = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = append(data, line[6:])
			}
		}
	}()
	return out
}

type store struct {
	mu  sync.Mutex
	evs []Event
}

func (s *store) add(h *Hub, ev Event) {
	s.mu.Lock()
	s.evs = append(s.evs, ev)
	s.mu.Unlock()
	h.Publish("cm-1", ev)
}

func (s *store) backlog(after uint64) ([]Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Event
	for _, e := range s.evs {
		if e.ID > after {
			out = append(out, e)
		}
	}
	return out, nil
}

func setup(t *testing.T) (*Hub, *store, *httptest.Server) {
	h := NewHub()
	st := &store{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := Serve(w, r, h, "cm-1", st.backlog, 50*time.Millisecond); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}))
	t.Cleanup(srv.Close)
	return h, st, srv
}

func next(t *testing.T, c <-chan Event) Event {
	t.Helper()
	select {
	case ev := <-c:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	return Event{}
}

func waitSubs(t *testing.T, h *Hub, n int) {
	t.Helper()
	poll.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if got := h.Subscribers(); got != n {
			return fmt.Errorf("%d subscribers, want %d", got, n)
		}
		return nil
	})
}

func TestLiveThenResumeWithoutGapOrDuplicate(t *testing.T) {
	h, st, srv := setup(t)
	st.add(h, Event{ID: 1, Name: "alert", Data: []byte("un")})
	ctx, cancel := context.WithCancel(context.Background())
	c := client(t, ctx, srv.URL, "")
	if ev := next(t, c); ev.ID != 1 || string(ev.Data) != "un" || ev.Name != "alert" {
		t.Fatalf("backlog: %+v", ev)
	}
	waitSubs(t, h, 1)
	st.add(h, Event{ID: 2, Name: "alert", Data: []byte("deux\nlignes")})
	if ev := next(t, c); ev.ID != 2 || string(ev.Data) != "deux\nlignes" {
		t.Fatalf("live: %+v", ev)
	}
	cancel()
	waitSubs(t, h, 0)
	st.add(h, Event{ID: 3, Data: []byte("trois")}) // while disconnected
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	c2 := client(t, ctx2, srv.URL, "2")
	if ev := next(t, c2); ev.ID != 3 {
		t.Fatalf("resume must start after Last-Event-ID 2: %+v", ev)
	}
	waitSubs(t, h, 1)
	st.add(h, Event{ID: 4, Data: []byte("quatre")})
	if ev := next(t, c2); ev.ID != 4 {
		t.Fatalf("after resume: %+v", ev)
	}
}

func TestSlowSubscriberIsDroppedNotBlocking(t *testing.T) {
	h := NewHub()
	h.Buffer = 2
	_, leave := h.Subscribe("x")
	defer leave()
	done := make(chan struct{})
	go func() {
		for i := range 10 {
			h.Publish("x", Event{ID: uint64(i + 1)})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("publish blocked on a slow subscriber")
	}
	if h.Subscribers() != 0 {
		t.Fatal("slow subscriber kept")
	}
}

func TestBadLastEventID(t *testing.T) {
	_, _, srv := setup(t)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Last-Event-ID", "abc")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("got %d", resp.StatusCode)
	}
}

func BenchmarkPublishTo1000Subscribers(b *testing.B) {
	h := NewHub()
	h.Buffer = 1 << 16
	var subs []*Subscription
	for i := range 1000 {
		s, leave := h.Subscribe(fmt.Sprint("r", i))
		defer leave()
		subs = append(subs, s)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := range 1000 {
			h.Publish(fmt.Sprint("r", r), Event{ID: uint64(i)})
		}
		for _, s := range subs {
			<-s.C
		}
	}
}
