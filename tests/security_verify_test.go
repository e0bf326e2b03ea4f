package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream"
	"github.com/relais-health/relais/infra/natsembed"
)

// sealKeyFile writes a fresh seal key, 0600, outside any data directory.
func sealKeyFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "seal.key")
	if err := os.WriteFile(path, []byte(strings.Repeat("5a", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// appendContacts appends n contact.made events to client-c1 through the CLI.
func appendContacts(t *testing.T, data string, n int, extra ...string) {
	t.Helper()
	for i := 1; i <= n; i++ {
		payload := fmt.Sprintf(`{"client_id":"c1","staff_id":"cm-1","channel":"phone","at":"2026-11-0%dT10:00:00Z"}`, i)
		args := append([]string{"events", "append", "--data", data, "--stream", "client-c1", "--expected", fmt.Sprint(i - 1), "--type", "contact.made", "--payload", payload}, extra...)
		if out, errs, code := runRelais(t, args...); code != 0 {
			t.Fatalf("append %d: exit %d %s %s", i, code, out, errs)
		}
	}
}

// openRaw opens the data directory's store directly (no relais running),
// as someone with access to the NATS server or its files would, and runs fn
// with a raw JetStream handle on it.
func openRaw(t *testing.T, data string, fn func(js natsjs.JetStream, nc *nats.Conn)) {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Config{DataDir: data, Port: -1, NoListen: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL(), nats.InProcessServer(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	fn(js, nc)
}

// forgeRaw publishes into relais.ev.<stream> an event that follows the
// stream's last one with a correct plain chain: revision, prev_hash and
// SHA-256 recomputed, Relais-Hash and the expected-sequence header set.
func forgeRaw(t *testing.T, js natsjs.JetStream, stream string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, jetstream.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	last, err := st.GetLastMsgForSubject(ctx, jetstream.SubjectPrefix+stream)
	if err != nil {
		t.Fatal(err)
	}
	prev, err := events.Decode(last.Data)
	if err != nil {
		t.Fatal(err)
	}
	evs := []events.Event{events.MustNew(&events.ClientFlagged{ClientID: "c1", Programme: "defi-sante"}, events.Actor{ID: "admin", Role: events.RoleAdmin})}
	if err := ledger.Validate(stream, evs); err != nil {
		t.Fatal(err)
	}
	bodies, err := ledger.Seal(stream, ledger.Head{Revision: prev.Revision, Hash: last.Header.Get(jetstream.HashHeader)}, time.Now().UTC(), evs)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(jetstream.SubjectPrefix + stream)
	m.Data = bodies[0]
	m.Header.Set(jetstream.HashHeader, evs[0].Hash)
	m.Header.Set(natsjs.ExpectedLastSubjSeqHeader, strconv.FormatUint(last.Sequence, 10))
	ack, err := js.PublishMsg(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// An event published by raw stream access, with its plain SHA-256 chain
// recomputed, is named by relais verify (exit 3): it carries no seal made
// with the installation's key.
func TestVerifyNamesAnEventForgedByRawStreamAccess(t *testing.T) {
	data, key := t.TempDir(), sealKeyFile(t)
	appendContacts(t, data, 3, "--seal-key", key)
	if out, errs, code := runRelais(t, "verify", "--data", data, "--seal-key", key); code != 0 || !strings.Contains(out, "3 events sealed by Relais") {
		t.Fatalf("intact sealed ledger: exit %d: %s %s", code, out, errs)
	}

	var pos uint64
	openRaw(t, data, func(js natsjs.JetStream, _ *nats.Conn) { pos = forgeRaw(t, js, "client-c1") })
	if pos != 4 {
		t.Fatalf("forged event at position %d, want 4", pos)
	}

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"with the seal key the forged event is named", []string{"--seal-key", key}, []string{"position 4", "stream client-c1", "not sealed by Relais", "no seal"}},
		{"without the key it is named as unsealed after sealed events", nil, []string{"position 4", "stream client-c1", "sealed from position 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := runRelais(t, append([]string{"verify", "--data", data}, tc.args...)...)
			if code != 3 {
				t.Fatalf("forged ledger: exit %d, want 3\n%s%s", code, out, errs)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Fatalf("verify does not say %q:\n%s", w, out)
				}
			}
		})
	}

	t.Run("a wrong key is named at the first event", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "other.key")
		if err := os.WriteFile(other, []byte(strings.Repeat("6b", 32)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, _, code := runRelais(t, "verify", "--data", data, "--seal-key", other)
		if code != 3 || !strings.Contains(out, "position 1") || !strings.Contains(out, "not in the key ring") {
			t.Fatalf("wrong key: exit %d\n%s", code, out)
		}
	})

	t.Run("an append without the key is refused and writes nothing", func(t *testing.T) {
		_, errs, code := runRelais(t, "events", "append", "--data", data, "--stream", "client-c2", "--type", "contact.made",
			"--payload", `{"client_id":"c2","staff_id":"cm-1","channel":"phone","at":"2026-11-01T10:00:00Z"}`)
		if code == 0 || !strings.Contains(errs, "seal key") {
			t.Fatalf("append without the key: exit %d %s", code, errs)
		}
		out, _, _ := runRelais(t, "verify", "--data", data, "--seal-key", key)
		if !strings.Contains(out, "verified 3 events before it") {
			t.Fatalf("something was written:\n%s", out)
		}
	})
}

// verify where a ledger is expected but none is there is an error (exit 1
// with the reason), never "ok: 0 events".
func TestVerifyOnAMissingOrEmptyLedgerIsAnError(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, data string) string // returns the --data to verify
		want  string
	}{
		{"a data directory that does not exist", func(t *testing.T, data string) string {
			return filepath.Join(data, "nothing-here")
		}, "the directory does not exist"},
		{"a data directory with no ledger in it", func(t *testing.T, data string) string {
			return data
		}, "RELAIS_EVENTS does not exist"},
		{"a ledger whose RELAIS_EVENTS stream was deleted", func(t *testing.T, data string) string {
			appendContacts(t, data, 2)
			openRaw(t, data, func(js natsjs.JetStream, _ *nats.Conn) {
				if err := js.DeleteStream(context.Background(), jetstream.StreamName); err != nil {
					t.Fatal(err)
				}
			})
			return data
		}, "RELAIS_EVENTS does not exist"},
		{"a ledger stream with no event", func(t *testing.T, data string) string {
			openRaw(t, data, func(_ natsjs.JetStream, nc *nats.Conn) {
				st, err := jetstream.Open(context.Background(), nc, jetstream.Config{})
				if err != nil {
					t.Fatal(err)
				}
				st.Close()
			})
			return data
		}, "empty ledger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.setup(t, t.TempDir())
			out, errs, code := runRelais(t, "verify", "--data", data)
			if code != 1 || strings.HasPrefix(out, "ok") || !strings.Contains(errs, tt.want) {
				t.Fatalf("exit %d, want 1 saying %q\nstdout: %s\nstderr: %s", code, tt.want, out, errs)
			}
		})
	}
	t.Run("verify does not create the missing data directory", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "absent")
		runRelais(t, "verify", "--data", data)
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Fatalf("verify created %s: %v", data, err)
		}
	})
}

// A seal key that would prove nothing is refused at start, naming the flag.
func TestSealKeyFileMustBePrivateAndOutsideTheData(t *testing.T) {
	data := t.TempDir()
	inside := filepath.Join(data, "seal.key")
	open := filepath.Join(t.TempDir(), "seal.key")
	for path, mode := range map[string]os.FileMode{inside: 0o600, open: 0o644} {
		if err := os.WriteFile(path, []byte(strings.Repeat("5a", 32)+"\n"), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, mode) //nolint:errcheck
	}
	for _, tc := range []struct{ name, key, want string }{
		{"a key file inside --data is refused", inside, "inside the data directory"},
		{"a key file readable by others is refused", open, "group or others"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := runRelais(t, "verify", "--data", data, "--seal-key", tc.key)
			if code != 2 || !strings.Contains(errs, "--seal-key") || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d: %s", code, errs)
			}
		})
	}
}
