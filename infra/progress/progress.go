// Package progress draws a one-line progress indicator for long jobs
// (replay, verify, simulate, bench) when the output is a terminal, and
// stays silent otherwise so logs and pipes stay clean.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Bar reports how far a job has gone. A nil *Bar is valid and does nothing.
type Bar struct {
	mu    sync.Mutex
	w     io.Writer
	label string
	total uint64
	n     uint64
	start time.Time
	last  time.Time
}

// IsTerminal reports whether f is a character device (a terminal).
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// New returns a bar writing to w, or nil when w is not a terminal and force
// is false. total 0 means unknown.
func New(w io.Writer, label string, total uint64, force bool) *Bar {
	if f, ok := w.(*os.File); !force && (!ok || !IsTerminal(f)) {
		return nil
	}
	now := time.Now()
	return &Bar{w: w, label: label, total: total, start: now}
}

// Set records that n units are done; it redraws at most five times a second.
func (b *Bar) Set(n uint64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n = n
	if now := time.Now(); now.Sub(b.last) >= 200*time.Millisecond {
		b.last = now
		b.draw(now)
	}
}

// Add records d more units done.
func (b *Bar) Add(d uint64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	n := b.n + d
	b.mu.Unlock()
	b.Set(n)
}

// Done draws the final state and ends the line.
func (b *Bar) Done() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.draw(time.Now())
	fmt.Fprintln(b.w)
}

func (b *Bar) draw(now time.Time) {
	el := now.Sub(b.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(b.n) / el
	}
	if b.total > 0 {
		pct := float64(b.n) * 100 / float64(b.total)
		const width = 30
		filled := int(pct / 100 * width)
		if filled > width {
			filled = width
		}
		bar := make([]byte, width)
		for i := range bar {
			bar[i] = ' '
			if i < filled {
				bar[i] = '='
			}
		}
		fmt.Fprintf(b.w, "\r%s [%s] %5.1f%% %d/%d  %.0f/s ", b.label, bar, pct, b.n, b.total, rate)
		return
	}
	fmt.Fprintf(b.w, "\r%s %d  %.0f/s ", b.label, b.n, rate)
}
