package jstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-health/relais/internal/poll"
)

// Cluster is a real 3-node NATS cluster: three nats-server processes
// (built once per test binary from the module cache), JetStream on disk
// under t.TempDir() with sync_interval: always, client and route ports on
// random loopback ports. Kill and Restart take one node down (SIGKILL) and
// bring it back on the same ports and files; everything stops at cleanup.
//
//	c := jstest.StartCluster(t)
//	nc, _ := nats.Connect(c.URLs())
//	st, _ := jetstream.Open(ctx, nc, jetstream.Config{Replicas: 3, SyncAlways: true})
//	c.Kill(c.LeaderOf(t, jetstream.StreamName)) // leader failover
type Cluster struct {
	t     testing.TB
	bin   string
	Nodes []*Node
}

// Node is one nats-server of a Cluster.
type Node struct {
	Name      string
	ClientURL string
	Dir       string
	conf      string
	log       string
	mu        sync.Mutex
	cmd       *exec.Cmd
	done      chan struct{}
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// NATSServerBinary builds nats-server (the version in go.mod) once per test
// binary and returns its path. It works offline from the module cache.
func NATSServerBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		version := "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, m := range bi.Deps {
				if m.Path == "github.com/nats-io/nats-server/v2" {
					version = m.Version
				}
			}
		}
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("relais-jstest-%d", os.Getuid()))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		bin := filepath.Join(dir, "nats-server-"+version)
		if _, err := os.Stat(bin); err == nil && version != "unknown" {
			buildBin = bin
			return
		}
		tmp := fmt.Sprintf("%s.%d", bin, os.Getpid())
		cmd := exec.Command("go", "build", "-o", tmp, "github.com/nats-io/nats-server/v2")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build nats-server: %w\n%s", err, out)
			return
		}
		if err := os.Rename(tmp, bin); err != nil {
			buildErr = err
			return
		}
		buildBin = bin
	})
	if buildErr != nil {
		t.Fatalf("%v", buildErr)
	}
	return buildBin
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ls := make([]net.Listener, 0, n)
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

// StartCluster starts three nodes and waits until JetStream has a meta
// leader.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := NATSServerBinary(t)
	ports := freePorts(t, 6)
	var routes []string
	for i := 0; i < 3; i++ {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[3+i]))
	}
	c := &Cluster{t: t, bin: bin}
	base := t.TempDir()
	for i := 0; i < 3; i++ {
		n := &Node{
			Name:      fmt.Sprintf("n%d", i+1),
			ClientURL: fmt.Sprintf("nats://127.0.0.1:%d", ports[i]),
			Dir:       filepath.Join(base, fmt.Sprintf("n%d", i+1)),
		}
		if err := os.MkdirAll(n.Dir, 0o755); err != nil {
			t.Fatalf("cluster dir: %v", err)
		}
		conf := fmt.Sprintf(`server_name: %s
listen: "127.0.0.1:%d"
jetstream {
  store_dir: %q
  sync_interval: always
}
cluster {
  name: relais
  listen: "127.0.0.1:%d"
  routes: [%s]
}
`, n.Name, ports[i], filepath.Join(n.Dir, "js"), ports[3+i], strings.Join(routes, ", "))
		n.conf = filepath.Join(n.Dir, "nats.conf")
		n.log = filepath.Join(n.Dir, "nats.log")
		if err := os.WriteFile(n.conf, []byte(conf), 0o644); err != nil {
			t.Fatalf("cluster conf: %v", err)
		}
		c.Nodes = append(c.Nodes, n)
	}
	t.Cleanup(c.Stop)
	for i := range c.Nodes {
		c.start(i)
	}
	c.WaitMetaLeader(t)
	c.waitPeers(t)
	return c
}

// waitPeers waits until every node is a current peer of the meta group: a
// meta leader alone is not enough to place an R3 stream ("no suitable peers
// for placement, peer offline" on a loaded machine). It places, then
// deletes, a probe R3 stream.
func (c *Cluster) waitPeers(t testing.TB) {
	t.Helper()
	nc, err := nats.Connect(c.URLs())
	if err != nil {
		t.Fatalf("connect to cluster: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	cfg := jetstream.StreamConfig{Name: "JSTEST_PROBE", Subjects: []string{"jstest.probe"}, Replicas: 3, Storage: jetstream.MemoryStorage}
	poll.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := js.CreateStream(ctx, cfg); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("place an R3 stream: %w", err)
		}
		return js.DeleteStream(ctx, cfg.Name)
	})
}

