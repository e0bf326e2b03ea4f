package access_test

import (
	"context"
	"errors"
	"testing"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/services"
	"github.com/relais-health/relais/services/access"
)

var doc = events.Actor{ID: "doc-1", Role: events.CategoryDoctor}

func TestRecordAccessAppendsOneEventPerRead(t *testing.T) {
	l := jstest.Ledger(t)
	s := access.New(l)
	ctx := context.Background()
	for _, view := range []string{"file", "timeline", "file"} {
		if _, err := s.RecordAccess(ctx, doc, "c1", view); err != nil {
			t.Fatalf("record %s: %v", view, err)
		}
	}
	evs, err := l.Read(ctx, events.AccessStream("c1"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("%d events on %s, want 3", len(evs), events.AccessStream("c1"))
	}
	for i, want := range []string{"file", "timeline", "file"} {
		p, err := evs[i].Payload()
		if err != nil {
			t.Fatal(err)
		}
		fa, ok := p.(*events.FileAccessed)
		if !ok {
			t.Fatalf("event %d is %T", i, p)
		}
		got := events.FileAccessed{ClientID: "c1", ActorID: "doc-1", Role: events.CategoryDoctor, View: want}
		if *fa != got || evs[i].Actor != doc {
			t.Fatalf("event %d: %+v by %+v, want %+v by %+v", i, *fa, evs[i].Actor, got, doc)
		}
	}
	if _, err := l.Read(ctx, events.ClientStream("c1"), 1); !errors.Is(err, ledger.ErrStreamNotFound) {
		t.Fatalf("the client's own stream was touched: %v", err)
	}
}

func TestRecordAccessRefusesBadInputAndWritesNothing(t *testing.T) {
	l := jstest.Ledger(t)
	s := access.New(l)
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		actor    events.Actor
		clientID string
		view     string
	}{
		{"a client id that is no stream name is refused", doc, "c1/../x", "file"},
		{"an empty client id is refused", doc, "", "file"},
		{"an empty view is refused", doc, "c2", ""},
		{"an actor without a role is refused", events.Actor{ID: "x"}, "c3", "file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.RecordAccess(ctx, tc.actor, tc.clientID, tc.view)
			if !errors.Is(err, services.ErrBadRequest) {
				t.Fatalf("got %v, want services.ErrBadRequest", err)
			}
			if events.ValidStreamName(events.AccessStream(tc.clientID)) {
				if _, err := l.Read(ctx, events.AccessStream(tc.clientID), 1); !errors.Is(err, ledger.ErrStreamNotFound) {
					t.Fatalf("something was written: %v", err)
				}
			}
		})
	}
}

// No record, no read: when the ledger cannot take the event the caller gets
// the ledger's error kind, so the API answers 503 and not the file.
func TestRecordAccessFailsWhenTheLedgerCannotRecord(t *testing.T) {
	env := jstest.Start(t, jstest.Options{})
	s := access.New(env.Store)
	env.Stop()
	_, err := s.RecordAccess(context.Background(), doc, "c1", "file")
	if !errors.Is(err, ledger.ErrClosed) && !errors.Is(err, ledger.ErrUnavailable) {
		t.Fatalf("got %v, want ledger.ErrClosed or ledger.ErrUnavailable", err)
	}
}

// A refused read is on the access stream too, beside the reads, with its
// reason; the client's own stream is not touched.
func TestRecordDenialAppendsTheAttempt(t *testing.T) {
	l := jstest.Ledger(t)
	s := access.New(l)
	ctx := context.Background()
	if _, err := s.RecordAccess(ctx, doc, "c1", "file"); err != nil {
		t.Fatal(err)
	}
	rehab := events.Actor{ID: "rehab-1", Role: events.CategoryRehab}
	if _, err := s.RecordDenial(ctx, rehab, "c1", "timeline", events.DenialNoConsent); err != nil {
		t.Fatal(err)
	}
	evs, err := l.Read(ctx, events.AccessStream("c1"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("%d events on the access stream, want the read and the refusal", len(evs))
	}
	p, err := evs[1].Payload()
	if err != nil {
		t.Fatal(err)
	}
	want := events.FileAccessDenied{ClientID: "c1", ActorID: "rehab-1", Role: events.CategoryRehab, View: "timeline", Reason: events.DenialNoConsent}
	if d, ok := p.(*events.FileAccessDenied); !ok || *d != want || evs[1].Actor != rehab {
		t.Fatalf("second event is %T %+v by %+v, want %+v by %+v", p, p, evs[1].Actor, want, rehab)
	}
	if _, err := l.Read(ctx, events.ClientStream("c1"), 1); !errors.Is(err, ledger.ErrStreamNotFound) {
		t.Fatalf("the client's own stream was touched: %v", err)
	}
}

func TestRecordDenialRefusesBadInputAndWritesNothing(t *testing.T) {
	l := jstest.Ledger(t)
	s := access.New(l)
	ctx := context.Background()
	for _, tc := range []struct {
		name, clientID, view, reason string
	}{
		{"a client id that is no stream name is refused", "c1/../x", "file", events.DenialNoConsent},
		{"an unknown reason is refused", "c2", "file", "because"},
		{"an empty reason is refused", "c3", "file", ""},
		{"an empty view is refused", "c4", "", events.DenialRole},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.RecordDenial(ctx, doc, tc.clientID, tc.view, tc.reason)
			if !errors.Is(err, services.ErrBadRequest) {
				t.Fatalf("got %v, want services.ErrBadRequest", err)
			}
			if events.ValidStreamName(tc.clientID) {
				if _, err := l.Read(ctx, events.AccessStream(tc.clientID), 1); !errors.Is(err, ledger.ErrStreamNotFound) {
					t.Fatalf("something was written: %v", err)
				}
			}
		})
	}
}
