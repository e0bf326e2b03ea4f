package delivery

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/relais-health/relais/delivery/sse"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/internal/poll"
)

// listener counts the messages on relais.alerts.> by subject and Nats-Msg-Id
// (an id is unique on its recipient's subject).
type listener struct {
	mu  sync.Mutex
	got map[string]int
	all int
}

func listen(t *testing.T, nc *nats.Conn) *listener {
	t.Helper()
	l := &listener{got: map[string]int{}}
	sub, err := nc.Subscribe("relais.alerts.>", func(m *nats.Msg) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.got[m.Subject+" "+m.Header.Get(HeaderMsgID)]++
		l.all++
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l *listener) counts() (distinct, total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.got), l.all
}

// instance is one Relais instance's fanout on its own NATS connection.
type instance struct {
	f      *Fanout
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func startInstance(t *testing.T, url, name string) *instance {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	f := NewNATS(sse.NewHub(), nc, nil, nil, WithLeaseTTL(time.Second), WithInstance(name))
	f.GoLive()
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{f: f, nc: nc, cancel: cancel, done: make(chan error, 1)}
	go func() { in.done <- f.Run(ctx) }()
	t.Cleanup(in.stop)
	return in
}

func (in *instance) stop() {
	in.once.Do(func() {
		in.cancel()
		<-in.done
		in.nc.Close()
	})
}

// crash ends the instance the way kill -9 does: its connection drops and it
// never releases the lease nor records its last publishes.
func (in *instance) crash() {
	in.once.Do(func() {
		in.nc.Close()
		in.cancel()
		<-in.done
	})
}

// notifyAll gives every instance the same changes, as each instance's own
// alerts projection does when it folds the ledger.
func notifyAll(t *testing.T, ins []*instance, from, to uint64) {
	for pos := from; pos <= to; pos++ {
		for _, r := range []string{"org-1", "cm-1"} {
			u := update(pos*1000, r, "raised", "", now)
			u.Position = pos
			u.Alert.ID = fmt.Sprintf("a%d", pos)
			for _, in := range ins {
				in.f.Notify(t.Context(), u)
			}
		}
	}
}

// Two instances on one server: each change reaches relais.alerts.<recipient>
// once (the old fanout published it once per instance).
func TestTwoInstancesPublishEachChangeOnce(t *testing.T) {
	env := jstest.Start(t, jstest.Options{})
	l := listen(t, env.Conn)
	a := startInstance(t, env.Server.ClientURL(), "a")
	b := startInstance(t, env.Server.ClientURL(), "b")
	poll.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if a.f.Holding() == b.f.Holding() {
			return fmt.Errorf("holding: a %v, b %v", a.f.Holding(), b.f.Holding())
		}
		return nil
	})
	notifyAll(t, []*instance{a, b}, 1, 100)
	// A marker after the changes: once it arrived, every change before it has.
	notifyAll(t, []*instance{a, b}, 101, 101)
	poll.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if d, _ := l.counts(); d < 202 {
			return fmt.Errorf("%d of 202 changes", d)
		}
		return nil
	})
	if err := env.Conn.Flush(); err != nil {
		t.Fatal(err)
	}
	if d, n := l.counts(); n != d {
		t.Fatalf("%d messages for %d changes: %d duplicates", n, d, n-d)
	}
}

// The publisher crashes mid-stream: the other instance takes the lease over
// when it expires and publishes from the last recorded position, so no
// change is lost; the few published again carry the same Nats-Msg-Id.
func TestPublisherCrashOtherTakesOverNothingLost(t *testing.T) {
	env := jstest.Start(t, jstest.Options{})
	l := listen(t, env.Conn)
	a := startInstance(t, env.Server.ClientURL(), "a")
	poll.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if !a.f.Holding() {
			return fmt.Errorf("a does not hold the lease")
		}
		return nil
	})
	b := startInstance(t, env.Server.ClientURL(), "b")
	notifyAll(t, []*instance{a, b}, 1, 50)
	poll.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if d, _ := l.counts(); d < 100 {
			return fmt.Errorf("%d of 100 changes before the crash", d)
		}
		return nil
	})
	a.crash()
	notifyAll(t, []*instance{b}, 51, 120)
	poll.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if d, _ := l.counts(); d < 240 {
			return fmt.Errorf("%d of 240 changes after the crash (b holding: %v)", d, b.f.Holding())
		}
		return nil
	})
	d, n := l.counts()
	t.Logf("takeover: %d changes, %d messages, %d duplicates", d, n, n-d)
	if d != 240 {
		t.Fatalf("%d distinct changes, want 240", d)
	}
}
