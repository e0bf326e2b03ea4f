package app

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/internal/poll"
)

// The console's verification runs once at a time, reports the head it
// checked, and is not fooled by events appended while it runs (it checks
// up to the head seen at its start).
func TestVerifyJobChecksUpToTheHeadAtItsStart(t *testing.T) {
	l := jstest.Ledger(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	actor := events.Actor{ID: "admin", Role: events.RoleAdmin}
	appendOne := func(i int) {
		e := events.MustNew(&events.StaffRegistered{StaffID: fmt.Sprintf("s-%d", i), Role: events.RoleCaseManager, Name: "x"}, actor)
		if _, err := l.Append(ctx, events.StaffStream(fmt.Sprintf("s-%d", i)), ledger.NoStream, e); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		appendOne(i)
	}
	j := newVerifyJob(l, nil)
	done := make(chan error, 1)
	go func() { done <- j.run(ctx) }()
	if !j.Start("aud-1") {
		t.Fatal("the first start was refused")
	}
	if j.Start("aud-2") {
		t.Error("a second run started while the first is asked for")
	}
	for i := 50; i < 80; i++ { // appended while it may be running
		appendOne(i)
	}
	poll.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if st := j.Status(); st.Running || st.Finished.IsZero() {
			return fmt.Errorf("still running: %+v", st)
		}
		return nil
	})
	st := j.Status()
	if !st.OK || st.Broken != "" || st.Err != "" || st.By != "aud-1" || st.Head < 50 || st.Report.Events != st.Head {
		t.Fatalf("verification %+v: want ok, by aud-1, every event up to the head at its start", st)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
