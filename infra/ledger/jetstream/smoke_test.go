package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
)

var actor = events.Actor{ID: "staff-1", Role: events.RoleCaseManager}

func flag(client string) events.Event {
	return events.MustNew(&events.ClientFlagged{ClientID: client, Programme: "defi-sante"}, actor)
}

func TestSmoke(t *testing.T) {
	ctx := context.Background()
	l := jstest.Ledger(t)
	res, err := l.Append(ctx, "client-1", ledger.NoStream, flag("1"), flag("1"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 2 || res.Position != 2 {
		t.Fatalf("result %+v", res)
	}
	if _, err := l.Append(ctx, "client-1", 0, flag("1")); !errors.Is(err, ledger.ErrWrongRevision) {
		t.Fatalf("want wrong revision, got %v", err)
	}
	evs, err := l.Read(ctx, "client-1", 1)
	if err != nil || len(evs) != 2 {
		t.Fatalf("read %d %v", len(evs), err)
	}
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				if _, err := l.Append(ctx, fmt.Sprintf("s-%d", i), int64(j), flag("x")); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	rep, err := ledger.Verify(ctx, l, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != 2+64*20 {
		t.Fatalf("report %+v", rep)
	}
}
