package jstest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// ServerOptions configure StartServer.
type ServerOptions struct {
	// SyncAlways runs JetStream with sync_interval: always; without it the
	// server keeps nats-server's default (an fsync every 2 minutes).
	SyncAlways bool
	// Operator runs the server in operator (JWT) mode: clients
	// authenticate with .creds files only (AppCreds, SystemCreds).
	Operator bool
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
	// URL is the client URL without credentials; AppCreds and SystemCreds
	// are the .creds files of the application and system users (operator
	// mode only).
	URL         string
	AppCreds    string
	SystemCreds string
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
	auth := `accounts {
  APP: { jetstream: enabled, users: [ { user: app, password: app } ] }
  SYS: { users: [ { user: sys, password: sys } ] }
}
system_account: SYS`
	srv := &Server{URL: fmt.Sprintf("nats://127.0.0.1:%d", port)}
	clientURL := fmt.Sprintf("nats://app:app@127.0.0.1:%d", port)
	if o.Operator {
		auth = operatorAuth(t, dir, srv)
		clientURL = srv.URL
	}
	conf := fmt.Sprintf(`server_name: solo
listen: "127.0.0.1:%d"
jetstream {
  store_dir: %q%s
}
%s
`, port, filepath.Join(dir, "js"), sync, auth)
	n := &Node{Name: "solo", ClientURL: clientURL, Dir: dir,
		conf: filepath.Join(dir, "nats.conf"), log: filepath.Join(dir, "nats.log")}
	if err := os.WriteFile(n.conf, []byte(conf), 0o644); err != nil {
		t.Fatalf("server conf: %v", err)
	}
	c := &Cluster{t: t, bin: NATSServerBinary(t), Nodes: []*Node{n}}
	t.Cleanup(c.Stop)
	c.start(0)
	srv.ClientURL, srv.Node = n.ClientURL, n
	if !o.Operator {
		srv.SystemURL = fmt.Sprintf("nats://sys:sys@127.0.0.1:%d", port)
	}
	return srv
}

// operatorAuth makes an operator, a system account and an application
// account with JetStream, one user in each (their .creds files in dir, set
// on srv), and returns the server configuration that trusts them.
func operatorAuth(t testing.TB, dir string, srv *Server) string {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("operator mode: %v", err)
		}
	}
	op, err := nkeys.CreateOperator()
	must(err)
	opPub, err := op.PublicKey()
	must(err)
	account := func(name string, js bool) (nkeys.KeyPair, string, string) {
		kp, err := nkeys.CreateAccount()
		must(err)
		pub, err := kp.PublicKey()
		must(err)
		ac := jwt.NewAccountClaims(pub)
		ac.Name = name
		if js {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		tok, err := ac.Encode(op)
		must(err)
		return kp, pub, tok
	}
	sysKP, sysPub, sysJWT := account("SYS", false)
	appKP, appPub, appJWT := account("APP", true)
	creds := func(acc nkeys.KeyPair, name string) string {
		u, err := nkeys.CreateUser()
		must(err)
		pub, err := u.PublicKey()
		must(err)
		uc := jwt.NewUserClaims(pub)
		uc.Name = name
		tok, err := uc.Encode(acc)
		must(err)
		seed, err := u.Seed()
		must(err)
		b, err := jwt.FormatUserConfig(tok, seed)
		must(err)
		path := filepath.Join(dir, name+".creds")
		must(os.WriteFile(path, b, 0o600))
		return path
	}
	srv.AppCreds, srv.SystemCreds = creds(appKP, "app"), creds(sysKP, "sys")
	oc := jwt.NewOperatorClaims(opPub)
	oc.Name = "relais-test"
	oc.SystemAccount = sysPub
	opJWT, err := oc.Encode(op)
	must(err)
	return fmt.Sprintf(`operator: %s
system_account: %s
resolver: MEMORY
resolver_preload: {
  %s: %s
  %s: %s
}`, opJWT, sysPub, sysPub, sysJWT, appPub, appJWT)
}
