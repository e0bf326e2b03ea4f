package alertsbench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
)

// ErrNoNATSServer: the cluster mode needs a nats-server binary.
var ErrNoNATSServer = errors.New("--cluster needs a nats-server binary: give --nats-server PATH or put nats-server in PATH " +
	"(from a Relais checkout: go build -o /tmp/nats-server github.com/nats-io/nats-server/v2)")

// startCluster starts three nats-server processes under dir (JetStream on
// disk, sync_interval: always, client and route ports on loopback) and
// waits until JetStream answers. It returns the client URLs (comma
// separated) and a stop that kills the processes; stop is set even with an
// error.
func startCluster(ctx context.Context, dir, bin string) (string, func(), error) {
	if bin == "" {
		p, err := exec.LookPath("nats-server")
		if err != nil {
			return "", nil, ErrNoNATSServer
		}
		bin = p
	}
	ports, err := freePorts(6)
	if err != nil {
		return "", nil, err
	}
	var routes, urls []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[3+i]))
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	var cmds []*exec.Cmd
	var done []chan struct{}
	stop := func() {
		for i, c := range cmds {
			_ = c.Process.Kill()
			<-done[i]
		}
	}
	for i := range 3 {
		nd := filepath.Join(dir, fmt.Sprintf("n%d", i+1))
		if err := os.MkdirAll(nd, 0o755); err != nil {
			return "", stop, fmt.Errorf("cluster: %w", err)
		}
		conf := fmt.Sprintf("server_name: n%d\nlisten: \"127.0.0.1:%d\"\njetstream {\n  store_dir: %q\n  sync_interval: always\n}\n"+
			"cluster {\n  name: relais-bench\n  listen: \"127.0.0.1:%d\"\n  routes: [%s]\n}\n",
			i+1, ports[i], filepath.Join(nd, "js"), ports[3+i], strings.Join(routes, ", "))
		cf := filepath.Join(nd, "nats.conf")
		if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
			return "", stop, fmt.Errorf("cluster: %w", err)
		}
		logf, err := os.Create(filepath.Join(nd, "nats.log"))
		if err != nil {
			return "", stop, fmt.Errorf("cluster: %w", err)
		}
		cmd := exec.Command(bin, "-c", cf)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			return "", stop, fmt.Errorf("cluster: start %s: %w", bin, err)
		}
		ch := make(chan struct{})
		go func() { _ = cmd.Wait(); logf.Close(); close(ch) }()
		cmds, done = append(cmds, cmd), append(done, ch)
	}
	all := strings.Join(urls, ",")
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if last = jetStreamReady(ctx, all); last == nil {
			return all, stop, nil
		}
		select {
		case <-ctx.Done():
			return "", stop, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return "", stop, fmt.Errorf("cluster: JetStream not ready after 30s (logs under %s): %w", dir, last)
}

// jetStreamReady reports whether the cluster answers JetStream requests
// (it has a meta leader).
func jetStreamReady(ctx context.Context, urls string) error {
	nc, err := nats.Connect(urls, nats.Timeout(time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := natsjs.New(nc)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err = js.AccountInfo(cctx)
	return err
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("cluster: free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
