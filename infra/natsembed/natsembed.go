// Package natsembed runs nats-server with JetStream inside the Relais
// process, storing streams on disk under a data directory. It is the
// default backend: no other install is needed to run Relais.
package natsembed

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
)

// Config says where and how the embedded server runs.
type Config struct {
	// DataDir holds the JetStream file store. It is created if its parent
	// exists.
	DataDir string
	// Host and Port of the client listener; Port -1 picks a free port.
	Host string
	Port int
	// NoListen serves only in-process connections (one-shot CLI commands).
	NoListen bool
	// SyncAlways makes JetStream fsync every write before acknowledging it
	// (sync_interval: always): the "strict" durability of Relais.
	SyncAlways bool
	// Logger receives the server's own log lines; nil silences them.
	Logger *zap.Logger
	// TLS, when set, makes the client listener require TLS (in-process
	// connections do not need it).
	TLS *tls.Config
	// CredentialFile, when set, is where Start writes (created 0600,
	// replacing any earlier file) the nkey seed of a user with every
	// permission, new at each start, for the other relais commands of this
	// machine (see Credential); Shutdown removes it.
	CredentialFile string
	// Partners are the partner users allowed from the start (SetPartners
	// changes them).
	Partners []Partner
	// Command names the owner in the data directory's lock record (for
	// example "relais events append"); empty is the program's name.
	Command string
	// LockWait is how long Start waits for another process that owns the
	// data directory to release it before failing with ErrLocked (0 fails
	// at once).
	LockWait time.Duration
	// ReadOnly leaves the data directory's files untouched: Start copies
	// its JetStream store to a temporary directory (while holding the
	// directory's lock, so nobody writes during the copy) and serves the
	// copy; Shutdown deletes it. nats-server repairs what it finds damaged
	// at start (it truncates a bad record), so verify must never run it on
	// the live files.
	ReadOnly bool
}

// Server is a running embedded nats-server. Every connection authenticates
// (NATS's own authorization, no anonymous user): Relais itself as the
// system user of ClientURL, the other relais commands with the credential
// file's nkey, partners with their own nkeys (SetPartners).
type Server struct {
	ns       *server.Server
	password string // the system user's
	cliKey   string // public nkey of the credential file's user, "" if none
	credFile string

	lock *dirLock
	copy string // the temporary copy of a ReadOnly start, "" if none

	mu       sync.Mutex
	base     *server.Options // as first given, cloned for each reload
	partners []Partner
}

// Start launches the server and waits until it accepts connections.
func Start(cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("%w: no data directory given", ErrDataDir)
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDataDir, cfg.DataDir, err)
	}
	if parent := filepath.Dir(dir); !isDir(parent) {
		return nil, fmt.Errorf("%w: %s: parent directory %s does not exist", ErrDataDir, cfg.DataDir, parent)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDataDir, cfg.DataDir, err)
	}
	if err := checkWritable(dir); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDataDir, cfg.DataDir, err)
	}
	host := cfg.Host
	if host == "" {
		host = "127.0.0.1"
	}
	// The listener first: a taken port is said as such, before anything
	// is locked or written.
	if !cfg.NoListen && cfg.Port > 0 {
		if err := checkListen(host, cfg.Port); err != nil {
			return nil, err
		}
	}
	owner := Owner{PID: os.Getpid(), Command: cfg.Command, Started: time.Now().UTC(), Serves: !cfg.NoListen}
	if owner.Command == "" {
		owner.Command = filepath.Base(os.Args[0])
	}
	lock, err := lockDir(dir, owner, cfg.LockWait, cfg.Logger)
	if err != nil {
		return nil, err
	}
	storeDir := dir
	if cfg.ReadOnly {
		if storeDir, err = copyStore(dir); err != nil {
			lock.release()
			return nil, err
		}
	}
	s, err := start(cfg, storeDir, host)
	if err != nil {
		lock.release()
		if cfg.ReadOnly {
			os.RemoveAll(storeDir)
		}
		return nil, err
	}
	s.lock = lock
	if cfg.ReadOnly {
		s.copy = storeDir
	}
	if !cfg.NoListen {
		lock.owner.URL, lock.owner.ServerID = s.LocalURL(), s.ns.ID()
		if err := lock.write(); err != nil {
			s.Shutdown()
			return nil, err
		}
	}
	return s, nil
}

