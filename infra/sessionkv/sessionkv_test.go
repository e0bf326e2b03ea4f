package sessionkv_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/relais-health/relais/infra/natsembed"
	"github.com/relais-health/relais/infra/sessionkv"
)

func TestTwoOpensShareOneBucketAndDeleteIsEverywhere(t *testing.T) {
	srv, err := natsembed.Start(natsembed.Config{DataDir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	ctx := context.Background()
	open := func(idle time.Duration) *sessionkv.Store {
		nc, err := nats.Connect(srv.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		s, err := sessionkv.Open(ctx, nc, idle, 1)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := open(30*time.Minute), open(10*time.Minute) // the second start sets another idle timeout
	if err := a.Put(ctx, "k1", []byte("sealed")); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		do      func() error
		from    *sessionkv.Store
		want    string
		wantErr error
	}{
		{name: "written on A, read on B", from: b, want: "sealed"},
		{name: "a key never written is not found", from: a, wantErr: sessionkv.ErrNotFound},
		{name: "deleted on B, gone on A", do: func() error { return b.Delete(ctx, "k1") }, from: a, wantErr: sessionkv.ErrNotFound},
		{name: "deleting again is no error", do: func() error { return a.Delete(ctx, "k1") }, from: b, wantErr: sessionkv.ErrNotFound},
	}
	for i, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.do != nil {
				if err := s.do(); err != nil {
					t.Fatal(err)
				}
			}
			key := "k1"
			if i == 1 {
				key = "k2"
			}
			got, err := s.from.Get(ctx, key)
			if !errors.Is(err, s.wantErr) || string(got) != s.want {
				t.Fatalf("Get = %q, %v; want %q, %v", got, err, s.want, s.wantErr)
			}
		})
	}
	if _, err := sessionkv.Open(ctx, nil, 0, 1); err == nil {
		t.Fatal("a zero idle timeout was taken")
	}
}
