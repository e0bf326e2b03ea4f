package natsembed

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/relais-health/relais/internal/poll"
)

func TestStartOwnsTheDataDirectory(t *testing.T) {
	tests := []struct {
		name     string
		noListen bool
	}{
		{"one-shot command", true},
		{"serve", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first, err := Start(Config{DataDir: dir, Port: -1, NoListen: tt.noListen, Command: "relais first"})
			if err != nil {
				t.Fatal(err)
			}
			owner, held, err := ReadOwner(dir)
			if err != nil || !held {
				t.Fatalf("ReadOwner while running: held %v, %v", held, err)
			}
			if owner.PID != os.Getpid() || owner.Command != "relais first" || owner.Serves == tt.noListen {
				t.Errorf("owner record %+v", owner)
			}
			if !tt.noListen && (owner.URL != first.LocalURL() || owner.ServerID == "") {
				t.Errorf("serving owner's record has URL %q id %q, want %q", owner.URL, owner.ServerID, first.LocalURL())
			}
			_, err = Start(Config{DataDir: dir, Port: -1, NoListen: true, Command: "relais second"})
			var le *LockedError
			if !errors.Is(err, ErrLocked) || !errors.As(err, &le) || le.Owner.PID != os.Getpid() {
				t.Fatalf("second Start: %v, want ErrLocked naming pid %d", err, os.Getpid())
			}
			if !strings.Contains(err.Error(), "relais first") {
				t.Errorf("error does not name the owner's command: %v", err)
			}
			first.Shutdown()
			if _, held, _ := ReadOwner(dir); held {
				t.Error("lock still held after Shutdown")
			}
			again, err := Start(Config{DataDir: dir, Port: -1, NoListen: true})
			if err != nil {
				t.Fatalf("Start after Shutdown: %v", err)
			}
			again.Shutdown()
		})
	}
}

// A one-shot owner finishes: the next Start waits for it (saying so)
// rather than failing.
func TestStartWaitsForAOneShotOwner(t *testing.T) {
	dir := t.TempDir()
	first, err := Start(Config{DataDir: dir, Port: -1, NoListen: true, Command: "relais events append"})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	type res struct {
		s   *Server
		err error
	}
	done := make(chan res, 1)
	go func() {
		s, err := Start(Config{DataDir: dir, Port: -1, NoListen: true, LockWait: time.Minute, Logger: zap.New(core)})
		done <- res{s, err}
	}()
	poll.CheckFor(t, 30*time.Second, 10*time.Millisecond, func() error {
		if logs.FilterMessageSnippet("waiting for the data directory's owner").Len() == 0 {
			return errors.New("no waiting line logged")
		}
		return nil
	})
	first.Shutdown()
	r := <-done
	if r.err != nil {
		t.Fatalf("waiting Start: %v", r.err)
	}
	r.s.Shutdown()
}

func TestStartWithTheListenPortTakenSaysAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := filepath.Join(t.TempDir(), "data")
	_, err = Start(Config{DataDir: dir, Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port})
	if !errors.Is(err, ErrListen) || !strings.Contains(err.Error(), "address already in use") || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("Start on a taken port: %v, want ErrListen naming %s: address already in use", err, ln.Addr())
	}
	if _, err := os.Stat(filepath.Join(dir, LockFile)); err == nil {
		t.Error("a failed listener check still locked the directory")
	}
}
