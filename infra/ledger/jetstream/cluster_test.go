package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/internal/poll"
)

func replicasOf(t *testing.T, js natsjs.JetStream, name string) int {
	t.Helper()
	st, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatalf("stream %s info: %v", name, err)
	}
	return info.Config.Replicas
}

// A command opened without --replicas 3 (replicas 1) on an R3 ledger leaves
// every stream and bucket at 3 and reports the difference; only
// SetReplicas (relais admin replicas) changes it.
func TestOpenNeverRescalesTheCluster(t *testing.T) {
	ctx := context.Background()
	c := jstest.StartCluster(t)
	nc := c.Connect(t)
	st, err := jetstream.Open(ctx, nc, jetstream.Config{Replicas: 3, SyncAlways: true})
	if err != nil {
		t.Fatalf("open R3: %v", err)
	}
	if _, err := st.Snapshots(ctx); err != nil {
		t.Fatalf("snapshots: %v", err)
	}
	if _, err := st.SetAside(ctx); err != nil {
		t.Fatalf("set-aside bucket: %v", err)
	}
	if _, err := st.Append(ctx, "client-1", ledger.NoStream, flag("1")); err != nil {
		t.Fatalf("append: %v", err)
	}
	if m := st.Mismatches(); len(m) != 0 {
		t.Fatalf("R3 on R3 reports mismatches: %v", m)
	}
	st.Close()

	for _, cfg := range []jetstream.Config{{}, {Existing: true}, {Replicas: 1, SyncAlways: true}} {
		st1, err := jetstream.Open(ctx, nc, cfg)
		if err != nil {
			t.Fatalf("open %+v: %v", cfg, err)
		}
		if _, err := st1.Snapshots(ctx); err != nil {
			t.Fatalf("snapshots: %v", err)
		}
		if _, err := st1.SetAside(ctx); err != nil {
			t.Fatalf("set-aside bucket: %v", err)
		}
		want := []string{"stream " + jetstream.StreamName, "bucket " + jetstream.CheckpointBucket, "object store " + jetstream.SnapshotBucket, "bucket " + jetstream.SetAsideBucket}
		reported := map[string]bool{}
		for _, m := range st1.Mismatches() {
			reported[m.What] = true
		}
		for _, w := range want {
			if !reported[w] {
				t.Errorf("open %+v: the replicas mismatch of %s is not reported (got %v)", cfg, w, st1.Mismatches())
			}
		}
		st1.Close()
		js, _ := natsjs.New(nc)
		for _, name := range []string{jetstream.StreamName, "KV_" + jetstream.CheckpointBucket, "OBJ_" + jetstream.SnapshotBucket, "KV_" + jetstream.SetAsideBucket} {
			if got := replicasOf(t, js, name); got != 3 {
				t.Errorf("after open %+v: %s has %d replicas, want 3 (rescaled by a command)", cfg, name, got)
			}
		}
	}

	js, _ := natsjs.New(nc)
	changed, err := jetstream.SetReplicas(ctx, js, 1)
	if err != nil {
		t.Fatalf("set replicas: %v", err)
	}
	if len(changed) != 4 {
		t.Fatalf("set replicas 1 changed %v, want the stream, checkpoints, snapshots and the set-aside bucket", changed)
	}
	if got := replicasOf(t, js, jetstream.StreamName); got != 1 {
		t.Fatalf("after SetReplicas(1): %d replicas", got)
	}
	if changed, err := jetstream.SetReplicas(ctx, js, 1); err != nil || len(changed) != 0 {
		t.Fatalf("set replicas again: %v %v, want no change", changed, err)
	}
}

