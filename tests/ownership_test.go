package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// ackedEvent is what `relais events append` prints (and `events tail`
// prints of each event): each test appends to a stream of its own per
// command, so the stream names the acknowledged event.
type ackedEvent struct {
	Position uint64 `json:"position"`
	Stream   string `json:"stream"`
}

// runRelaisFor runs a one-shot relais command that must end within d (a
// command that hangs fails the test instead of the suite's timeout).
func runRelaisFor(t *testing.T, d time.Duration, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, relaisBin, args...)
	cmd.Dir = workDir(t, args)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("relais %s did not end within %s: %s %s", strings.Join(args, " "), d, out.String(), errb.String())
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run relais %v: %v", args, err)
	}
	return out.String(), errb.String(), 0
}

// appendOne appends one contact.made event to stream through the CLI.
func appendOne(t *testing.T, data, stream string) (ackedEvent, string, int) {
	t.Helper()
	payload := `{"client_id":"c1","staff_id":"cm-1","channel":"phone","at":"2026-11-01T10:00:00Z"}`
	out, errs, code := runRelaisFor(t, time.Minute, "events", "append", "--data", data, "--stream", stream, "--type", "contact.made", "--payload", payload)
	var a ackedEvent
	if code == 0 {
		if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &a); err != nil {
			t.Fatalf("append to %s: output %q: %v", stream, out, err)
		}
	}
	return a, errs, code
}

// tailAll returns every event of the ledger in data by global position.
func tailAll(t *testing.T, data string) map[uint64]ackedEvent {
	t.Helper()
	out, errs, code := runRelaisFor(t, time.Minute, "events", "tail", "--data", data)
	if code != 0 {
		t.Fatalf("events tail: exit %d: %s", code, errs)
	}
	got := map[uint64]ackedEvent{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var a ackedEvent
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("events tail line %q: %v", sc.Text(), err)
		}
		got[a.Position] = a
	}
	return got
}

// appendConcurrently runs n one-shot appends on data at once, each to a
// stream of its own (prefix-0 …), and checks each either is acknowledged
// at a position no other took or is refused naming the owner's pid; it
// returns the acknowledged ones by position.
func appendConcurrently(t *testing.T, data, prefix string, n int) map[uint64]ackedEvent {
	t.Helper()
	type result struct {
		a    ackedEvent
		errs string
		code int
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, errs, code := appendOne(t, data, fmt.Sprintf("%s-%d", prefix, i))
			results[i] = result{a, errs, code}
		}()
	}
	wg.Wait()
	acked := map[uint64]ackedEvent{}
	for i, r := range results {
		switch {
		case r.code == 0:
			if prev, dup := acked[r.a.Position]; dup {
				t.Errorf("position %d acknowledged twice: to %s and %s", r.a.Position, prev.Stream, r.a.Stream)
			}
			acked[r.a.Position] = r.a
		case strings.Contains(r.errs, "in use by another process") && strings.Contains(r.errs, "pid "):
			t.Logf("append %d refused clearly: %s", i, strings.TrimSpace(r.errs))
		default:
			t.Errorf("append %d: exit %d without a clear refusal: %s", i, r.code, r.errs)
		}
	}
	if len(acked) == 0 {
		t.Fatal("no append acknowledged")
	}
	return acked
}

// checkStored checks every acknowledged event is in data at its position
// and that data holds want events in all.
func checkStored(t *testing.T, data string, acked map[uint64]ackedEvent, want int) {
	t.Helper()
	stored := tailAll(t, data)
	for pos, a := range acked {
		if s, ok := stored[pos]; !ok || s.Stream != a.Stream {
			t.Errorf("acknowledged to %s at position %d: stored %+v (present %v)", a.Stream, pos, s, ok)
		}
	}
	if len(stored) != want {
		t.Errorf("%d events stored, want %d", len(stored), want)
	}
}