func (c *Cluster) start(i int) {
	c.t.Helper()
	n := c.Nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		c.t.Fatalf("node %s already running", n.Name)
	}
	logf, err := os.OpenFile(n.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatalf("node log: %v", err)
	}
	cmd := exec.Command(c.bin, "-c", n.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		c.t.Fatalf("start %s: %v", n.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(done) }()
	n.cmd, n.done = cmd, done
	// Wait until it accepts clients.
	poll.CheckFor(c.t, 20*time.Second, 20*time.Millisecond, func() error {
		select {
		case <-done:
			log, _ := os.ReadFile(n.log)
			return fmt.Errorf("node %s exited: %s", n.Name, tail(log))
		default:
		}
		u, err := url.Parse(n.ClientURL)
		if err != nil {
			return err
		}
		conn, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err != nil {
			return err
		}
		return conn.Close()
	})
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// URLs is every node's client URL, comma-separated (for nats.Connect and
// `relais serve --nats`).
func (c *Cluster) URLs() string {
	var u []string
	for _, n := range c.Nodes {
		u = append(u, n.ClientURL)
	}
	return strings.Join(u, ",")
}

// Connect opens a client connection to every node that retries forever
// (reconnects across kills); it closes at cleanup.
func (c *Cluster) Connect(t testing.TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	opts = append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond)}, opts...)
	nc, err := nats.Connect(c.URLs(), opts...)
	if err != nil {
		t.Fatalf("connect to cluster: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// ConnectNode connects to one node only (to talk to a follower or the
// leader on purpose).
func (c *Cluster) ConnectNode(t testing.TB, i int, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(c.Nodes[i].ClientURL, opts...)
	if err != nil {
		t.Fatalf("connect to %s: %v", c.Nodes[i].Name, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// WaitMetaLeader waits until JetStream answers account info (a meta leader
// is elected), through a running node.
func (c *Cluster) WaitMetaLeader(t testing.TB) {
	t.Helper()
	poll.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		var last error = errors.New("no node running")
		for _, n := range c.Nodes {
			if !n.Running() {
				continue
			}
			nc, err := nats.Connect(n.ClientURL, nats.Timeout(time.Second))
			if err != nil {
				last = err
				continue
			}
			js, err := jetstream.New(nc)
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_, err = js.AccountInfo(ctx)
				cancel()
			}
			nc.Close()
			if err == nil {
				return nil
			}
			last = fmt.Errorf("%s: %w", n.Name, err)
		}
		return fmt.Errorf("no JetStream meta leader yet: %w", last)
	})
}

// LeaderOf is the index of the node that leads a stream (waits for one).
func (c *Cluster) LeaderOf(t testing.TB, stream string) int {
	t.Helper()
	idx := -1
	poll.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		for i, n := range c.Nodes {
			if !n.Running() {
				continue
			}
			nc, err := nats.Connect(n.ClientURL, nats.Timeout(time.Second))
			if err != nil {
				continue
			}
			js, _ := jetstream.New(nc)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			s, err := js.Stream(ctx, stream)
			var info *jetstream.StreamInfo
			if err == nil {
				info, err = s.Info(ctx)
			}
			cancel()
			nc.Close()
			if err != nil || info.Cluster == nil || info.Cluster.Leader == "" {
				continue
			}
			for j, m := range c.Nodes {
				if m.Name == info.Cluster.Leader {
					idx = j
					return nil
				}
			}
			_ = i
		}
		return fmt.Errorf("stream %s has no leader yet", stream)
	})
	return idx
}

// Running tells whether the node's process is up.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// Kill sends SIGKILL to node i and waits for the process to end.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	n := c.Nodes[i]
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Pause stops the node's process (SIGSTOP) without ending it: its
// clients' connections stay open and nothing answers, as on a stalled
// machine, until Resume.
func (n *Node) Pause() { n.signal(syscall.SIGSTOP) }

// Resume lets the node run again after Pause (SIGCONT).
func (n *Node) Resume() { n.signal(syscall.SIGCONT) }

func (n *Node) signal(sig os.Signal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		_ = n.cmd.Process.Signal(sig)
	}
}

// Restart starts node i again on its ports and files (after Kill).
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.start(i)
}

// Stop kills every node; it runs at cleanup and is safe to call twice.
func (c *Cluster) Stop() {
	for i := range c.Nodes {
		c.Kill(i)
	}
}
