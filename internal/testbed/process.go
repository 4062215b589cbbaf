package testbed

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// EnvIntegration is the environment variable that makes missing integration pieces fail
// tests instead of skipping them. CI sets it to "require".
const EnvIntegration = "TMSYNC_INTEGRATION"

// Required reports whether integration tests must run (TMSYNC_INTEGRATION=require).
func Required() bool { return os.Getenv(EnvIntegration) == "require" }

// NeedProgram finds name on PATH, or skips the test (fails it when integration is required)
// with a message that says how to install it.
func NeedProgram(t TB, name, install string) string {
	t.Helper()
	if os.Getenv(EnvIntegration) == "skip" {
		t.Skipf("integration tests are off (%s=skip)", EnvIntegration)
	}
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s is not installed (%s); run `make deps` or install it", name, install)
	if Required() {
		t.Fatalf("integration required (%s=require): %s", EnvIntegration, msg)
	}
	t.Skip(msg)
	return ""
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	return p
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// process is a child process that dies with the test binary and is stopped at cleanup.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *LockedBuffer
	done chan struct{}
	err  error
}

// LockedBuffer is a bytes.Buffer safe for concurrent writes (a process's output, a log
// handler's), kept to its first MiB: the start is what explains a failure.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 { // keep the log bounded; the start is what explains a failure
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startProcess starts argv and waits until ready returns nil. The process is killed when
// the test ends, and also when the test binary dies (Pdeathsig), so no server outlives a
// crashed test run.
func startProcess(name string, argv []string, dir string, ready func(context.Context) error, timeout time.Duration) (*process, error) {
	p := &process{name: name, out: &LockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Dir = dir
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	p.cmd.Env = os.Environ()
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for {
		if last = ready(ctx); last == nil {
			break
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited before it was ready (%v); its output:\n%s", name, p.err, p.out.String())
		case <-ctx.Done():
			p.stop()
			return nil, fmt.Errorf("%s not ready after %s: %v; its output:\n%s", name, timeout, last, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return p, nil
}

// stop ends the process (and its children) and waits for it.
func (p *process) stop() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// stopAtCleanup stops p when the test ends, and shows its output if the test failed.
func (p *process) stopAtCleanup(t TB) {
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", p.name, p.out.String())
		}
	})
}

// httpReady returns a readiness probe that succeeds once url answers with any of codes.
func httpReady(url string, codes ...int) func(context.Context) error {
	client := &http.Client{Timeout: time.Second}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		for _, c := range codes {
			if resp.StatusCode == c {
				return nil
			}
		}
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
}

func portString(p int) string { return strconv.Itoa(p) }
