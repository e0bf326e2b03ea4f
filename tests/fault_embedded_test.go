package tests

import (
	"context"
	"testing"
)

// kill -9 of the embedded `relais serve` in a loop under HTTP load (the
// single kill with appends straight to NATS is crash_test.go): after every
// restart nothing acknowledged over HTTP is lost or duplicated, revisions
// follow each other and no position is skipped. RELAIS_SOAK=1 loops ten
// times with longer load.
func TestFaultEmbeddedServeKill9Loop(t *testing.T) {
	data := t.TempDir()
	loops, per := 3, 100
	if soak() {
		loops, per = 10, 1000
	}
	srv := startServe(t, data, "--demo", "--demo-every", "0", "--seal-key", "demo")
	g := &loadGen{}
	for range loops {
		g.targets = []string{"http://" + srv.HTTP}
		ctx, cancel := context.WithCancel(context.Background())
		wg := g.run(ctx, 4)
		g.waitMore(t, per)
		srv.kill(t)
		cancel()
		wg.Wait()
		srv = startServe(t, data, "--seal-key", "demo")
	}
	nc := srv.natsConnect(t)
	defer nc.Close()
	f := check(t, nc, 1, g.acks)
	t.Logf("%d kill -9 under load: %d acknowledged, %d failed (in flight at the kill)", loops, len(g.acks), g.failed)
	for _, m := range f.msgs {
		t.Error(m)
	}
	if f.missing+f.duplicates+f.revisions+f.gaps+f.alertsTwice != 0 {
		t.Fatalf("missing %d, duplicated %d, revision violations %d, gaps %d, alerts raised twice %d",
			f.missing, f.duplicates, f.revisions, f.gaps, f.alertsTwice)
	}
}
