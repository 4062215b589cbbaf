package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tmsync/tmsync/internal/faultproxy"
)

// TestTargetFailureSummarised: the target refuses every image of a 150-image release
// (wrong credentials: it answers /v2/, so the preflight passes it). The console says so
// once with the count, in at most 10 lines; the error log has a line per image.
func TestTargetFailureSummarised(t *testing.T) {
	r := newRelBed(t, faultproxy.Config{})
	rel, _ := r.release(150, 3)
	bad := filepath.Join(t.TempDir(), "auth.json")
	must(t, os.WriteFile(bad, []byte(`{"auths":{}}`), 0o600))
	args := without(r.args(rel, "--retries", "0"), "--authfile")
	// Past the preflight, which stops a run with no credentials for the target (below).
	args = append(args, "--authfile", bad, "--skip-preflight")
	code, out := r.run(args)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) > 10 {
		t.Errorf("%d console lines, want at most 10", len(lines))
	}
	if !strings.Contains(out, "ERROR: 150 images failed") {
		t.Errorf("the console does not count the failures of one cause once")
	}
	log := r.errorLog()
	if n := strings.Count(log, "\n"); n != 150 {
		t.Errorf("error log has %d lines, want 150", n)
	}
}

// TestTargetWithoutCredentials: a registry target that asks for credentials when the
// auth file has none for it stops the run at the preflight, exit 2, one line that says so,
// and nothing pushed (it used to start and fail every image at its lookup, exit 1).
func TestTargetWithoutCredentials(t *testing.T) {
	r := newRelBed(t, faultproxy.Config{})
	rel, _ := r.release(3, 3)
	bad := filepath.Join(t.TempDir(), "auth.json")
	must(t, os.WriteFile(bad, []byte(`{"auths":{}}`), 0o600))
	args := append(without(r.args(rel), "--authfile"), "--authfile", bad)
	code, out := r.run(args)
	if code != 2 {
		t.Fatalf("exit %d, want 2:\n%s", code, out)
	}
	if !strings.Contains(out, "asks for credentials and none were found for it") || strings.Contains(out, "START:") {
		t.Errorf("console:\n%s\nwant the preflight's line and no copy started", out)
	}
	if log := r.errorLog(); !strings.Contains(log, "asks for credentials") {
		t.Errorf("error log %q, want the preflight's problem", log)
	}
	if st := r.targetState(); len(st) != 0 {
		t.Errorf("the target holds %v after a run stopped at the preflight", st)
	}
}

// TestHeartbeatSlowSource: with a slow source and no terminal, a heartbeat line comes
// every --heartbeat with the images done and the ones in flight, named with how long.
func TestHeartbeatSlowSource(t *testing.T) {
	r := newRelBed(t, faultproxy.Config{Latency: 400 * time.Millisecond, Match: faultproxy.ExceptPing})
	rel, _ := r.release(2, 5)
	code, out := r.run(r.args(rel, "--heartbeat", "300ms", "--concurrency", "1"))
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	beats := regexp.MustCompile(`(?m)^INFO: heartbeat: \d/2 images done, 1 in flight \([^)]*vault/svc-0\d:5.0.3 for \d+s\), ([0-9.]+ [KM]?i?B) of ([0-9.]+ [KM]?i?B) moved at [0-9.]+ [KM]?i?B/s, ETA ([0-9hms.]+|-)(; nothing moved since the last heartbeat: vault/svc-0\d:5.0.3)?$`).FindAllStringSubmatch(out, -1)
	if len(beats) < 2 {
		t.Fatalf("%d heartbeat lines naming the image in flight, want at least 2", len(beats))
	}
	var stalled, moved, eta bool
	for _, b := range beats {
		stalled = stalled || b[4] != ""
		moved = moved || b[1] != "0 B"
		eta = eta || b[3] != "-"
		if b[2] == "0 B" {
			t.Errorf("a heartbeat has no bytes to move: %s", b[0])
		}
	}
	if !stalled || !moved || !eta {
		t.Errorf("no heartbeat names a stalled image (%v), counts bytes moved (%v) or gives an ETA (%v)", stalled, moved, eta)
	}
	// Off with 0.
	code, out = r.run(r.args(rel, "--heartbeat", "0"))
	if code != 0 || strings.Contains(out, "heartbeat") {
		t.Fatalf("exit %d, heartbeat with --heartbeat 0:\n%s", code, out)
	}
}
