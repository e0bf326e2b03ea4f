package natsembed

import (
	"errors"
	"strings"
	"testing"
)

func TestHighWaterNeverGoesDownAndNamesALostRange(t *testing.T) {
	dir := t.TempDir()
	a, err := OpenHighWater(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenHighWater(dir, false) // a second process on the same file
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	steps := []struct {
		h    *HighWater
		mark uint64
		want uint64
	}{
		{a, 5, 5},
		{b, 9, 9},
		{a, 7, 9}, // a does not know of 9 but must not lower it
		{a, 12, 12},
		{b, 3, 12},
	}
	for _, s := range steps {
		if err := s.h.Mark(s.mark); err != nil {
			t.Fatal(err)
		}
		if got, err := ReadHighWater(dir); err != nil || got != s.want {
			t.Fatalf("after Mark(%d): %d, %v; want %d", s.mark, got, err, s.want)
		}
	}
	checks := []struct {
		last    uint64
		wantErr bool
	}{{12, false}, {20, false}, {10, true}, {0, true}}
	for _, c := range checks {
		err := CheckHighWater(dir, c.last)
		var le *LostError
		if c.wantErr != errors.Is(err, ErrPositionsLost) {
			t.Fatalf("CheckHighWater(last %d): %v", c.last, err)
		}
		if c.wantErr && (!errors.As(err, &le) || le.From != c.last+1 || le.To != 12 ||
			!strings.Contains(err.Error(), "positions ")) {
			t.Errorf("CheckHighWater(last %d): %v, want positions %d..12", c.last, err, c.last+1)
		}
	}
	if got, err := ReadHighWater(t.TempDir()); err != nil || got != 0 {
		t.Errorf("no mark file: %d, %v", got, err)
	}
}
