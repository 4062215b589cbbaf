package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Peak RSS of a child is its ru_maxrss, but Go starts children with vfork semantics
// (CLONE_VM): the child inherits the parent's high-water mark at exec, so a child of this
// (large) bench process would report at least the bench's own peak. Every timed command
// therefore runs under a small wrapper: this same binary re-executed with wrapEnv set,
// whose fresh address space is a few MB; it runs the command and writes the command's
// wall time and ru_maxrss to file descriptor 3.
const wrapEnv = "TMSYNC_BENCH_WRAP"

// maybeWrap runs the wrapper and exits when this process is one.
func maybeWrap() {
	if os.Getenv(wrapEnv) != "1" {
		return
	}
	os.Unsetenv(wrapEnv)
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "wrapper: no command")
		os.Exit(2)
	}
	out := os.NewFile(3, "rusage")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	code := 0
	if err != nil {
		code = 1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			fmt.Fprintln(os.Stderr, "wrapper:", err)
			code = 127
		}
	}
	var rss int64
	var cpu time.Duration
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss = ru.Maxrss
		}
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if out != nil {
		fmt.Fprintf(out, "wall_ns=%d maxrss_kb=%d cpu_ns=%d\n", wall.Nanoseconds(), rss, cpu.Nanoseconds())
		out.Close()
	}
	os.Exit(code)
}

// wrapped turns cmd into the same command run under the wrapper, and returns a function
// that reads the child's wall time and peak RSS after cmd has finished.
func wrapped(cmd *exec.Cmd) (func() (time.Duration, int64, time.Duration, bool), error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	path := cmd.Path
	cmd.Args = append([]string{self, "--", path}, cmd.Args[1:]...)
	cmd.Path = self
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, wrapEnv+"=1")
	cmd.ExtraFiles = []*os.File{w}
	done := make(chan string, 1)
	go func() {
		b := make([]byte, 256)
		n, _ := r.Read(b)
		r.Close()
		done <- string(b[:n])
	}()
	return func() (time.Duration, int64, time.Duration, bool) {
		w.Close()
		s := <-done
		var wall, rss, cpu int64
		for _, f := range strings.Fields(s) {
			k, v, _ := strings.Cut(f, "=")
			n, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "wall_ns":
				wall = n
			case "maxrss_kb":
				rss = n
			case "cpu_ns":
				cpu = n
			}
		}
		return time.Duration(wall), rss, time.Duration(cpu), s != ""
	}, nil
}

// selfCPU is the bench process's CPU time so far (user + system).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is the CPU time (user + system) of process pid so far, from /proc; ok false
// when it cannot be read.
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 { // utime and stime are fields 14 and 15: 12 and 13 after the name
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clockTicks, true
}
