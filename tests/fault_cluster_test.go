package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/relais-health/relais/adapters/mllp"
	"github.com/relais-health/relais/delivery"
	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/internal/poll"
)

// The fault suite on the production topology: a 3-node nats-server cluster
// (real processes, fsync always), two `relais serve --nats … --replicas 3`,
// a load generator over HTTP that records every acknowledgement, and a
// checker over the whole ledger afterwards. RELAIS_SOAK=1 runs each phase
// of load longer.

// ack is one 201 the load generator got.
type ack struct {
	Stream   string `json:"stream"`
	Revision uint64 `json:"revision"`
	Position uint64 `json:"position"`
	ID       string `json:"id"`
	at       time.Time
}

// loadGen posts contacts for demo clients to both instances, each writer on
// its own client stream, and keeps every 201.
type loadGen struct {
	mu      sync.Mutex
	acks    []ack
	failed  int
	targets []string // HTTP bases; a writer moves on to the next on error
}

func (g *loadGen) run(ctx context.Context, writers int) *sync.WaitGroup {
	var wg sync.WaitGroup
	cl := &http.Client{Timeout: 15 * time.Second}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := fmt.Sprintf("client-%02d", w+1)
			target := w % g.n()
			for ctx.Err() == nil {
				body, _ := json.Marshal(map[string]any{"staff_id": "cm-1", "channel": "phone", "at": time.Now().UTC()})
				url := g.target(target) + "/v1/clients/" + client + "/contacts"
				req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer demo-cm-1")
				req.Header.Set("Content-Type", "application/json")
				resp, err := cl.Do(req)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					g.fail()
					target = (target + 1) % g.n()
					continue
				}
				var a ack
				err = json.NewDecoder(resp.Body).Decode(&a)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated || err != nil {
					g.fail()
					continue
				}
				a.at = time.Now()
				g.mu.Lock()
				g.acks = append(g.acks, a)
				g.mu.Unlock()
			}
		}()
	}
	return &wg
}

func (g *loadGen) n() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.targets)
}

func (g *loadGen) target(i int) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.targets[i]
}

// setTarget points writers at a restarted instance.
func (g *loadGen) setTarget(i int, base string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.targets[i] = base
}

func (g *loadGen) fail() {
	g.mu.Lock()
	g.failed++
	g.mu.Unlock()
}

func (g *loadGen) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.acks)
}

// waitMore waits until n more acknowledgements came (the load goes on).
func (g *loadGen) waitMore(t *testing.T, n int) {
	t.Helper()
	from := g.count()
	poll.CheckFor(t, 90*time.Second, 20*time.Millisecond, func() error {
		if got := g.count() - from; got < n {
			return fmt.Errorf("%d of %d more acknowledgements", got, n)
		}
		return nil
	})
}

// longestGap is the longest time without an acknowledgement after t0.
func (g *loadGen) longestGap(t0 time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	var ts []time.Time
	for _, a := range g.acks {
		if a.at.After(t0) {
			ts = append(ts, a.at)
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	gap := time.Duration(0)
	prev := t0
	for _, x := range ts {
		if d := x.Sub(prev); d > gap {
			gap = d
		}
		prev = x
	}
	return gap
}

// findings is what the checker found wrong.
type findings struct {
	missing, duplicates, revisions, gaps, alertsTwice int
	msgs                                              []string
}

func (f *findings) add(kind *int, format string, a ...any) {
	*kind++
	if len(f.msgs) < 20 {
		f.msgs = append(f.msgs, fmt.Sprintf(format, a...))
	}
}

// check reads the whole ledger and compares it with the acknowledgements.
func check(t *testing.T, nc *nats.Conn, replicas int, acks []ack) findings {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := jetstream.Open(ctx, nc, jetstream.Config{Replicas: replicas})
	if err != nil {
		t.Fatalf("open the ledger on the cluster: %v", err)
	}
	defer st.Close()
	var f findings
	byID := map[string]int{}
	byPos := map[uint64]events.Event{}
	revs := map[string]uint64{}
	raised := map[string]int{}
	var last uint64
	err = st.Subscribe(ctx, 1, func(_ context.Context, e events.Event) error {
		byID[e.ID]++
		if byID[e.ID] == 2 {
			f.add(&f.duplicates, "event %s stored twice (position %d)", e.ID, e.Position)
		}
		if e.Position != last+1 {
			f.add(&f.gaps, "position %d follows %d", e.Position, last)
		}
		last = e.Position
		if e.Revision != revs[e.Stream]+1 {
			f.add(&f.revisions, "stream %s revision %d follows %d", e.Stream, e.Revision, revs[e.Stream])
		}
		revs[e.Stream] = e.Revision
		byPos[e.Position] = e
		if e.Type == events.TypeAlertRaised {
			raised[e.Stream]++
			if raised[e.Stream] == 2 {
				f.add(&f.alertsTwice, "alert %s raised twice", e.Stream)
			}
		}
		return nil
	}, ledger.StopAtHead())
	if err != nil {
		t.Fatalf("read the ledger: %v", err)
	}
	for _, a := range acks {
		e, ok := byPos[a.Position]
		if !ok || e.Stream != a.Stream || e.Revision != a.Revision {
			f.add(&f.missing, "acknowledged %s@%d (position %d) missing, found %s@%d", a.Stream, a.Revision, a.Position, e.Stream, e.Revision)
		}
	}
	return f
}

// alertWatch counts the messages on relais.alerts.> by subject and id.
type alertWatch struct {
	mu     sync.Mutex
	byKey  map[string]int
	raised map[string]bool // client ids with a raised alert
	total  int
	last   uint64 // highest ledger position of a change seen
	// again: when a change was received a second time, by key.
	again map[string]time.Time
}

// waitRecorded waits until the elected publisher has recorded (in the
// RELAIS_PUBLISHER bucket) every change seen so far as published, so that a
// kill -9 after it must not publish any of them again.
func (w *alertWatch) waitRecorded(t *testing.T, nc *nats.Conn) {
	t.Helper()
	w.mu.Lock()
	want := w.last
	w.mu.Unlock()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	poll.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		kv, err := js.KeyValue(ctx, delivery.ProgressBucket)
		if err != nil {
			return err
		}
		e, err := kv.Get(ctx, "alerts-published")
		if err != nil {
			return err
		}
		if got, _ := strconv.ParseUint(string(e.Value()), 10, 64); got < want {
			return fmt.Errorf("publisher recorded position %d, changes seen up to %d", got, want)
		}
		return nil
	})
}

