package tests

import (
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// The outcome chart renders in a real browser (Debian's chromium, headless):
// a programme manager can drop it in a report.
func TestOutcomeChartRendersInChromium(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("RELAIS_REQUIRE_CHROMIUM") != "" {
			t.Fatal("chromium is required here (RELAIS_REQUIRE_CHROMIUM is set, as .ci/run does) but not installed")
		}
		t.Skip("chromium is not installed here; .ci/run installs it (apt-get install chromium) and requires this test")
	}
	data := t.TempDir()
	if out, errs, code := runRelais(t, "simulate", "--data", data, "--durability", "relaxed", "--clients", "2000", "--years", "3", "--seed", "5", "--end", "2026-11-01T00:00:00Z"); code != 0 {
		t.Fatalf("simulate: %s %s", out, errs)
	}
	svgPath := filepath.Join(t.TempDir(), "outcomes.svg")
	if out, errs, code := runRelais(t, "report", "outcomes", "--data", data, "--format", "svg", "--as-of", "2026-11-01T00:00:00Z", "--out", svgPath); code != 0 {
		t.Fatalf("outcomes: %s %s", out, errs)
	}
	pngPath := filepath.Join(t.TempDir(), "outcomes.png")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+t.TempDir(),
		"--window-size=1000,650", "--screenshot="+pngPath, "file://"+svgPath)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(pngPath)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// The bars are drawn in two blues/greys: count coloured pixels.
	coloured := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if bl > r+0x2000 && bl > g { // blue-ish: the "after" bars
				coloured++
			}
		}
	}
	if coloured < 200 {
		t.Fatalf("the rendered chart shows almost no bars (%d blue pixels sampled)", coloured)
	}
	t.Logf("rendered %dx%d, %d blue pixels sampled", b.Dx(), b.Dy(), coloured)
}
