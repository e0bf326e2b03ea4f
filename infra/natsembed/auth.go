package natsembed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// systemUser is Relais's own user on its embedded server: every permission,
// a password drawn at each start and never written anywhere (ClientURL
// carries it to the in-process connections).
const systemUser = "relais"

// AlertSubjectPrefix starts the subject of a partner's alert changes; it is
// delivery.Subject's prefix (natsembed stands below delivery and cannot
// import it; the security suite checks that both agree).
const AlertSubjectPrefix = "relais.alerts."

// AlertSubject is the one subject the NATS user of partner id may
// subscribe to.
func AlertSubject(id string) string { return AlertSubjectPrefix + id }

// Partner is one partner system's NATS user on the client listener. It
// authenticates with an nkey (the partner keeps the seed and signs the
// server's nonce with it; no secret crosses the wire) and may do exactly
// one thing: subscribe to AlertSubject(ID). It publishes nothing (so no
// JetStream API call, no request, no webhook queue) and reads no other
// subject (no relais.ev.>, no other partner's alerts).
type Partner struct {
	// ID is the partner's directory id: one subject token (no '.', '*',
	// '>', space or control character).
	ID string
	// NKey is the partner's public user nkey ("U…").
	NKey string
}

// SetPartners replaces the partner users of the running server by ps, with
// nats-server's own configuration reload: a partner left out of ps (or
// whose key changed) is disconnected at once and can no longer connect;
// a new one can connect as soon as SetPartners returns. Bad input
// (ErrBadPartner) changes nothing. The app calls it with the partners of
// the directory whenever one is issued, rotated or revoked.
func (s *Server) SetPartners(ctx context.Context, ps []Partner) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("set partners: %w", err)
	}
	users, err := s.partnerUsers(ps)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	opts := s.base.Clone()
	opts.Nkeys = append(s.trustedNkeys(), users...)
	if err := s.ns.ReloadOptions(opts); err != nil {
		return fmt.Errorf("set %d partner users: %w", len(ps), err)
	}
	s.partners = slices.Clone(ps)
	return nil
}

// Partners returns the partner users in force.
func (s *Server) Partners() []Partner {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.partners)
}

// partnerUsers validates ps and turns them into nats-server nkey users.
func (s *Server) partnerUsers(ps []Partner) ([]*server.NkeyUser, error) {
	ids := make(map[string]bool, len(ps))
	keys := map[string]bool{s.cliKey: s.cliKey != ""}
	users := make([]*server.NkeyUser, 0, len(ps))
	for _, p := range ps {
		if err := checkPartnerID(p.ID); err != nil {
			return nil, err
		}
		if !nkeys.IsValidPublicUserKey(p.NKey) {
			return nil, fmt.Errorf("%w: partner %s: nkey %q is not a public user nkey (U…)", ErrBadPartner, p.ID, p.NKey)
		}
		if ids[p.ID] {
			return nil, fmt.Errorf("%w: partner %s given twice", ErrBadPartner, p.ID)
		}
		if keys[p.NKey] {
			return nil, fmt.Errorf("%w: partner %s: nkey already in use", ErrBadPartner, p.ID)
		}
		ids[p.ID], keys[p.NKey] = true, true
		users = append(users, &server.NkeyUser{
			Nkey: p.NKey,
			Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Deny: []string{">"}},
				Subscribe: &server.SubjectPermission{Allow: []string{AlertSubject(p.ID)}},
			},
		})
	}
	return users, nil
}

func checkPartnerID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty partner id", ErrBadPartner)
	}
	if i := strings.IndexFunc(id, func(r rune) bool {
		return r == '.' || r == '*' || r == '>' || r <= ' ' || r == 0x7f
	}); i >= 0 {
		return fmt.Errorf("%w: partner id %q: %q cannot be in a subject token", ErrBadPartner, id, id[i:i+1])
	}
	return nil
}

// trustedNkeys are the nkey users with every permission: the credential
// file's user, if any. s.mu is held or the server is not yet started.
func (s *Server) trustedNkeys() []*server.NkeyUser {
	if s.cliKey == "" {
		return nil
	}
	return []*server.NkeyUser{{Nkey: s.cliKey}}
}

// ClientURL is the nats:// URL of the server carrying its system user's
// credentials (every permission, a password drawn at start): for Relais's
// own connections in this process, with or without nats.InProcessServer.
// Never log it, write it or hand it out; other processes use LocalURL and
// the credential file.
func (s *Server) ClientURL() string {
	u := url.URL{Scheme: "nats", Host: s.hostPort(), User: url.UserPassword(systemUser, s.password)}
	return u.String()
}

// LocalURL is the client listener's URL for another process of this
// machine, without credentials (loopback when the listener binds every
// address); tls:// when the listener requires TLS.
func (s *Server) LocalURL() string {
	scheme := "nats"
	if s.base.TLSConfig != nil {
		scheme = "tls"
	}
	u := url.URL{Scheme: scheme, Host: s.hostPort()}
	return u.String()
}

// hostPort is where the client listener is, loopback for an unspecified
// address.
func (s *Server) hostPort() string {
	if a, ok := s.ns.Addr().(*net.TCPAddr); ok {
		ip := a.IP
		if ip.IsUnspecified() {
			ip = net.IPv4(127, 0, 0, 1)
			if a.IP.To4() == nil {
				ip = net.IPv6loopback
			}
		}
		return net.JoinHostPort(ip.String(), fmt.Sprint(a.Port))
	}
	// No listener (in-process only): any host will do, nothing dials it.
	return "127.0.0.1:4222"
}

// randomSecret is 32 random bytes in hex.
func randomSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("draw nats password: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// writeCredential creates path afresh, readable and writable by its owner
// only whatever the umask (an earlier file, or a link planted in its
// place, is removed first, never followed), holding seed.
func writeCredential(path string, seed []byte) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	_, err = f.Write(append(seed, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Credential is the connect option of the user whose seed a running server
// wrote in path (Config.CredentialFile), for another relais process of the
// same machine. The file must be a regular file readable by its owner only.
func Credential(path string) (nats.Option, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCredential, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrCredential, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s is readable by other users (mode %04o, want 0600)", ErrCredential, path, perm)
	}
	seed, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCredential, err)
	}
	kp, err := nkeys.ParseDecoratedNKey(seed)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCredential, path, err)
	}
	pub, err := kp.PublicKey()
	if err != nil || !nkeys.IsValidPublicUserKey(pub) {
		return nil, fmt.Errorf("%w: %s does not hold a user nkey seed", ErrCredential, path)
	}
	return nats.Nkey(pub, kp.Sign), nil
}
