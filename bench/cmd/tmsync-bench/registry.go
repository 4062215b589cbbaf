package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tmsync/tmsync/internal/testbed"
)

// registry is a CNCF distribution registry (docker-registry) on 127.0.0.1 with
// filesystem storage under dir.
type registry struct {
	Host     string // 127.0.0.1:PORT
	User     string // basic-auth user, "" when auth is off
	Password string
	dir      string
	cmd      *exec.Cmd
	done     chan struct{}
	profiled chan struct{} // closed when the TMSYNC_BENCH_REGPROF profile is written
}

// startRegistry starts docker-registry in a new folder under parent and waits until /v2/
// answers. With user set, htpasswd (bcrypt) basic auth is on.
func startRegistry(ctx context.Context, parent, name, user, password string) (*registry, error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return nil, fmt.Errorf("docker-registry is not installed (Debian package docker-registry; `make deps`): %w", err)
	}
	dir, err := os.MkdirTemp(parent, name+"-")
	if err != nil {
		return nil, err
	}
	r := &registry{User: user, Password: password, dir: dir}
	auth := ""
	if user != "" {
		h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			return nil, err
		}
		hp := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(hp, []byte(user+":"+string(h)+"\n"), 0o600); err != nil {
			return nil, err
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: tmsync-bench\n    path: %s\n", hp)
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ { // the free port may be taken before the bind
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		r.Host = "127.0.0.1:" + strconv.Itoa(port)
		cfg := testbed.RegistryConfig(filepath.Join(dir, "data"), r.Host, hex.EncodeToString(secret), auth)
		debug := ""
		if profileSeconds() > 0 {
			dport, err := freePort()
			if err != nil {
				return nil, err
			}
			debug = "127.0.0.1:" + strconv.Itoa(dport)
			if !strings.Contains(cfg, "\nhttp:\n") {
				return nil, fmt.Errorf("TMSYNC_BENCH_REGPROF: the registry configuration has no http section to add the debug address to")
			}
			cfg = strings.Replace(cfg, "\nhttp:\n", "\nhttp:\n  debug:\n    addr: "+debug+"\n", 1)
		}
		if accessLog() {
			const off = "level: error\n  accesslog:\n    disabled: true"
			if !strings.Contains(cfg, off) {
				return nil, fmt.Errorf("TMSYNC_BENCH_ACCESSLOG: the registry configuration's log section changed; cannot turn the access log on")
			}
			cfg = strings.Replace(cfg, off, "level: error\n  accesslog:\n    disabled: false", 1)
		}
		cfgPath := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			return nil, err
		}
		logf, err := os.Create(filepath.Join(dir, "registry.log"))
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "serve", cfgPath)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			logf.Close()
			return nil, err
		}
		r.cmd, r.done = cmd, make(chan struct{})
		go func() { _ = cmd.Wait(); logf.Close(); close(r.done) }()
		if lastErr = waitReady(ctx, "http://"+r.Host+"/v2/", r.done, 15*time.Second); lastErr == nil {
			if debug != "" {
				r.profiled = make(chan struct{})
				go func() { defer close(r.profiled); r.profile(debug, profileSeconds()) }()
			}
			return r, nil
		}
		r.kill()
	}
	b, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
	return nil, fmt.Errorf("starting docker-registry: %v; log: %s", lastErr, strings.TrimSpace(string(b)))
}

func waitReady(ctx context.Context, url string, exited <-chan struct{}, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	c := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-exited:
			return fmt.Errorf("exited before answering %s", url)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 || resp.StatusCode == 401 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer on %s within %s", url, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *registry) kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// cpu is the registry process's CPU time so far; ok false when unknown.
func (r *registry) cpu() (time.Duration, bool) {
	if r == nil || r.cmd == nil || r.cmd.Process == nil {
		return 0, false
	}
	return procCPU(r.cmd.Process.Pid)
}

// accessLog reports whether TMSYNC_BENCH_ACCESSLOG asks for the registries' access logs
// (every request, kept as logs/<name>-N.log in the working folder: counting requests by
// kind). Logging costs the registries CPU, so figures from such a run are not comparable.
func accessLog() bool { return os.Getenv("TMSYNC_BENCH_ACCESSLOG") != "" }

// profileSeconds is TMSYNC_BENCH_REGPROF: when set, every registry takes a CPU profile of
// its first N seconds, kept as logs/<name>.prof in the working folder.
func profileSeconds() int {
	n, _ := strconv.Atoi(os.Getenv("TMSYNC_BENCH_REGPROF"))
	return n
}

func (r *registry) profile(debug string, seconds int) {
	hc := &http.Client{Timeout: time.Duration(seconds)*time.Second + 10*time.Second}
	resp, err := hc.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", debug, seconds))
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: no CPU profile of the registry in %s: %v\n", r.dir, err)
		return
	}
	defer resp.Body.Close()
	logs := filepath.Join(filepath.Dir(r.dir), "logs")
	if os.MkdirAll(logs, 0o755) != nil {
		return
	}
	f, err := os.Create(filepath.Join(logs, filepath.Base(r.dir)+".prof"))
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}

// stop stops the registry and removes its storage (keeping its log with
// TMSYNC_BENCH_ACCESSLOG set).
func (r *registry) stop() {
	if r.profiled != nil {
		<-r.profiled
	}
	if accessLog() && r.cmd != nil && r.cmd.Process != nil {
		// The process's I/O counts (syscalls and bytes read and written) beside its log.
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", r.cmd.Process.Pid)); err == nil {
			logs := filepath.Join(filepath.Dir(r.dir), "logs")
			if os.MkdirAll(logs, 0o755) == nil {
				_ = os.WriteFile(filepath.Join(logs, filepath.Base(r.dir)+".io"), b, 0o644)
			}
		}
	}
	r.kill()
	if accessLog() {
		logs := filepath.Join(filepath.Dir(r.dir), "logs")
		if b, err := os.ReadFile(filepath.Join(r.dir, "registry.log")); err == nil && os.MkdirAll(logs, 0o755) == nil {
			_ = os.WriteFile(filepath.Join(logs, filepath.Base(r.dir)+".log"), b, 0o644)
		}
	}
	_ = os.RemoveAll(r.dir)
}

// storedBytes sums the sizes of the blobs the registry holds (manifests included).
func (r *registry) storedBytes() int64 {
	var n int64
	root := filepath.Join(r.dir, "data", "docker", "registry", "v2", "blobs")
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "data" {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// client returns a registry client for this registry.
func (r *registry) client() *regClient { return newRegClient(r.Host, r.User, r.Password) }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
