package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/relais-health/relais/adapters/console"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/projections/rebuild"
)

// replayer replays the running ledger into a fresh read model (the
// console's frozen list and the auditor's replay).
type replayer struct{ l rebuild.Subscriber }

func (r replayer) Replay(ctx context.Context, until rebuild.Until, a rebuild.Applier) (rebuild.Stats, error) {
	return rebuild.Replay(ctx, r.l, until, a, nil)
}

// verifyJob runs ledger.Verify (what `relais verify` runs) over the
// running ledger, one run at a time, in the background: the console starts
// it and reads its progress. Its goroutine is run's, owned by App.Run.
type verifyJob struct {
	l     ledger.Ledger
	keys  *ledger.Keyring
	now   func() time.Time
	bound time.Duration // a run longer than this stops, named as such
	start chan string

	mu sync.Mutex
	st console.VerifyStatus
}

func newVerifyJob(l ledger.Ledger, keys *ledger.Keyring) *verifyJob {
	return &verifyJob{l: l, keys: keys, now: time.Now, bound: 30 * time.Minute, start: make(chan string, 1)}
}

// Start asks for a run; false when one is running or asked for already.
func (j *verifyJob) Start(by string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.st.Running {
		return false
	}
	select {
	case j.start <- by:
	default:
		return false
	}
	j.st = console.VerifyStatus{Running: true, By: by, Started: j.now()}
	return true
}

// Status is the current or last run.
func (j *verifyJob) Status() console.VerifyStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.st
}

// run serves the runs asked for until ctx ends.
func (j *verifyJob) run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case by := <-j.start:
			j.once(ctx, by)
		}
	}
}

func (j *verifyJob) once(ctx context.Context, by string) {
	ctx, cancel := context.WithTimeout(ctx, j.bound)
	defer cancel()
	head, err := j.l.Head(ctx)
	j.mu.Lock()
	j.st = console.VerifyStatus{Running: true, By: by, Started: j.now(), Head: head}
	j.mu.Unlock()
	var rep ledger.VerifyReport
	if err == nil {
		// Up to the head seen at the start: what is appended meanwhile is
		// the next run's, never "missing at the end".
		opts := []ledger.VerifyOption{ledger.UpTo(head)}
		if j.keys != nil {
			opts = append(opts, ledger.WithKeys(j.keys))
		}
		rep, err = ledger.Verify(ctx, j.l, func(pos uint64) {
			j.mu.Lock()
			j.st.Done = pos
			j.mu.Unlock()
		}, opts...)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.st.Running, j.st.Finished, j.st.Report = false, j.now(), rep
	var broken *ledger.BrokenLinkError
	switch {
	case err == nil:
		j.st.OK = true
	case errors.As(err, &broken):
		j.st.Broken = broken.Error()
	case errors.Is(err, context.DeadlineExceeded):
		j.st.Err = fmt.Sprintf("stopped after %s at position %d of %d: run `relais verify` for a ledger this long", j.bound, j.st.Done, head)
	default:
		j.st.Err = err.Error()
	}
}
