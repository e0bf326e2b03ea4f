package jetstream

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap/zaptest"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/internal/poll"
)

// startFilesServer runs an embedded JetStream server on dir and port.
func startFilesServer(t *testing.T, dir string, port int) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{JetStream: true, StoreDir: dir, Port: port, Host: "127.0.0.1", NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	return s
}

// The NATS server under a running store comes back with a shorter ledger
// (its files restored from a backup, or an unsynced tail lost): new events
// take the lost positions again. The index used to read on from where it
// was and never see them, still saying it covered the ledger: the same id
// appended again beyond the duplicate window was stored twice. Now the
// index sees that the ledger no longer holds what it read, reads it again,
// and the second copy is refused.
func TestTheIndexReadsAgainALedgerThatCameBackShorter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	live := filepath.Join(dir, "live")
	srv := startFilesServer(t, live, port)
	nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	const window = time.Second
	st, err := Open(ctx, nc, Config{DuplicateWindow: window, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	appendNotes(t, st, 0, 5)
	srv.Shutdown()
	srv.WaitForShutdown()
	if out, err := exec.Command("cp", "-a", live, filepath.Join(dir, "backup")).CombinedOutput(); err != nil {
		t.Fatalf("backup: %v %s", err, out)
	}
	srv = startFilesServer(t, live, port)
	// Positions 6..10, lost below. appendNotes retries nothing: wait for
	// the reconnection first.
	poll.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		_, err := st.Head(ctx)
		return err
	})
	appendNotes(t, st, 5, 5)
	if err := st.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	srv = startFilesServer(t, filepath.Join(dir, "backup"), port)
	t.Cleanup(srv.Shutdown)

	fresh := make([]events.Event, 5)
	for i := range fresh {
		fresh[i] = note(100 + i)
		poll.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
			_, err := st.Append(ctx, "new-a", ledger.Any, fresh[i])
			return err
		})
	}
	// Beyond the duplicate window: only the index can tell.
	deadline := time.Now().Add(2*window + 500*time.Millisecond)
	poll.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		if time.Now().Before(deadline) {
			return errors.New("still inside the duplicate window")
		}
		return nil
	})
	var res ledger.Result
	poll.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		res, err = st.Append(ctx, "new-b", ledger.Any, fresh[0])
		if errors.Is(err, ledger.ErrUnavailable) {
			return err // the index reading the ledger again
		}
		return nil
	})
	if err == nil {
		t.Fatalf("event id %s (in new-a) stored a second time, in new-b at position %d", fresh[0].ID, res.Position)
	}
	if !errors.Is(err, ledger.ErrInvalidEvent) || !strings.Contains(err.Error(), "already recorded") {
		t.Fatalf("the second copy of %s: %v, want it refused as already recorded", fresh[0].ID, err)
	}
}
