package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
)

// smallDisk mounts a tmpfs of size on a new directory: a disk that fills.
// It needs root (CI runs as root and sets RELAIS_REQUIRE_MOUNT, so there the
// test fails rather than skips when it cannot mount).
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("RELAIS_REQUIRE_MOUNT") != "" {
			t.Fatalf("cannot mount a small disk (RELAIS_REQUIRE_MOUNT is set): %v: %s", err, out)
		}
		t.Skipf("cannot mount a small disk here (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// A full disk is a clear error naming storage; every append acknowledged
// before it stays, once, with its chain intact — also after a restart.
func TestFullDiskIsAClearErrorAndLosesNothing(t *testing.T) {
	dir := smallDisk(t, "3m")
	env := jstest.Start(t, jstest.Options{Dir: dir, Strict: true})
	ctx := context.Background()
	actor := events.Actor{ID: "cm-1", Role: events.RoleCaseManager}
	contact := func(note string) events.Event {
		return events.MustNew(&events.ContactMade{ClientID: "c1", StaffID: "cm-1", Channel: "phone", At: time.Now(), Note: note}, actor)
	}
	acked := map[string]int{}
	var err error
	for i := 0; i < 100_000; i++ {
		stream := fmt.Sprintf("client-c%d", i%10)
		if _, err = env.Store.Append(ctx, stream, ledger.Any, contact(strings.Repeat("x", 400))); err != nil {
			break
		}
		acked[stream]++
	}
	if err == nil {
		t.Fatal("a 3 MB disk never filled")
	}
	if !errors.Is(err, ledger.ErrUnavailable) || !strings.Contains(err.Error(), "out of storage") {
		t.Fatalf("a full disk gave %v; want ErrUnavailable naming storage", err)
	}
	if _, err := env.Store.Append(ctx, "client-c1", ledger.Any, contact("encore")); !errors.Is(err, ledger.ErrUnavailable) {
		t.Fatalf("an append on the full disk: %v", err)
	}
	check := func(when string) {
		t.Helper()
		total := 0
		for stream, n := range acked {
			evs, err := env.Store.Read(ctx, stream, 1)
			if err != nil {
				t.Fatalf("%s: read %s: %v", when, stream, err)
			}
			if len(evs) != n {
				t.Fatalf("%s: %s holds %d events, %d were acknowledged", when, stream, len(evs), n)
			}
			total += n
		}
		rep, err := ledger.Verify(ctx, env.Store, nil)
		if err != nil {
			t.Fatalf("%s: verify: %v", when, err)
		}
		if rep.Events != uint64(total) {
			t.Fatalf("%s: verify saw %d events, %d were acknowledged", when, rep.Events, total)
		}
	}
	check("on the full disk")
	env.Stop()
	env = jstest.Start(t, jstest.Options{Dir: dir, Strict: true})
	check("after a restart")
}