func watchAlerts(t *testing.T, nc *nats.Conn) *alertWatch {
	t.Helper()
	w := &alertWatch{byKey: map[string]int{}, raised: map[string]bool{}, again: map[string]time.Time{}}
	sub, err := nc.Subscribe("relais.alerts.>", func(m *nats.Msg) {
		var u struct {
			Seq      uint64 `json:"seq"`
			Position uint64 `json:"position"`
			Change   string `json:"change"`
			Alert    struct {
				ID       string `json:"id"`
				ClientID string `json:"client_id"`
			} `json:"alert"`
		}
		_ = json.Unmarshal(m.Data, &u)
		w.mu.Lock()
		defer w.mu.Unlock()
		key := fmt.Sprintf("%s %s-%d", m.Subject, u.Alert.ID, u.Seq)
		w.byKey[key]++
		if w.byKey[key] == 2 {
			w.again[key] = time.Now()
		}
		w.total++
		w.last = max(w.last, u.Position)
		if u.Change == "raised" {
			w.raised[u.Alert.ClientID] = true
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *alertWatch) counts() (distinct, total int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.byKey), w.total
}

// twice names the changes received more than once (subject, alert, seq).
func (w *alertWatch) twice() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for k, n := range w.byKey {
		if n > 1 {
			out = append(out, fmt.Sprintf("%s ×%d", k, n))
		}
	}
	sort.Strings(out)
	return out
}

func (w *alertWatch) hasRaised(client string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.raised[client]
}

// arrive sends one ED registration of a flagged demo client, the way a
// hospital engine does (the same message again on a new connection until it
// gets an AA: the control id makes it idempotent), and waits for its alert on
// the subjects.
func arrive(t *testing.T, srv *server, w *alertWatch, n int) {
	t.Helper()
	ctl := fmt.Sprintf("%d%d", time.Now().UnixNano()%1e6, n)
	msg := adt("A04", ctl, fmt.Sprintf("DEMO%08d", n), "V"+ctl, "HSTA")
	poll.CheckFor(t, 90*time.Second, 200*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := mllp.Dial(ctx, srv.MLLP, nil)
		if err != nil {
			return err
		}
		defer c.Close()
		reply, err := c.Send(ctx, msg)
		if err != nil {
			return err
		}
		if code := ackCode(t, reply); code != "AA" {
			return fmt.Errorf("A04 for demo client %d: %s", n, code)
		}
		return nil
	})
	client := fmt.Sprintf("client-%02d", n)
	poll.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		if !w.hasRaised(client) {
			return fmt.Errorf("no alert raised for %s on relais.alerts.>", client)
		}
		return nil
	})
}

func soak() bool { return os.Getenv("RELAIS_SOAK") == "1" }