// start runs the server on dir, whose lock the caller holds.
func start(cfg Config, dir, host string) (*Server, error) {
	opts := &server.Options{
		ServerName: "relais-embedded",
		Host:       host,
		Port:       cfg.Port,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true,
		DontListen: cfg.NoListen,
		SyncAlways: cfg.SyncAlways,
		// Relais batches up to 1,000 events per atomic commit.
		JetStreamLimits: server.JSLimitOpts{MaxBatchSize: 1000},
	}
	if cfg.SyncAlways {
		opts.SyncInterval = 0
	}
	s, seed, err := newAuth(cfg, opts)
	if err != nil {
		return nil, err
	}
	ns, err := server.NewServer(opts.Clone())
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	s.ns = ns
	zl := &zapLogger{}
	if cfg.Logger != nil {
		zl.l = cfg.Logger.Named("nats")
	}
	ns.SetLoggerV2(zl, false, false, false)
	go ns.Start()
	// The server reports a failed start (a listener it cannot open) as a
	// fatal log line, not an error: watch for it while waiting.
	deadline := time.Now().Add(30 * time.Second)
	for !ns.ReadyForConnections(100 * time.Millisecond) {
		if f := zl.fatal(); f != "" {
			ns.Shutdown()
			if strings.Contains(f, "listen") {
				return nil, fmt.Errorf("%w: embedded nats: %s", ErrListen, f)
			}
			return nil, fmt.Errorf("embedded nats: %s", f)
		}
		if time.Now().After(deadline) {
			ns.Shutdown()
			return nil, fmt.Errorf("embedded nats: not ready after 30s on %s", dir)
		}
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded nats: JetStream did not start on %s", dir)
	}
	if s.credFile != "" {
		if err := writeCredential(s.credFile, seed); err != nil {
			ns.Shutdown()
			return nil, fmt.Errorf("embedded nats credential: %w", err)
		}
	}
	return s, nil
}

// newAuth sets the users of opts: the system user, the credential file's
// user and the partners; it returns the server to be and the credential's
// seed.
func newAuth(cfg Config, opts *server.Options) (*Server, []byte, error) {
	pw, err := randomSecret()
	if err != nil {
		return nil, nil, err
	}
	s := &Server{password: pw, credFile: cfg.CredentialFile}
	var seed []byte
	if cfg.CredentialFile != "" {
		kp, err := nkeys.CreateUser()
		if err != nil {
			return nil, nil, fmt.Errorf("embedded nats credential: %w", err)
		}
		if seed, err = kp.Seed(); err != nil {
			return nil, nil, fmt.Errorf("embedded nats credential: %w", err)
		}
		if s.cliKey, err = kp.PublicKey(); err != nil {
			return nil, nil, fmt.Errorf("embedded nats credential: %w", err)
		}
	}
	partners, err := s.partnerUsers(cfg.Partners)
	if err != nil {
		return nil, nil, err
	}
	// The server keeps only a bcrypt hash of the system user's password
	// (random, in memory only; the lowest cost is enough for 32 random
	// bytes), so it never warns "plaintext passwords" at each start.
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded nats credential: %w", err)
	}
	opts.Users = []*server.User{{Username: systemUser, Password: string(hash)}}
	opts.Nkeys = append(s.trustedNkeys(), partners...)
	if cfg.TLS != nil {
		opts.TLSConfig = cfg.TLS.Clone()
		opts.TLS = true
	}
	s.base = opts
	s.partners = slices.Clone(cfg.Partners)
	return s, seed, nil
}

// Shutdown stops the server, waits for it to finish and removes the
// credential file.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	if s.credFile != "" {
		os.Remove(s.credFile)
	}
	s.lock.release()
	s.lock = nil
	if s.copy != "" {
		os.RemoveAll(s.copy)
	}
}

// copyStore copies dir's JetStream store to a new temporary directory and
// returns that directory (a StoreDir for nats-server).
func copyStore(dir string) (string, error) {
	src := filepath.Join(dir, "jetstream")
	tmp, err := os.MkdirTemp("", "relais-readonly-")
	if err != nil {
		return "", fmt.Errorf("read-only copy of %s: %w", src, err)
	}
	if !isDir(src) {
		return tmp, nil // no store yet: the copy is empty too
	}
	if err := os.CopyFS(filepath.Join(tmp, "jetstream"), os.DirFS(src)); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("read-only copy of %s: %w", src, err)
	}
	return tmp, nil
}

