package console

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/relais-health/relais/adapters/httpapi"
)

// recordingStore is a memoryStore that lets the test look at what is kept.
type recordingStore struct{ *memoryStore }

func TestSessionsKeepNoSecretInClearAndEndWhenIdle(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 2, 14, 5, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tests := []struct {
		name  string
		after time.Duration // since the last use
		act   func(ss *sessions, s *session)
		want  bool
	}{
		{name: "used within the idle timeout, the session stands", after: 29 * time.Minute, want: true},
		{name: "idle longer than the timeout, it is ended", after: 31 * time.Minute, want: false},
		{name: "signed out, it is gone", act: func(ss *sessions, s *session) { ss.end(ctx, s.id) }, want: false},
		{name: "a record altered in the store is no session", act: func(ss *sessions, s *session) {
			b, _ := ss.store.Get(ctx, storeKey(s.id))
			b[len(b)-1] ^= 1
			ss.store.Put(ctx, storeKey(s.id), b) //nolint:errcheck
		}, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now = time.Date(2026, 12, 2, 14, 5, 0, 0, time.UTC)
			store := recordingStore{newMemoryStore(30*time.Minute, clock)}
			ss := newSessions(store, 30*time.Minute, clock)
			s, err := ss.create(ctx, "rls_secret-credential", httpapi.Principal{ID: "cm-1", Role: "case_manager"})
			if err != nil {
				t.Fatal(err)
			}
			for k, e := range store.m {
				if k == s.id || bytes.Contains(e.v, []byte(s.id)) || bytes.Contains(e.v, []byte("rls_secret-credential")) ||
					bytes.Contains(e.v, []byte(s.rec.CSRF)) || bytes.Contains([]byte(k), []byte(s.id)) {
					t.Fatalf("the store keeps a secret in clear: key %q, value %q", k, e.v)
				}
			}
			if tc.act != nil {
				tc.act(ss, s)
			}
			now = now.Add(tc.after)
			got, ok := ss.get(ctx, s.id)
			if ok != tc.want {
				t.Fatalf("session found: %v, want %v", ok, tc.want)
			}
			if ok && (got.rec.Token != "rls_secret-credential" || got.rec.CSRF != s.rec.CSRF) {
				t.Fatalf("the session read back is %+v, want the one made", got.rec)
			}
			if !ok && tc.after > 0 {
				if _, err := store.Get(ctx, storeKey(s.id)); err == nil {
					t.Fatal("an idle session was not deleted from the store")
				}
			}
		})
	}
}
