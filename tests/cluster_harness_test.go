package tests

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-health/relais/internal/poll"
)

// A 3-node nats-server cluster of real processes, built from the module
// (offline), each fsyncing every write (sync_interval: always) on its own
// data directory, on random loopback ports. Nodes can be killed with -9 and
// started again on the same directory.

var (
	natsBinOnce sync.Once
	natsBin     string
	natsBinErr  error
)

func natsServerBin(t *testing.T) string {
	t.Helper()
	natsBinOnce.Do(func() {
		natsBin = filepath.Join(filepath.Dir(relaisBin), "nats-server")
		out, err := exec.Command("go", "build", "-o", natsBin, "github.com/nats-io/nats-server/v2").CombinedOutput()
		if err != nil {
			natsBinErr = fmt.Errorf("build nats-server: %v: %s", err, out)
		}
	})
	if natsBinErr != nil {
		t.Fatal(natsBinErr)
	}
	return natsBin
}

type natsNode struct {
	Name, Dir, Conf   string
	Client, routeAddr string
	cmd               *exec.Cmd
	exited            chan struct{}
	mu                sync.Mutex
	log               strings.Builder
}

type natsCluster struct {
	t     *testing.T
	Nodes []*natsNode
}

// startCluster runs three nodes and waits until JetStream has a meta leader.
func startCluster(t *testing.T) *natsCluster {
	t.Helper()
	bin := natsServerBin(t)
	c := &natsCluster{t: t}
	for i := range 3 {
		n := &natsNode{Name: fmt.Sprintf("n%d", i+1), Dir: t.TempDir(), Client: freeAddr(t), routeAddr: freeAddr(t)}
		c.Nodes = append(c.Nodes, n)
	}
	var routes []string
	for _, n := range c.Nodes {
		routes = append(routes, "nats://"+n.routeAddr)
	}
	for _, n := range c.Nodes {
		host, port, _ := strings.Cut(n.Client, ":")
		rhost, rport, _ := strings.Cut(n.routeAddr, ":")
		conf := fmt.Sprintf(`server_name: %s
host: %s
port: %s
jetstream { store_dir: %q, sync_interval: always }
cluster { name: relais-test, host: %s, port: %s, routes: [%s] }
`, n.Name, host, port, n.Dir, rhost, rport, strings.Join(routes, ", "))
		n.Conf = filepath.Join(n.Dir, "nats.conf")
		if err := os.WriteFile(n.Conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		c.start(n, bin)
	}
	t.Cleanup(c.stop)
	c.waitHealthy()
	return c
}

func (c *natsCluster) start(n *natsNode, bin string) {
	c.t.Helper()
	n.exited = make(chan struct{})
	n.cmd = exec.Command(bin, "-c", n.Conf)
	pipe, err := n.cmd.StderrPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		c.t.Fatalf("start %s: %v", n.Name, err)
	}
	go func(ex chan struct{}, cmd *exec.Cmd) {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			n.mu.Lock()
			n.log.WriteString(sc.Text() + "\n")
			n.mu.Unlock()
		}
		cmd.Wait() //nolint:errcheck
		close(ex)
	}(n.exited, n.cmd)
}

// URL lists every node, the way a client is given the cluster.
func (c *natsCluster) URL() string {
	var us []string
	for _, n := range c.Nodes {
		us = append(us, "nats://"+n.Client)
	}
	return strings.Join(us, ",")
}

func (c *natsCluster) node(name string) *natsNode {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	c.t.Fatalf("no node %q", name)
	return nil
}

// kill9 ends a node with SIGKILL and waits for it to be gone.
func (c *natsCluster) kill9(n *natsNode) {
	n.cmd.Process.Signal(syscall.SIGKILL) //nolint:errcheck
	<-n.exited
}

// restart starts a killed node again on its directory.
func (c *natsCluster) restart(n *natsNode) {
	c.start(n, natsServerBin(c.t))
}

func (c *natsCluster) stop() {
	for _, n := range c.Nodes {
		select {
		case <-n.exited:
			continue
		default:
		}
		n.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck
		select {
		case <-n.exited:
		case <-time.After(10 * time.Second):
			n.cmd.Process.Kill() //nolint:errcheck
			<-n.exited
		}
	}
}

// conn connects to the cluster (any node).
func (c *natsCluster) conn(t *testing.T) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(c.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		t.Fatalf("connect to the cluster: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// waitHealthy waits until JetStream answers with a meta leader.
func (c *natsCluster) waitHealthy() {
	c.t.Helper()
	nc, err := nats.Connect(c.URL(), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		c.t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		c.t.Fatal(err)
	}
	poll.CheckFor(c.t, 60*time.Second, 100*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err
	})
}

// streamLeader is the node that leads a stream now.
func (c *natsCluster) streamLeader(t *testing.T, nc *nats.Conn, stream string) *natsNode {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var leader string
	poll.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return fmt.Errorf("stream %s has no leader", stream)
		}
		leader = info.Cluster.Leader
		return nil
	})
	return c.node(leader)
}
