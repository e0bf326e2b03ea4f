package tests

import (
	"context"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// takenAddr holds a loopback port for the test's life and returns it.
func takenAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// A listener that cannot be opened fails serve at once, naming the flag and
// the address, before the administrator token ("shown once") is made and
// printed: the next start still shows it.
func TestStartup_ListenerTakenFailsBeforeTheAdminToken(t *testing.T) {
	for _, flag := range []string{"--http", "--mllp", "--nats-listen"} {
		t.Run(flag, func(t *testing.T) {
			data := t.TempDir()
			addrs := map[string]string{"--http": freeAddr(t), "--mllp": freeAddr(t), "--nats-listen": freeAddr(t)}
			addrs[flag] = takenAddr(t)
			args := []string{"serve", "--data", data}
			for f, a := range addrs {
				args = append(args, f, a)
			}
			_, stderr, code := runRelais(t, args...)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr)
			}
			if want := flag + " " + addrs[flag]; !strings.Contains(stderr, want) || !strings.Contains(stderr, "address already in use") {
				t.Errorf("stderr does not name %q and \"address already in use\":\n%s", want, stderr)
			}
			if strings.Contains(stderr, "shown once") {
				t.Fatalf("the administrator token was printed by a start that failed:\n%s", stderr)
			}
			srv := startServe(t, data)
			if !strings.Contains(srv.logs(), "shown once") {
				t.Errorf("the next start did not show the administrator token:\n%s", srv.logs())
			}
		})
	}
}

// SIGINT or SIGTERM with an alert stream open: the stream is closed first,
// then the HTTP server, and serve exits 0.
func TestStartup_SignalWithAnSSEClientExitsZero(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			srv := startServe(t, t.TempDir(), "--demo", "--demo-every", "0")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stream := openSSE(t, ctx, "http://"+srv.HTTP, "demo-cm-1", "")
			if err := srv.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-srv.exited:
			case <-time.After(20 * time.Second):
				t.Fatalf("serve still running 20s after %v:\n%s", sig, srv.logs())
			}
			if code := srv.cmd.ProcessState.ExitCode(); code != 0 {
				t.Fatalf("exit %d after %v, want 0:\n%s", code, sig, srv.logs())
			}
			if logs := srv.logs(); strings.Contains(logs, "deadline exceeded") {
				t.Errorf("shutdown waited out its deadline:\n%s", logs)
			}
			for range stream { //nolint:revive // drain: the server closed the stream
			}
		})
	}
}

// Usage errors exit 2 (README, "Exit codes"); they change nothing.
func TestStartup_UsageErrorsExit2(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"serve", "--no-such-flag"}, "unknown flag"},
		{"bad flag value", []string{"serve", "--http-max-conns", "many"}, "--http-max-conns"},
		{"bad duration", []string{"serve", "--start-timeout", "soon"}, "--start-timeout"},
		{"non-positive start timeout", []string{"serve", "--start-timeout", "0s"}, "--start-timeout"},
		{"flag without its value", []string{"verify", "--data"}, "needs an argument"},
		{"extra argument", []string{"serve", "extra"}, "extra"},
		{"unknown command", []string{"no-such-command"}, "unknown command"},
		{"missing required flag", []string{"events", "append"}, "required flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(tc.args, "--data", t.TempDir()+"/d") //nolint:gocritic
			if tc.name == "flag without its value" {
				args = tc.args
			}
			_, stderr, code := runRelais(t, args...)
			if code != 2 {
				t.Fatalf("relais %v: exit %d, want 2; stderr:\n%s", tc.args, code, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr does not say %q:\n%s", tc.want, stderr)
			}
		})
	}
}
