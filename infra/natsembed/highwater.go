package natsembed

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// HighWaterFile, in the data directory, holds the last position of the
// ledger stream acknowledged to a caller, written before the answer (and
// fsynced with strict durability). It lives outside JetStream's files: a
// truncated or damaged block file cannot take it along.
const HighWaterFile = "relais-events.hwm"

// hwLen is the record's fixed size: every write replaces the whole record
// at offset 0, within one disk sector.
const hwLen = 32

// HighWater is the high-water mark file of a data directory, shared by
// every process appending on this machine (each write takes the file's
// flock and never lowers the mark).
type HighWater struct {
	mu    sync.Mutex
	f     *os.File
	fsync bool
	last  uint64
}

// OpenHighWater opens (creating it if needed) the mark of dataDir; fsync
// makes each Mark durable before it returns.
func OpenHighWater(dataDir string, fsync bool) (*HighWater, error) {
	p := filepath.Join(dataDir, HighWaterFile)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("high-water mark %s: %w", p, err)
	}
	h := &HighWater{f: f, fsync: fsync}
	if h.last, err = readMark(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("high-water mark %s: %w", p, err)
	}
	return h, nil
}

// Mark records position as acknowledged unless the mark is already at or
// above it.
func (h *HighWater) Mark(position uint64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if position <= h.last {
		return nil
	}
	fd := int(h.f.Fd())
	if err := syscall.Flock(fd, syscall.LOCK_EX); err != nil {
		return fmt.Errorf("high-water mark: lock: %w", err)
	}
	defer syscall.Flock(fd, syscall.LOCK_UN) //nolint:errcheck
	cur, err := readMark(h.f)
	if err != nil {
		return fmt.Errorf("high-water mark: %w", err)
	}
	if cur >= position {
		h.last = cur
		return nil
	}
	rec := fmt.Sprintf("RELAIS_EVENTS %d", position)
	rec += strings.Repeat(" ", hwLen-1-len(rec)) + "\n"
	if _, err := h.f.WriteAt([]byte(rec), 0); err != nil {
		return fmt.Errorf("high-water mark: write: %w", err)
	}
	if h.fsync {
		if err := h.f.Sync(); err != nil {
			return fmt.Errorf("high-water mark: sync: %w", err)
		}
	}
	h.last = position
	return nil
}

// Close closes the file.
func (h *HighWater) Close() error { return h.f.Close() }

func readMark(f *os.File) (uint64, error) {
	buf := make([]byte, hwLen)
	n, err := f.ReadAt(buf, 0)
	if n == 0 {
		return 0, nil // a new file
	}
	if err != nil && n < hwLen {
		return 0, fmt.Errorf("read: %d bytes: %w", n, err)
	}
	fields := strings.Fields(string(buf[:n]))
	if len(fields) != 2 || fields[0] != "RELAIS_EVENTS" {
		return 0, fmt.Errorf("not a high-water record: %q", buf[:n])
	}
	v, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a high-water record: %q", buf[:n])
	}
	return v, nil
}

// ReadHighWater returns the mark recorded in dataDir (0 when none was).
func ReadHighWater(dataDir string) (uint64, error) {
	p := filepath.Join(dataDir, HighWaterFile)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("high-water mark %s: %w", p, err)
	}
	defer f.Close()
	v, err := readMark(f)
	if err != nil {
		return 0, fmt.Errorf("high-water mark %s: %w", p, err)
	}
	return v, nil
}

// LostError names the acknowledged positions a ledger no longer holds. It
// matches ErrPositionsLost.
type LostError struct {
	Dir       string
	From, To  uint64 // first and last lost position
	HighWater uint64
}

func (e *LostError) Error() string {
	return fmt.Sprintf("%s: positions %d..%d of RELAIS_EVENTS were acknowledged (high-water mark %d in %s) but the ledger ends at %d: "+
		"restore --data from a backup; to accept the loss and reuse these positions, record the range and remove %s",
		ErrPositionsLost, e.From, e.To, e.HighWater, filepath.Join(e.Dir, HighWaterFile), e.From-1, HighWaterFile)
}

// Unwrap makes errors.Is(err, ErrPositionsLost) true.
func (e *LostError) Unwrap() error { return ErrPositionsLost }

// CheckHighWater compares the ledger stream's last position with the mark
// of dataDir: below it is a *LostError.
func CheckHighWater(dataDir string, last uint64) error {
	mark, err := ReadHighWater(dataDir)
	if err != nil {
		return err
	}
	if last < mark {
		return &LostError{Dir: dataDir, From: last + 1, To: mark, HighWater: mark}
	}
	return nil
}
