// Command tmsync-prof is `tmsync` with profiling: it takes the arguments tmsync-bench
// passes to tmsync, runs them through the command line's own package (cmd/tmsync/app, the
// same code as bin/tmsync: no flag is parsed here) and writes, when the variables are set:
//
//	TMSYNC_CPUPROFILE  CPU profile (go tool pprof)
//	TMSYNC_MEMPROFILE  heap profile at the end (allocations: -sample_index=alloc_space)
//	TMSYNC_TRACE       execution trace (go tool trace): where the wall time goes
//	TMSYNC_BLOCKPROFILE  blocking profile (wall time spent waiting, by stack)
//	TMSYNC_TIMELINE    tmsync's output, each line prefixed with the seconds since start
//
// Use it as `tmsync-bench -tmsync bench/out/tmsync-prof -keep` with TMSYNC_CPUPROFILE=1
// set: tmsync-bench then puts cpu.prof, mem.prof and timeline.txt into every run's
// folder, and trace.out and block.prof too when TMSYNC_TRACE=1 is set (they slow the
// run); TMSYNC_LOG_LEVEL is passed on.
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"sync"
	"syscall"
	"time"

	"github.com/tmsync/tmsync/cmd/tmsync/app"
)

func main() {
	stop := start()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stdout, stderr := io.Writer(os.Stdout), io.Writer(os.Stderr)
	if p := os.Getenv("TMSYNC_TIMELINE"); p != "" {
		if f, err := os.Create(p); err == nil {
			defer f.Close()
			tl := &timeline{w: f, start: time.Now()}
			stdout, stderr = io.MultiWriter(os.Stdout, tl), io.MultiWriter(os.Stderr, tl)
		}
	}
	code := app.Run(ctx, os.Args, stdout, stderr)
	cancel()
	stop()
	os.Exit(code)
}

// start starts the profiles the environment asks for and returns what stops them.
func start() func() {
	var stops []func()
	if p := os.Getenv("TMSYNC_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil && pprof.StartCPUProfile(f) == nil {
			stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
		}
	}
	if p := os.Getenv("TMSYNC_TRACE"); p != "" {
		if f, err := os.Create(p); err == nil && trace.Start(f) == nil {
			stops = append(stops, func() { trace.Stop(); f.Close() })
		}
	}
	if p := os.Getenv("TMSYNC_BLOCKPROFILE"); p != "" {
		runtime.SetBlockProfileRate(100000) // one event per 100 µs blocked
		stops = append(stops, func() { write(p, "block") })
	}
	if p := os.Getenv("TMSYNC_MEMPROFILE"); p != "" {
		stops = append(stops, func() { runtime.GC(); write(p, "allocs") })
	}
	return func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
}

func write(path, profile string) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_ = pprof.Lookup(profile).WriteTo(f, 0)
}

// timeline writes every complete line it is given prefixed with the seconds since start.
type timeline struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	buf   []byte
}

func (t *timeline) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	for {
		i := bytes.IndexByte(t.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		fmt.Fprintf(t.w, "%7.3f %s\n", time.Since(t.start).Seconds(), t.buf[:i])
		t.buf = t.buf[i+1:]
	}
}
