package ledger

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// A seal proves that an event came through Relais's own append path: an
// HMAC-SHA256, under a key kept outside the data directory, of the event's
// chain hash. The hash covers the stored bytes, which carry the stream,
// the revision and the previous event's hash, so one valid seal vouches
// for its event and, through the chain, for every event before it in its
// stream. Whoever can publish into the ledger's subjects can recompute the
// plain SHA-256 chain, but not a seal without the key.
//
// A seal is stored beside the event (the JetStream header Relais-Seal) as
// "<key id>.<hex HMAC>"; the key id (8 hex digits derived from the key)
// says which key of a ring sealed it, so keys can be rotated.

// sealDomain separates seal MACs from any other use of the key.
const sealDomain = "relais-ledger-seal-v1\n"

// MinSealKeyBytes is the shortest seal key accepted.
const MinSealKeyBytes = 32

// DemoSealKey is the --seal-key value that selects the public demo key.
const DemoSealKey = "demo"

// Keyring holds the seal keys: the first seals new events, every one is
// accepted when verifying (older keys after a rotation). It is safe for
// concurrent use.
type Keyring struct {
	keys []*sealKey
	demo bool
}

type sealKey struct {
	id   string
	macs sync.Pool // of hash.Hash keyed with this key
}

func newSealKey(key []byte) *sealKey {
	k := append([]byte(nil), key...)
	m := hmac.New(sha256.New, k)
	m.Write([]byte("relais-ledger-seal-key-id"))
	sk := &sealKey{id: hex.EncodeToString(m.Sum(nil)[:4])}
	sk.macs.New = func() any { return hmac.New(sha256.New, k) }
	return sk
}

// NewKeyring builds a ring from raw keys (the first seals); each must be at
// least MinSealKeyBytes long.
func NewKeyring(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no key", ErrBadSealKey)
	}
	r := &Keyring{}
	for i, k := range keys {
		if len(k) < MinSealKeyBytes {
			return nil, fmt.Errorf("%w: key %d is %d bytes, at least %d needed", ErrBadSealKey, i+1, len(k), MinSealKeyBytes)
		}
		r.keys = append(r.keys, newSealKey(k))
	}
	return r, nil
}

// DemoKeyring is the public demo key: anyone can seal with it, so it proves
// nothing. It exists for `relais serve --demo` and tests, chosen explicitly.
func DemoKeyring() *Keyring {
	sum := sha256.Sum256([]byte("relais public demo seal key: proves nothing, never use in production"))
	r, _ := NewKeyring(sum[:])
	r.demo = true
	return r
}

// Demo tells whether this is the public demo key.
func (r *Keyring) Demo() bool { return r != nil && r.demo }

// ID is the id of the sealing key (the first).
func (r *Keyring) ID() string { return r.keys[0].id }

// Seal returns the seal of an event whose chain hash is chainHash.
func (r *Keyring) Seal(chainHash string) string {
	k := r.keys[0]
	return k.id + "." + hex.EncodeToString(k.mac(chainHash))
}

func (k *sealKey) mac(chainHash string) []byte {
	m := k.macs.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(sealDomain))
	m.Write([]byte(chainHash))
	sum := m.Sum(nil)
	k.macs.Put(m)
	return sum
}

// Check tells whether seal is a valid seal of chainHash under one of the ring's
// keys; the error says why not, in words for the verify report.
func (r *Keyring) Check(chainHash, seal string) error {
	if seal == "" {
		return fmt.Errorf("%w: the event carries no seal", ErrNotSealed)
	}
	id, mac, ok := strings.Cut(seal, ".")
	want, err := hex.DecodeString(mac)
	if !ok || err != nil || len(want) != sha256.Size {
		return fmt.Errorf("%w: malformed seal %q", ErrNotSealed, seal)
	}
	for _, k := range r.keys {
		if k.id != id {
			continue
		}
		if !hmac.Equal(k.mac(chainHash), want) {
			return fmt.Errorf("%w: the seal claims key %s but does not match the event: forged, or the bytes were changed", ErrNotSealed, id)
		}
		return nil
	}
	return fmt.Errorf("%w: sealed with key id %s, which is not in the key ring (sealing key %s): a wrong --seal-key, or a forged seal", ErrNotSealed, id, r.ID())
}

// KeyIDOf returns the key id a stored seal names ("" when malformed).
func KeyIDOf(seal string) string {
	id, _, ok := strings.Cut(seal, ".")
	if !ok {
		return ""
	}
	return id
}

// Has tells whether the ring holds the key with this id.
func (r *Keyring) Has(id string) bool {
	for _, k := range r.keys {
		if k.id == id {
			return true
		}
	}
	return false
}

// LoadKeyring reads a seal key file: one key per line in hex (at least
// MinSealKeyBytes bytes each; blank lines and lines starting with '#'
// skipped), the first seals, the others are older keys still accepted by
// verify. The file must not be readable by group or others, and must not be
// inside dataDir (a copy or backup of the data would carry the key that
// authenticates it); dataDir "" skips that check.
func LoadKeyring(path, dataDir string) (*Keyring, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSealKey, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrBadSealKey, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s is readable or writable by group or others (mode %04o): chmod 600 it", ErrBadSealKey, path, perm)
	}
	if dataDir != "" {
		inside, err := within(path, dataDir)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadSealKey, err)
		}
		if inside {
			return nil, fmt.Errorf("%w: %s is inside the data directory %s: keep the key elsewhere, so a copy of the data does not carry the key that vouches for it", ErrBadSealKey, path, dataDir)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSealKey, err)
	}
	var keys [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := hex.DecodeString(line)
		if err != nil {
			return nil, fmt.Errorf("%w: %s line %d: not hex (make one with: openssl rand -hex 32)", ErrBadSealKey, path, n)
		}
		if len(k) < MinSealKeyBytes {
			return nil, fmt.Errorf("%w: %s line %d: %d bytes, at least %d needed", ErrBadSealKey, path, n, len(k), MinSealKeyBytes)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: %s holds no key (make one with: openssl rand -hex 32)", ErrBadSealKey, path)
	}
	return NewKeyring(keys...)
}

// within tells whether path lies inside dir (after resolving symbolic
// links of what exists).
func within(path, dir string) (bool, error) {
	resolve := func(p string) (string, error) {
		a, err := filepath.Abs(p)
		if err != nil {
			return "", err
		}
		if r, err := filepath.EvalSymlinks(a); err == nil {
			return r, nil
		}
		return a, nil
	}
	p, err := resolve(path)
	if err != nil {
		return false, err
	}
	d, err := resolve(dir)
	if err != nil {
		return false, err
	}
	rel, err := filepath.Rel(d, p)
	if err != nil {
		return false, nil
	}
	return rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)), nil
}
