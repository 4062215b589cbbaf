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
	buf := make([]byte, 1<<20)
	for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
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
