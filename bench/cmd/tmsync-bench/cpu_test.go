package main

import (
	"crypto/sha256"
	"os"
	"testing"
	"time"
)

// TestProcCPU: /proc/<pid>/stat's utime and stime, read for this process after burning
// CPU, agree with getrusage within a few clock ticks; an absent process is unknown.
func TestProcCPU(t *testing.T) {
	// Burn 300 ms of CPU, not of wall time: on a loaded machine 300 ms of wall time can
	// be well under 200 ms of this process's CPU (a CI run failed so).
	buf := make([]byte, 1<<20)
	for start := time.Now(); selfCPU() < 300*time.Millisecond && time.Since(start) < 30*time.Second; {
		sha256.Sum256(buf)
	}
	got, ok := procCPU(os.Getpid())
	want := selfCPU()
	if !ok || got < 200*time.Millisecond || got > want+50*time.Millisecond || got < want-200*time.Millisecond {
		t.Fatalf("procCPU(self) = %s, %v; getrusage says %s", got, ok, want)
	}
	if d, ok := procCPU(1 << 30); ok || d != 0 {
		t.Fatalf("procCPU of no process = %s, %v", d, ok)
	}
}