// checkListen says whether host:port can be listened on now.
func checkListen(host string, port int) error {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%w: --nats-listen %s: %w", ErrListen, addr, err)
	}
	return ln.Close()
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".relais-write-check-*")
	if err != nil {
		return fmt.Errorf("not writable: %w", err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// zapLogger adapts nats-server's logger interface to zap (l nil drops the
// lines) and keeps the first fatal line: a failed start.
type zapLogger struct {
	l     *zap.Logger
	mu    sync.Mutex
	first string
}

func (z *zapLogger) log(lvl func(*zap.Logger, string, ...zap.Field), format string, v ...any) {
	if z.l != nil {
		lvl(z.l, fmt.Sprintf(format, v...))
	}
}

func (z *zapLogger) fatal() string {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.first
}

func (z *zapLogger) Noticef(format string, v ...any) { z.log((*zap.Logger).Debug, format, v...) }
func (z *zapLogger) Warnf(format string, v ...any)   { z.log((*zap.Logger).Warn, format, v...) }
func (z *zapLogger) Fatalf(format string, v ...any) {
	z.mu.Lock()
	if z.first == "" {
		z.first = fmt.Sprintf(format, v...)
	}
	z.mu.Unlock()
	z.log((*zap.Logger).Error, format, v...)
}
func (z *zapLogger) Errorf(format string, v ...any) { z.log((*zap.Logger).Error, format, v...) }
func (z *zapLogger) Debugf(format string, v ...any) { z.log((*zap.Logger).Debug, format, v...) }
func (z *zapLogger) Tracef(format string, v ...any) {}

// InProcessConn returns a connection that bypasses TCP, for nats.Connect's
// nats.InProcessServer option.
func (s *Server) InProcessConn() (net.Conn, error) { return s.ns.InProcessConn() }

// StreamSyncer fsyncs the message files of one JetStream stream of the
// global account, for group commit done by Relais: the server writes each
// message to the OS before acknowledging it, and one Sync then makes every
// acknowledged message of a group durable with one fsync instead of one per
// message.
type StreamSyncer struct {
	dir  string
	mu   sync.Mutex
	last string   // highest block file synced last time
	f    *os.File // that block, kept open
}

// StreamSyncer returns the syncer of stream's message directory.
func (s *Server) StreamSyncer(stream string) *StreamSyncer {
	return &StreamSyncer{dir: filepath.Join(s.ns.JetStreamConfig().StoreDir, "$G", "streams", stream, "msgs")}
}

// NewStreamSyncer returns the syncer of stream in the embedded server's
// data directory dataDir, for a process that shares the machine with the
// server holding it (a CLI command beside `relais serve`).
func NewStreamSyncer(dataDir, stream string) (*StreamSyncer, error) {
	dir, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	return &StreamSyncer{dir: filepath.Join(dir, "jetstream", "$G", "streams", stream, "msgs")}, nil
}

// Sync fsyncs the block being written (and the previous one and the
// directory when a new block appeared since the last call).
func (y *StreamSyncer) Sync() error {
	y.mu.Lock()
	defer y.mu.Unlock()
	// The server numbers a new block after the last one. While the next
	// block does not exist, the open one is still the one being written:
	// one stat instead of listing the directory on every group commit.
	if y.f != nil {
		next := filepath.Join(y.dir, strconv.Itoa(blockIndex(y.last)+1)+".blk")
		if _, err := os.Stat(next); errors.Is(err, fs.ErrNotExist) {
			if err := y.f.Sync(); err != nil {
				return fmt.Errorf("sync %s: %w", y.last, err)
			}
			return nil
		}
	}
	entries, err := os.ReadDir(y.dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", y.dir, err)
	}
	var blocks []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".blk") {
			blocks = append(blocks, e.Name())
		}
	}
	if len(blocks) == 0 {
		return nil
	}
	sort.Slice(blocks, func(i, j int) bool { return blockIndex(blocks[i]) < blockIndex(blocks[j]) })
	highest := blocks[len(blocks)-1]
	todo := []string{highest}
	if highest != y.last {
		if y.last != "" {
			todo = append(todo, y.last)
		}
		if len(blocks) > 1 {
			todo = append(todo, blocks[len(blocks)-2])
		}
	}
	if highest == y.last && y.f != nil {
		if err := y.f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", highest, err)
		}
		return nil
	}
	for _, b := range todo {
		if err := fsyncPath(filepath.Join(y.dir, b)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("sync %s: %w", b, err)
		}
	}
	if err := fsyncPath(y.dir); err != nil {
		return fmt.Errorf("sync %s: %w", y.dir, err)
	}
	if y.f != nil {
		y.f.Close()
	}
	y.last = highest
	y.f, _ = os.Open(filepath.Join(y.dir, highest))
	return nil
}

func blockIndex(name string) int {
	n, _ := strconv.Atoi(strings.TrimSuffix(name, ".blk"))
	return n
}

func fsyncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