// An append the cluster never answers (the stream leader gets it, both
// followers are down: no quorum, no ack) is ErrOutcomeUnknown, not a bare failure; once the nodes are back
// the retry with the same event lands once.
func TestAppendWithoutAnswerIsOutcomeUnknown(t *testing.T) {
	ctx := context.Background()
	c := jstest.StartCluster(t)
	boot, err := jetstream.Open(ctx, c.Connect(t), jetstream.Config{Replicas: 3, SyncAlways: true})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	boot.Close()
	leader := c.LeaderOf(t, jetstream.StreamName)
	nc := c.ConnectNode(t, leader, nats.MaxReconnects(-1))
	st, err := jetstream.Open(ctx, nc, jetstream.Config{Replicas: 3, SyncAlways: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Append(ctx, "client-1", ledger.NoStream, flag("1")); err != nil {
		t.Fatalf("append: %v", err)
	}
	followers := []int{(leader + 1) % 3, (leader + 2) % 3}
	for _, f := range followers {
		c.Kill(f)
	}
	ev := flag("1")
	_, err = st.Append(ctx, "client-1", 1, ev)
	if !errors.Is(err, ledger.ErrOutcomeUnknown) {
		t.Fatalf("append without quorum: %v, want ErrOutcomeUnknown", err)
	}
	if !errors.Is(err, ledger.ErrUnavailable) {
		t.Fatalf("ErrOutcomeUnknown must still match ErrUnavailable (retried as transient): %v", err)
	}
	for _, f := range followers {
		c.Restart(f)
	}
	var res ledger.Result
	poll.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		res, err = st.Append(ctx, "client-1", 1, ev)
		return err
	})
	evs, err := st.Read(ctx, "client-1", 1)
	if err != nil || len(evs) != 2 || res.Revision != 2 {
		t.Fatalf("after the retry: %d events, revision %d, %v; want 2", len(evs), res.Revision, err)
	}
}

// The command side reads its aggregate consistently on a cluster: right
// after an acknowledged append (through a store on the stream leader), a
// store connected to a follower reads every event, and its append with
// the revision it read is taken (no stale head, no spurious conflict).
func TestReadAfterAcknowledgedAppendIsConsistentOnACluster(t *testing.T) {
	ctx := context.Background()
	c := jstest.StartCluster(t)
	leader, open := storesOnNodes(t, c)
	w := open(leader)
	r := open((leader + 1) % 3)
	const checks = 2000
	stale, conflicts := 0, 0
	for i := range checks / 2 {
		stream := fmt.Sprintf("c-%d", i%50)
		rev := uint64(2 * (i / 50))
		if _, err := w.Append(ctx, stream, int64(rev), flag("x")); err != nil {
			t.Fatalf("append %s at %d: %v", stream, rev, err)
		}
		evs, err := r.Read(ctx, stream, 1)
		if err != nil {
			t.Fatalf("read %s: %v", stream, err)
		}
		if uint64(len(evs)) != rev+1 {
			stale++
		}
		// The follower-side store decides on what it read.
		if _, err := r.Append(ctx, stream, int64(len(evs)), flag("y")); err != nil {
			conflicts++
			t.Logf("append on the follower at %d: %v", len(evs), err)
			if _, err := r.Append(ctx, stream, int64(rev+1), flag("y")); err != nil {
				t.Fatalf("append %s at %d: %v", stream, rev+1, err)
			}
		}
	}
	if stale != 0 || conflicts != 0 {
		t.Fatalf("%d of %d reads right after an acknowledged append were stale, %d of %d follower appends refused", stale, checks/2, conflicts, checks/2)
	}
}

// leadOn moves the leadership of stream to node (leader step-downs with
// that node preferred).
func leadOn(t *testing.T, c *jstest.Cluster, stream string, node int) {
	t.Helper()
	nc := c.Connect(t)
	body := fmt.Sprintf(`{"placement":{"preferred":%q}}`, c.Nodes[node].Name)
	poll.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
		if got := c.LeaderOf(t, stream); got == node {
			return nil
		}
		if _, err := nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, []byte(body), 2*time.Second); err != nil {
			return fmt.Errorf("step down %s: %w", stream, err)
		}
		return fmt.Errorf("%s is not led by %s yet", stream, c.Nodes[node].Name)
	})
}

// storesOnNodes creates the R3 ledger on cluster c and returns the node
// leading its stream and a way to open a store connected to one node
// (closed at the test's end).
func storesOnNodes(t *testing.T, c *jstest.Cluster) (leader int, open func(node int) *jetstream.Store) {
	t.Helper()
	ctx := context.Background()
	boot, err := jetstream.Open(ctx, c.Connect(t), jetstream.Config{Replicas: 3, SyncAlways: true})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	boot.Close()
	return c.LeaderOf(t, jetstream.StreamName), func(node int) *jetstream.Store {
		st, err := jetstream.Open(ctx, c.ConnectNode(t, node), jetstream.Config{Replicas: 3, SyncAlways: true})
		if err != nil {
			t.Fatalf("open on %s: %v", c.Nodes[node].Name, err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
}
