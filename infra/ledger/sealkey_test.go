package ledger_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

func keyring(t *testing.T, fill byte) *ledger.Keyring {
	t.Helper()
	r, err := ledger.NewKeyring(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestKeyringTellsItsOwnSealsFromOthers(t *testing.T) {
	const hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	ours, theirs := keyring(t, 1), keyring(t, 2)
	rotated, err := ledger.NewKeyring(bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	good := ours.Seal(hash)
	tests := []struct {
		name string
		ring *ledger.Keyring
		seal string
		want string // "" for valid
	}{
		{"a seal made with the key is valid", ours, good, ""},
		{"after a rotation the old key's seals are still valid", rotated, good, ""},
		{"no seal is not sealed", ours, "", "no seal"},
		{"a seal of another hash does not match", ours, ours.Seal(strings.Repeat("f", 64)), "does not match"},
		{"a seal made with another key names that key", ours, theirs.Seal(hash), "not in the key ring"},
		{"a seal with this key's id but a made-up MAC does not match", ours, ours.ID() + "." + strings.Repeat("00", 32), "does not match"},
		{"a malformed seal is not sealed", ours, "garbage", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.ring.Check(hash, tt.seal)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("valid seal refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ledger.ErrNotSealed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want ErrNotSealed mentioning %q, got %v", tt.want, err)
			}
		})
	}
	if ours.ID() == theirs.ID() || len(ours.ID()) != 8 {
		t.Fatalf("key ids %q %q", ours.ID(), theirs.ID())
	}
	if !ledger.DemoKeyring().Demo() || ours.Demo() {
		t.Fatal("only the demo ring says it is the demo key")
	}
}

func TestLoadKeyringRefusesKeysThatProveNothing(t *testing.T) {
	good := strings.Repeat("ab", 32) + "\n"
	tests := []struct {
		name    string
		inData  bool
		content string
		mode    os.FileMode
		want    string // "" for accepted
	}{
		{"a 0600 key file outside the data directory is accepted", false, "# seal key\n" + good, 0o600, ""},
		{"a key file readable by others is refused", false, good, 0o644, "group or others"},
		{"a key file readable by the group is refused", false, good, 0o640, "group or others"},
		{"a key file inside the data directory is refused", true, good, 0o600, "inside the data directory"},
		{"a key that is not hex is refused", false, "not-a-key\n", 0o600, "not hex"},
		{"a key shorter than 32 bytes is refused", false, "abcd\n", 0o600, "at least 32"},
		{"an empty key file is refused", false, "\n# nothing\n", 0o600, "no key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			data := filepath.Join(root, "data")
			if err := os.MkdirAll(data, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(root, "seal.key")
			if tt.inData {
				path = filepath.Join(data, "seal.key")
			}
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			r, err := ledger.LoadKeyring(path, data)
			if tt.want == "" {
				if err != nil || r == nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ledger.ErrBadSealKey) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want ErrBadSealKey mentioning %q, got %v", tt.want, err)
			}
		})
	}
	if _, err := ledger.LoadKeyring(filepath.Join(t.TempDir(), "missing"), ""); !errors.Is(err, ledger.ErrBadSealKey) {
		t.Fatalf("missing key file: %v", err)
	}
}

// sealedChain is chain with a seal per event under keys (nil: unsealed).
func sealedChain(t *testing.T, n int, keys *ledger.Keyring) ([]events.Event, []string) {
	t.Helper()
	evs := chain(t, n)
	seals := make([]string, n)
	if keys != nil {
		for i := range evs {
			seals[i] = keys.Seal(evs[i].Hash)
		}
	}
	return evs, seals
}

// forgeAfter appends to evs an event with a correct plain chain (prev hash,
// revision, hash recomputed) that Relais did not seal.
func forgeAfter(t *testing.T, evs []events.Event) []events.Event {
	t.Helper()
	last := evs[len(evs)-1]
	f := []events.Event{events.MustNew(&events.ContactMade{ClientID: "c1", StaffID: "intruder", Channel: "phone", At: time.Unix(99, 0)}, events.Actor{ID: "admin", Role: "admin"})}
	if err := ledger.Validate(last.Stream, f); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.Seal(last.Stream, ledger.Head{Revision: last.Revision, Hash: last.Hash}, time.Unix(0, 0).UTC(), f); err != nil {
		t.Fatal(err)
	}
	f[0].Position = last.Position + 1
	return append(evs, f[0])
}