// Two instances on a 3-node cluster under HTTP load; kill -9 of a Relais
// instance, of a follower node and of the stream leader. Nothing
// acknowledged is lost or duplicated, every stream's revisions follow
// each other, and every alert is raised once, published once per change
// (the publisher instance killed too).
func TestFaultClusterTwoInstancesUnderLoad(t *testing.T) {
	cl := jstest.StartCluster(t)
	nc := cl.Connect(t)
	watch := watchAlerts(t, nc)
	r1 := startServe(t, t.TempDir(), "--nats", cl.URLs(), "--replicas", "3", "--seal-key", "demo", "--demo", "--demo-every", "0")
	r2 := startServe(t, t.TempDir(), "--nats", cl.URLs(), "--replicas", "3", "--seal-key", "demo")
	phase := 150
	if soak() {
		phase = 3000
	}

	// Alerts first, with both instances running: each change once.
	arrive(t, r1, watch, 1)
	arrive(t, r2, watch, 2)

	g := &loadGen{targets: []string{"http://" + r1.HTTP, "http://" + r2.HTTP}}
	ctx, cancel := context.WithCancel(context.Background())
	wg := g.run(ctx, 6)
	defer func() { cancel(); wg.Wait() }()
	g.waitMore(t, phase)

	// kill -9 of a Relais instance during load; the writers move to the other.
	watch.waitRecorded(t, nc)
	r2.kill(t)
	g.waitMore(t, phase)
	r2 = startServe(t, r2.Data, "--nats", cl.URLs(), "--replicas", "3", "--seal-key", "demo")
	g.setTarget(1, "http://"+r2.HTTP) // a writer that fails over reads it again
	arrive(t, r2, watch, 3)

	// kill -9 of a follower node of the ledger stream. Each kill below
	// comes after the publisher recorded its progress too: a NATS node's
	// loss can outlast the publisher lease (TTL 6 s) and move it, and a
	// takeover re-sends what was published after the last record (at least
	// once, same Nats-Msg-Id: docs/ARCHITECTURE.md).
	watch.waitRecorded(t, nc)
	follower := (cl.LeaderOf(t, jetstream.StreamName) + 1) % len(cl.Nodes)
	cl.Kill(follower)
	g.waitMore(t, phase)
	cl.Restart(follower)

	// kill -9 of the stream leader: the acknowledgements stop for the
	// election, then go on.
	watch.waitRecorded(t, nc)
	leader := cl.LeaderOf(t, jetstream.StreamName)
	t0 := time.Now()
	cl.Kill(leader)
	g.waitMore(t, phase)
	downtime := g.longestGap(t0)
	cl.Restart(leader)
	arrive(t, r1, watch, 4)
	leaderBack := time.Now()

	// Kill -9 of both instances one after the other: whichever held the
	// publisher lease, the other (or the restarted one) takes over.
	watch.waitRecorded(t, nc)
	r1.kill(t)
	arrive(t, r2, watch, 5)
	cancel()
	wg.Wait()

	f := check(t, nc, 3, g.acks)
	distinct, total := watch.counts()
	t.Logf("acknowledged %d (failed or refused %d); leader loss: longest gap without an acknowledgement %v; alert messages %d for %d changes",
		len(g.acks), g.failed, downtime.Round(time.Millisecond), total, distinct)
	for _, m := range f.msgs {
		t.Error(m)
	}
	if f.missing+f.duplicates+f.revisions+f.gaps+f.alertsTwice != 0 {
		t.Fatalf("missing %d, duplicated %d, revision violations %d, gaps %d, alerts raised twice %d",
			f.missing, f.duplicates, f.revisions, f.gaps, f.alertsTwice)
	}
	// Each change once on its subject: every kill came after the publisher
	// had recorded what it published (a kill -9 before that record may
	// publish the last ~1.5 s again, with the same Nats-Msg-Id: see
	// delivery/publisher_test.go).
	//
	// The one exception is documented (docs/ARCHITECTURE.md): the stream
	// leader's loss can outlast the publisher lease (TTL 6 s) while a
	// change is published but its record cannot be written; the lease then
	// moves and the new holder re-sends it, with the same Nats-Msg-Id. A
	// change received again from the leader's kill to 10 s after it was
	// back is that case, logged; any other repeat fails.
	if dup := total - distinct; dup != 0 {
		watch.mu.Lock()
		var outside []string
		for k, at := range watch.again {
			if at.Before(t0) || at.After(leaderBack.Add(10*time.Second)) {
				outside = append(outside, k)
			}
		}
		watch.mu.Unlock()
		if len(outside) > 0 {
			t.Fatalf("%d alert messages for %d changes: %d published twice: %v; outside the stream leader's loss: %v", total, distinct, dup, watch.twice(), outside)
		}
		t.Logf("%d change(s) re-sent after the publisher lease moved during the stream leader's loss (same Nats-Msg-Id): %v", dup, watch.twice())
	}
}
