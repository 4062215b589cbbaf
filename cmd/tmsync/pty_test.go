package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/tmsync/tmsync/internal/faultproxy"
	"github.com/tmsync/tmsync/internal/vtscreen"
)

// TestLiveViewOnATerminal runs tmsync sync on a pseudo-terminal with a slow source: while
// it runs the status block shows images done and copying, bytes and rate; at the end the
// screen holds only log lines, none joined to a status line (the old "…1 copyingINFO:").
func TestLiveViewOnATerminal(t *testing.T) {
	r := newRelBed(t, faultproxy.Config{Latency: 150 * time.Millisecond, Match: faultproxy.ExceptPing})
	rel, _ := r.release(3, 9)
	args := r.args(rel, "--concurrency", "2")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "TMSYNC_TEST_MAIN=1")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 200})
	must(t, err)
	defer tty.Close()
	var raw bytes.Buffer
	io.Copy(&raw, tty) // until the child exits (EIO)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tmsync on a terminal: %v\n%q", err, raw.String())
	}
	out := raw.String()
	r.noSecrets(out)
	if !strings.Contains(out, "\x1b[") || !strings.Contains(out, "images done, ") || !strings.Contains(out, "/s, ETA") {
		t.Errorf("no status block drawn:\n%q", out)
	}
	sc := &vtscreen.Screen{}
	sc.Write(out)
	screen := sc.Text()
	t.Logf("screen at the end:\n%s", screen)
	for _, l := range strings.Split(screen, "\n") {
		if !strings.HasPrefix(l, "INFO: ") && !strings.HasPrefix(l, "WARNING: ") {
			t.Errorf("a line that is not a log line is left on the screen: %q", l)
		}
		if strings.Count(l, "INFO:")+strings.Count(l, "WARNING:") > 1 || strings.Contains(l, "copying") {
			t.Errorf("a status line joined to a log line: %q", l)
		}
	}
	if !strings.Contains(screen, "INFO: sync finished: 3 images: 3 copied") {
		t.Errorf("the screen lacks the end of the run")
	}
}
