package jstest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// ServerOptions configure StartServer.
type ServerOptions struct {
	// SyncAlways runs JetStream with sync_interval: always; without it the
	// server keeps nats-server's default (an fsync every 2 minutes).
	SyncAlways bool
}

// Server is one standalone nats-server process (the binary of
// NATSServerBinary) with JetStream on disk under t.TempDir(): an
// application account with JetStream (ClientURL carries its user) and the
// system account (SystemURL), which alone may read the server's VARZ. It
// stops at cleanup.
type Server struct {
	ClientURL string
	SystemURL string
	Node      *Node
}

// StartServer starts one server and waits until it accepts clients.
func StartServer(t testing.TB, o ServerOptions) *Server {
	t.Helper()
	port := freePorts(t, 1)[0]
	dir := t.TempDir()
	sync := ""
	if o.SyncAlways {
		sync = "\n  sync_interval: always"
	}
	conf := fmt.Sprintf(`server_name: solo
listen: "127.0.0.1:%d"
jetstream {
  store_dir: %q%s
}
accounts {
  APP: { jetstream: enabled, users: [ { user: app, password: app } ] }
  SYS: { users: [ { user: sys, password: sys } ] }
}
system_account: SYS
`, port, filepath.Join(dir, "js"), sync)
	n := &Node{Name: "solo", ClientURL: fmt.Sprintf("nats://app:app@127.0.0.1:%d", port), Dir: dir,
		conf: filepath.Join(dir, "nats.conf"), log: filepath.Join(dir, "nats.log")}
	if err := os.WriteFile(n.conf, []byte(conf), 0o644); err != nil {
		t.Fatalf("server conf: %v", err)
	}
	c := &Cluster{t: t, bin: NATSServerBinary(t), Nodes: []*Node{n}}
	t.Cleanup(c.Stop)
	c.start(0)
	return &Server{ClientURL: n.ClientURL, SystemURL: fmt.Sprintf("nats://sys:sys@127.0.0.1:%d", port), Node: n}
}
