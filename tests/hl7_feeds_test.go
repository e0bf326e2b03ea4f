package tests

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/adapters/mllp"
)

// Real hospital feeds (issue 12) against the real binary over real TCP.

// corpusDir holds the public samples (adapters/hl7/testdata/SOURCES.md).
var corpusDir = filepath.Join("..", "adapters", "hl7", "testdata")

// readMSA reads MSA-1 and MSA-2 of an ACK (standard separators or not:
// MSH's fourth byte is the field separator).
func readMSA(ack []byte) (code, control, text string) {
	if len(ack) < 4 {
		return "", "", ""
	}
	sep := string(ack[3])
	for _, seg := range strings.Split(string(ack), "\r") {
		if f := strings.Split(seg, sep); f[0] == "MSA" && len(f) > 3 {
			return f[1], f[2], f[3]
		}
	}
	return "", "", ""
}

// On one connection, every complete frame gets an answer and the
// connection stays open: the public corpus, a frame with a stray start
// block, one without the CR after its end block, garbage, an empty frame.
// Every message answered AA that records is then in the ledger.
func TestTheMLLPServerAnswersEveryCompleteFrame(t *testing.T) {
	conf, err := filepath.Abs(filepath.Join(corpusDir, "facilities.conf"))
	if err != nil {
		t.Fatal(err)
	}
	s := startServe(t, t.TempDir(), "--facilities", conf)
	files, _ := filepath.Glob(filepath.Join(corpusDir, "corpus", "*.hl7"))
	if len(files) < 25 {
		t.Fatalf("%d corpus files", len(files))
	}
	c, err := net.Dial("tcp", s.MLLP)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := mllp.NewReader(c, 0)
	send := func(t *testing.T, framed []byte) []byte {
		t.Helper()
		c.SetDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
		if _, err := c.Write(framed); err != nil {
			t.Fatalf("write: %v", err)
		}
		reply, err := r.ReadFrame()
		if err != nil {
			t.Fatalf("no answer to a complete frame: %v\n%s", err, s.logs())
		}
		return reply
	}
	frame := func(b []byte) []byte { return append(append([]byte{0x0b}, b...), 0x1c, 0x0d) }
	recorded := map[string]bool{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		code, control, text := readMSA(send(t, frame(raw)))
		if code == "" {
			t.Fatalf("%s: no MSA in the answer", filepath.Base(f))
		}
		if code == "AA" && text != "received, nothing to do" {
			recorded[control] = true
		}
	}
	a04, _ := os.ReadFile(filepath.Join(corpusDir, "corpus", "hapi_a03_santer_v25_lf.hl7"))
	tests := []struct {
		name   string
		framed []byte
		code   string
	}{
		{"a stray start block inside the frame is AE", frame(bytes.Replace(a04, []byte("PID|"), []byte("PID|\x0b"), 1)), "AE"},
		{"an end block without its CR is answered", append(append([]byte{0x0b}, a04...), 0x1c), "AA"},
		{"garbage is answered", frame([]byte("hello")), "AE"},
		{"an empty frame is answered", frame(nil), "AE"},
		{"and the connection still takes messages", frame(a04), "AA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, _, _ := readMSA(send(t, tt.framed)); code != tt.code {
				t.Fatalf("MSA-1 %q, want %s", code, tt.code)
			}
		})
	}
	c.Close()
	s.stop(t)
	seen := map[string]bool{}
	for _, e := range ledgerEvents(t, s.Data) {
		seen[e.Source.MessageID] = true
	}
	for control := range recorded {
		if !seen[control] {
			t.Errorf("control id %q was answered AA but is not in the ledger", control)
		}
	}
	if len(recorded) < 10 {
		t.Fatalf("only %d messages recorded", len(recorded))
	}
}

// A facilities file that cannot be used stops serve at start, naming the
// file and line.
func TestABadFacilitiesFileIsRefusedAtStartNamingTheLine(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, body, want string }{
		{"an unknown time zone", "[HSTA]\ntimezone = America/Nowhere\n", "bad.conf:2: timezone"},
		{"a bad CIDR", "[HSTA]\nsources = 10.0.0.0/33\n", "bad.conf:2: sources"},
		{"a key outside a section", "charset = utf-8\n[HSTA]\n", "bad.conf:1:"},
		{"a facility twice", "[HSTA]\n[HLAU]\n[HSTA]\n", "bad.conf:3: facility \"HSTA\" already declared on line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(dir, "bad.conf")
			if err := os.WriteFile(file, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, errOut, code := runRelais(t, "serve", "--data", t.TempDir(), "--facilities", file, "--http", "127.0.0.1:0", "--mllp", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0")
			if code != 2 || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr %q; want 2 naming %q", code, errOut, tt.want)
			}
		})
	}
}