func TestVerifierWithKeysNamesTheFirstEventRelaisDidNotSeal(t *testing.T) {
	ours, theirs := keyring(t, 1), keyring(t, 2)
	tests := []struct {
		name          string
		keys          *ledger.Keyring
		unsealedUntil uint64
		build         func(t *testing.T) ([]events.Event, []string)
		wantPos       uint64 // 0: passes
		wantText      string
	}{
		{"a ledger sealed by Relais passes", ours, 0, func(t *testing.T) ([]events.Event, []string) {
			return sealedChain(t, 4, ours)
		}, 0, ""},
		{"an event with a recomputed plain chain but no seal is named", ours, 0, func(t *testing.T) ([]events.Event, []string) {
			evs, seals := sealedChain(t, 3, ours)
			return forgeAfter(t, evs), append(seals, "")
		}, 4, "no seal"},
		{"an event sealed with another key is named", ours, 0, func(t *testing.T) ([]events.Event, []string) {
			evs, seals := sealedChain(t, 3, ours)
			evs = forgeAfter(t, evs)
			return evs, append(seals, theirs.Seal(evs[3].Hash))
		}, 4, "not in the key ring"},
		{"a genuine seal copied onto a forged event does not match", ours, 0, func(t *testing.T) ([]events.Event, []string) {
			evs, seals := sealedChain(t, 3, ours)
			return forgeAfter(t, evs), append(seals, seals[2])
		}, 4, "does not match"},
		{"the wrong key is named at the first event", theirs, 0, func(t *testing.T) ([]events.Event, []string) {
			return sealedChain(t, 3, ours)
		}, 1, "not in the key ring"},
		{"an unsealed ledger is refused with a key", ours, 0, func(t *testing.T) ([]events.Event, []string) {
			return sealedChain(t, 3, nil)
		}, 1, "unsealed-until"},
		{"events written before the key are accepted up to --unsealed-until", ours, 2, func(t *testing.T) ([]events.Event, []string) {
			evs, seals := sealedChain(t, 4, ours)
			seals[0], seals[1] = "", ""
			return evs, seals
		}, 0, ""},
		{"an unsealed event after --unsealed-until is named", ours, 2, func(t *testing.T) ([]events.Event, []string) {
			evs, seals := sealedChain(t, 4, ours)
			seals[0], seals[1], seals[2] = "", "", ""
			return evs, seals
		}, 3, "no seal"},
		{"without a key an unsealed event after sealed ones is still named", nil, 0, func(t *testing.T) ([]events.Event, []string) {
			evs, seals := sealedChain(t, 3, ours)
			return forgeAfter(t, evs), append(seals, "")
		}, 4, "sealed from position 1"},
		{"one event id stored at two positions is named with both", nil, 0, func(t *testing.T) ([]events.Event, []string) {
			evs := make([]events.Event, 4)
			for i := range evs {
				evs[i] = events.MustNew(&events.ContactMade{ClientID: "c1", StaffID: "cm", Channel: "phone", At: time.Unix(int64(i), 0)}, events.Actor{ID: "cm", Role: "case_manager"})
			}
			evs[3].ID = evs[1].ID
			if _, err := ledger.Seal("client-c1", ledger.Head{}, time.Unix(0, 0).UTC(), evs); err != nil {
				t.Fatal(err)
			}
			for i := range evs {
				evs[i].Position = uint64(i + 1)
			}
			return evs, make([]string, 4)
		}, 4, "first at position 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, seals := tt.build(t)
			v := ledger.NewVerifier()
			v.Keys, v.UnsealedUntil = tt.keys, tt.unsealedUntil
			var err error
			for i, e := range evs {
				if err = v.CheckSealed(e, seals[i]); err != nil {
					break
				}
			}
			if tt.wantPos == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var b *ledger.BrokenLinkError
			if !errors.As(err, &b) || b.Position != tt.wantPos || !strings.Contains(b.Reason, tt.wantText) {
				t.Fatalf("want a break at %d mentioning %q, got %v", tt.wantPos, tt.wantText, err)
			}
			if b.Stream != "client-c1" {
				t.Fatalf("the break does not name the stream: %v", b)
			}
		})
	}
}
