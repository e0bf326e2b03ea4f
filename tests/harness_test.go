package tests

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/relais-health/relais/internal/poll"
)

// relaisBin is the binary built once for the whole package.
var relaisBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "relais-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	relaisBin = filepath.Join(dir, "relais")
	build := exec.Command("go", "build", "-o", relaisBin, "../cmd/relais")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build relais:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// server is a running `relais serve` process.
type server struct {
	cmd      *exec.Cmd
	Data     string
	HTTP     string
	NATS     string
	MLLP     string
	mu       sync.Mutex
	stderr   strings.Builder
	exited   chan struct{}
	extraEnv []string
}

// startServe runs `relais serve` on data with random ports and waits until
// /healthz answers.
func startServe(t *testing.T, data string, args ...string) *server {
	t.Helper()
	s := &server{Data: data, HTTP: freeAddr(t), NATS: freeAddr(t), MLLP: freeAddr(t), exited: make(chan struct{})}
	full := append([]string{"serve", "--data", data, "--http", s.HTTP, "--nats-listen", s.NATS, "--mllp", s.MLLP}, args...)
	s.cmd = exec.Command(relaisBin, full...)
	s.cmd.Dir = workDir(t, full)
	pipe, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			s.mu.Lock()
			s.stderr.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
		}
		s.cmd.Wait() //nolint:errcheck
		close(s.exited)
	}()
	t.Cleanup(func() { s.stop(t) })
	poll.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		select {
		case <-s.exited:
			return fmt.Errorf("relais serve exited: %s", s.logs())
		default:
		}
		resp, err := http.Get("http://" + s.HTTP + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("healthz %d", resp.StatusCode)
		}
		return nil
	})
	return s
}

func (s *server) logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGKILL) //nolint:errcheck
	<-s.exited
}

// stop asks for a graceful shutdown (SIGTERM) and waits.
func (s *server) stop(t *testing.T) {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		t.Errorf("relais serve did not stop on SIGTERM")
		s.cmd.Process.Kill() //nolint:errcheck
		<-s.exited
	}
}

// runRelais runs a one-shot relais command and returns its output and exit code.
func runRelais(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, relaisBin, args...)
	cmd.Dir = workDir(t, args)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run relais %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// workDir is an empty working directory for one relais process. Tests pass
// --data explicitly; a command that ignored it would fall back to ./data,
// which must land here and fail the test rather than leave a JetStream
// store in the checkout (as tests/data once was, when events append read
// --data as its payload).
func workDir(t *testing.T, args []string) string {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
			t.Errorf("relais %s wrote ./data in its working directory: --data was not honoured", strings.Join(args, " "))
		}
	})
	return dir
}
