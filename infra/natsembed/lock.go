package natsembed

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// LockFile is the file in the data directory that its owner holds an
// exclusive flock on for the whole life of its embedded server; it holds
// the owner's record (Owner, as JSON).
const LockFile = "relais.lock"

// Owner is the record of the process that owns a data directory.
type Owner struct {
	PID     int       `json:"pid"`
	Command string    `json:"command"`
	Started time.Time `json:"started"`
	// Serves is true for `relais serve`: its server listens, and other
	// commands talk to it at URL (set once it listens) instead of waiting.
	Serves bool   `json:"serves"`
	URL    string `json:"url,omitempty"`
	// ServerID is the embedded server's id: a command that connects to URL
	// checks it answers there, not another process that took the port.
	ServerID string `json:"server_id,omitempty"`
}

func (o Owner) String() string {
	cmd := o.Command
	if cmd == "" {
		cmd = "unknown command"
	}
	return fmt.Sprintf("pid %d (%s, started %s)", o.PID, cmd, o.Started.UTC().Format(time.RFC3339))
}

// LockedError says who owns a data directory. It matches ErrLocked.
type LockedError struct {
	Dir   string
	Owner Owner
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%s: %s is owned by %s; stop it or wait for it to finish", ErrLocked, e.Dir, e.Owner)
}

// Unwrap makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Unwrap() error { return ErrLocked }

// dirLock is a held lock on a data directory.
type dirLock struct {
	f     *os.File
	owner Owner
}

// lockDir takes the exclusive lock of dir, waiting up to wait (logging once
// that it waits) while another process holds it.
func lockDir(dir string, owner Owner, wait time.Duration, log *zap.Logger) (*dirLock, error) {
	p := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDataDir, p, err)
	}
	deadline := time.Now().Add(wait)
	logged := false
	pause := 10 * time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("%w: lock %s: %w", ErrDataDir, p, err)
		}
		held := readRecord(p)
		// A serving owner does not finish by itself: no waiting for it.
		if held.Serves || !time.Now().Before(deadline) {
			f.Close()
			return nil, &LockedError{Dir: dir, Owner: held}
		}
		if !logged && log != nil {
			log.Info("waiting for the data directory's owner to finish",
				zap.String("data", dir), zap.Int("owner_pid", held.PID), zap.String("owner_command", held.Command),
				zap.Duration("at_most", wait))
			logged = true
		}
		time.Sleep(min(pause, time.Until(deadline)))
		pause = min(2*pause, 200*time.Millisecond)
	}
	l := &dirLock{f: f, owner: owner}
	if err := l.write(); err != nil {
		l.release()
		return nil, err
	}
	return l, nil
}

// write replaces the lock file's record with l.owner and fsyncs it.
func (l *dirLock) write() error {
	raw, err := json.Marshal(l.owner)
	if err != nil {
		return fmt.Errorf("lock record: %w", err)
	}
	raw = append(raw, '\n')
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("%w: write %s: %w", ErrDataDir, l.f.Name(), err)
	}
	if _, err := l.f.WriteAt(raw, 0); err != nil {
		return fmt.Errorf("%w: write %s: %w", ErrDataDir, l.f.Name(), err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("%w: sync %s: %w", ErrDataDir, l.f.Name(), err)
	}
	return nil
}

// release empties the record (no owner) and drops the lock.
func (l *dirLock) release() {
	if l == nil || l.f == nil {
		return
	}
	_ = l.f.Truncate(0)
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}

// readRecord reads the owner record in the lock file at p; a record being
// written (or none) is retried briefly and then returned empty.
func readRecord(p string) Owner {
	for range 20 {
		raw, err := os.ReadFile(p)
		if err == nil && bytes.HasSuffix(raw, []byte("\n")) {
			var o Owner
			if json.Unmarshal(raw, &o) == nil {
				return o
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return Owner{}
}

// ReadOwner says whether a process owns the data directory dir now, and
// if so its record. A lock file nobody holds (its owner exited or was
// killed) means no owner: the files its server left, such as a published
// URL, are stale.
func ReadOwner(dir string) (Owner, bool, error) {
	p := filepath.Join(dir, LockFile)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Owner{}, false, nil
	}
	if err != nil {
		return Owner{}, false, fmt.Errorf("%w: %s: %w", ErrDataDir, p, err)
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if err == nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return Owner{}, false, nil
	}
	if !errors.Is(err, syscall.EWOULDBLOCK) {
		return Owner{}, false, fmt.Errorf("%w: lock %s: %w", ErrDataDir, p, err)
	}
	return readRecord(p), true, nil
}