// Issue 11 §1: eight concurrent one-shot appends on one data directory
// with no server running each start an embedded server; without a lock
// they acknowledged duplicate positions and lost events.
func TestConcurrentCLIAppendsOnOneDataDirLoseNothing(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	seed, errs, code := appendOne(t, data, "client-seed") // the ledger exists before the race
	if code != 0 {
		t.Fatalf("seed append: exit %d: %s", code, errs)
	}
	acked := appendConcurrently(t, data, "client-c", 8)
	acked[seed.Position] = seed
	checkStored(t, data, acked, len(acked))
}

// Issue 11 §1: a second `relais serve` on a directory a serve owns fails
// at once naming the owner's pid (both used to start and answer 201).
func TestSecondServeOnOneDataDirFailsNamingTheOwner(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	first := startServe(t, data)
	_, errs, code := runRelaisFor(t, 30*time.Second, "serve", "--data", data, "--http", freeAddr(t), "--nats-listen", freeAddr(t), "--mllp", freeAddr(t))
	if code == 0 {
		t.Fatalf("second serve exited 0: %s", errs)
	}
	want := "pid " + strconv.Itoa(first.cmd.Process.Pid)
	if !strings.Contains(errs, want) || !strings.Contains(errs, "relais serve") {
		t.Errorf("second serve's error does not name the owner (%q, relais serve): %s", want, errs)
	}
	// The first still owns and serves the directory: a command goes to it.
	if _, errs, code := appendOne(t, data, "client-after"); code != 0 {
		t.Errorf("append beside the first serve: exit %d: %s", code, errs)
	}
}

// Issue 11 §1: after kill -9 the address file serve published stays
// behind; it must not be trusted. Here another NATS server (no auth,
// JetStream) has taken the port: a command that trusted the file would
// append to it and acknowledge an event that is not in --data.
func TestStaleURLAfterKill9IsNotTrusted(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	srv := startServe(t, data)
	first, errs, code := appendOne(t, data, "client-before")
	if code != 0 {
		t.Fatalf("append beside serve: exit %d: %s", code, errs)
	}
	before := len(tailAll(t, data))
	srv.kill(t)
	if _, err := os.Stat(filepath.Join(data, "relais-nats.url")); err != nil {
		t.Fatalf("serve killed -9 left no address file (the test needs one): %v", err)
	}
	host, port, _ := net.SplitHostPort(srv.NATS)
	p, _ := strconv.Atoi(port)
	foreign, err := natsserver.NewServer(&natsserver.Options{Host: host, Port: p, JetStream: true, StoreDir: t.TempDir(), NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go foreign.Start()
	t.Cleanup(foreign.Shutdown)
	if !foreign.ReadyForConnections(10 * time.Second) {
		t.Fatal("foreign nats-server not ready")
	}
	// Two commands at once (as in the issue): each used to find the file,
	// reach nothing it trusted, and start its own server on the live files.
	acked := appendConcurrently(t, data, "client-after", 2)
	checkStored(t, data, acked, before+len(acked))
	if s := tailAll(t, data)[first.Position]; s.Stream != first.Stream {
		t.Errorf("the event acknowledged before kill -9 at %d: stored %+v", first.Position, s)
	}
	if _, err := os.Stat(filepath.Join(data, "relais-nats.url")); err == nil {
		t.Error("the stale address file is still there after a command owned the directory")
	}
}

// Issue 11 §3: with the --nats-listen port taken, serve says so at once
// (it used to wait 30 s and blame a lock).
func TestServeWithNatsListenPortTakenSaysAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	data := filepath.Join(t.TempDir(), "data")
	_, errs, code := runRelaisFor(t, 60*time.Second, "serve", "--data", data, "--http", freeAddr(t), "--nats-listen", ln.Addr().String(), "--mllp", freeAddr(t))
	if code == 0 {
		t.Fatalf("serve exited 0 with its nats port taken: %s", errs)
	}
	if !strings.Contains(errs, "address already in use") || !strings.Contains(errs, ln.Addr().String()) {
		t.Errorf("serve's error does not say the address %s is in use: %s", ln.Addr(), errs)
	}
	if strings.Contains(errs, "locked") {
		t.Errorf("serve blames a lock for a taken port: %s", errs)
	}
}
