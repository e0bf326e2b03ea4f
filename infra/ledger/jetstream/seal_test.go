package jetstream_test

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
)

func ring(t *testing.T, fill byte) *ledger.Keyring {
	t.Helper()
	r, err := ledger.NewKeyring(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// forge publishes, by raw JetStream, an event on stream that follows its
// last event with a correct plain chain (revision, prev hash and hash
// recomputed, the hash header and the concurrency header set) — what anyone
// who can publish into relais.ev.<stream> can do — and returns its position.
func forge(t *testing.T, nc *nats.Conn, stream string, seal string) uint64 {
	t.Helper()
	ctx := context.Background()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
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
	evs := []events.Event{events.MustNew(&events.ClientFlagged{ClientID: "forged", Programme: "defi-sante"}, events.Actor{ID: "admin", Role: events.RoleAdmin})}
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
	if seal != "" {
		m.Header.Set(jetstream.SealHeader, seal)
	}
	ack, err := js.PublishMsg(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

func TestVerifyWithKeysDetectsWhatDidNotComeThroughAppend(t *testing.T) {
	ours, theirs := ring(t, 7), ring(t, 8)
	tests := []struct {
		name     string
		verifyBy *ledger.Keyring
		forged   bool
		wantPos  uint64 // 0: intact
		wantText string
	}{
		{"a ledger written through Append passes with its key", ours, false, 0, ""},
		{"an event published by raw JetStream with a recomputed plain chain is named", ours, true, 4, "no seal"},
		{"a wrong key is named at the first event", theirs, false, 1, "not in the key ring"},
		{"without a key the raw event is still named: it is unsealed after sealed ones", nil, true, 4, "sealed from position 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			env := jstest.Start(t, jstest.Options{Keys: ours})
			for i := range 3 {
				if _, err := env.Store.Append(ctx, "client-a", int64(i), flag("a")); err != nil {
					t.Fatal(err)
				}
			}
			if tt.forged {
				if pos := forge(t, env.Conn, "client-a", ""); pos != 4 {
					t.Fatalf("forged at %d", pos)
				}
			}
			var opts []ledger.VerifyOption
			if tt.verifyBy != nil {
				opts = append(opts, ledger.WithKeys(tt.verifyBy))
			}
			rep, err := ledger.Verify(ctx, env.Store, nil, opts...)
			if tt.wantPos == 0 {
				if err != nil || rep.Sealed != 3 || rep.Events != 3 {
					t.Fatalf("intact ledger: %+v %v", rep, err)
				}
				return
			}
			var b *ledger.BrokenLinkError
			if !errors.As(err, &b) || b.Position != tt.wantPos || b.Stream != "client-a" || !strings.Contains(b.Reason, tt.wantText) || !errors.Is(err, ledger.ErrNotSealed) {
				t.Fatalf("want client-a position %d mentioning %q, got %v", tt.wantPos, tt.wantText, err)
			}
		})
	}
}

func TestAForgedSealWithTheRightKeyIDIsNamed(t *testing.T) {
	ctx := context.Background()
	ours := ring(t, 7)
	env := jstest.Start(t, jstest.Options{Keys: ours})
	if _, err := env.Store.Append(ctx, "client-a", ledger.NoStream, flag("a")); err != nil {
		t.Fatal(err)
	}
	forge(t, env.Conn, "client-a", ours.ID()+"."+strings.Repeat("ab", 32))
	_, err := ledger.Verify(ctx, env.Store, nil, ledger.WithKeys(ours))
	var b *ledger.BrokenLinkError
	if !errors.As(err, &b) || b.Position != 2 || !strings.Contains(b.Reason, "does not match") {
		t.Fatalf("want position 2 named, got %v", err)
	}
}

func TestAppendWithoutTheKeyOnASealedLedgerIsRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := jstest.Start(t, jstest.Options{Dir: dir, Keys: ring(t, 7)})
	if _, err := env.Store.Append(ctx, "client-a", ledger.NoStream, flag("a")); err != nil {
		t.Fatal(err)
	}
	env.Stop()

	env = jstest.Start(t, jstest.Options{Dir: dir})
	for _, stream := range []string{"client-a", "client-b"} {
		if _, err := env.Store.Append(ctx, stream, ledger.Any, flag("x")); !errors.Is(err, ledger.ErrSealKeyRequired) {
			t.Fatalf("append to %s without the key: %v", stream, err)
		}
	}
	if h, _ := env.Store.Head(ctx); h != 1 {
		t.Fatalf("head %d after refused appends, want 1", h)
	}
	env.Stop()

	// With another key, the ledger is not opened at all.
	srvEnv := jstest.Start(t, jstest.Options{Dir: dir})
	_, err := jetstream.Open(ctx, srvEnv.Conn, jetstream.Config{Keys: ring(t, 9)})
	if !errors.Is(err, ledger.ErrForeignSealKey) {
		t.Fatalf("open with another key: %v", err)
	}
}

func TestVerifyOnAMissingOrEmptyLedgerIsAnError(t *testing.T) {
	ctx := context.Background()
	t.Run("an empty ledger is ErrEmptyLedger, not ok", func(t *testing.T) {
		env := jstest.Start(t, jstest.Options{})
		if _, err := ledger.Verify(ctx, env.Store, nil); !errors.Is(err, ledger.ErrEmptyLedger) {
			t.Fatalf("verify of an empty ledger: %v", err)
		}
		if _, err := ledger.Verify(ctx, env.Store, nil, ledger.AllowEmpty()); err != nil {
			t.Fatalf("verify of an empty ledger allowed empty: %v", err)
		}
	})
	t.Run("a missing ledger stream is ErrNoLedger and Open does not create it", func(t *testing.T) {
		env := jstest.Start(t, jstest.Options{})
		js, _ := natsjs.New(env.Conn)
		if err := js.DeleteStream(ctx, jetstream.StreamName); err != nil {
			t.Fatal(err)
		}
		if _, err := jetstream.Open(ctx, env.Conn, jetstream.Config{Existing: true}); !errors.Is(err, ledger.ErrNoLedger) {
			t.Fatalf("open existing: %v", err)
		}
		if _, err := js.Stream(ctx, jetstream.StreamName); !errors.Is(err, natsjs.ErrStreamNotFound) {
			t.Fatalf("the stream was created: %v", err)
		}
	})
	t.Run("a ledger whose stream was deleted is ErrNoLedger", func(t *testing.T) {
		env := jstest.Start(t, jstest.Options{Keys: ring(t, 7)})
		if _, err := env.Store.Append(ctx, "client-a", ledger.NoStream, flag("a")); err != nil {
			t.Fatal(err)
		}
		js, _ := natsjs.New(env.Conn)
		if err := js.DeleteStream(ctx, jetstream.StreamName); err != nil {
			t.Fatal(err)
		}
		if _, err := jetstream.Open(ctx, env.Conn, jetstream.Config{Existing: true}); !errors.Is(err, ledger.ErrNoLedger) {
			t.Fatalf("open existing after delete: %v", err)
		}
	})
}
