package natsembed

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// The syncer follows the server's blocks: it keeps syncing the one being
// written and moves to the next as soon as the server starts it.
func TestStreamSyncerFollowsNewBlocks(t *testing.T) {
	dir := t.TempDir()
	y := &StreamSyncer{dir: dir}
	if err := y.Sync(); err != nil || y.last != "" {
		t.Fatalf("empty stream: last %q, %v", y.last, err)
	}
	touch := func(name string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	touch("1.blk")
	touch("index.db")
	steps := []struct {
		create string
		want   string
	}{
		{"", "1.blk"},
		{"", "1.blk"},
		{"2.blk", "2.blk"},
		{"", "2.blk"},
		{"3.blk", "3.blk"},
	}
	for n := 4; n <= 10; n++ { // 10.blk comes after 9.blk: numbers, not names
		b := strconv.Itoa(n) + ".blk"
		steps = append(steps, struct {
			create string
			want   string
		}{b, b})
	}
	for i, s := range steps {
		if s.create != "" {
			touch(s.create)
		}
		if err := y.Sync(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if y.last != s.want || y.f == nil || filepath.Base(y.f.Name()) != s.want {
			t.Fatalf("step %d: syncing %q, want %q", i, y.last, s.want)
		}
	}
}
