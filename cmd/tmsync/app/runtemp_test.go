package app

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
)

// TestRemoveAllWhileWritten: a hard stop removes the run's folders while its writers may
// still make files in them (a download moved into the store): a removal that fails for it
// ("directory not empty") is tried again, and the folder is gone.
func TestRemoveAllWhileWritten(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tmsync-run-x")
	sub := filepath.Join(dir, "tmsync-blobs-1", "blobs", "sha256")
	must(t, os.MkdirAll(sub, 0o700))
	must(t, os.WriteFile(filepath.Join(sub, "blob"), nil, 0o600))
	var calls atomic.Int32
	removeTree = func(p string) error {
		if calls.Add(1) <= 2 {
			// What a writer racing the removal causes: a file made in a folder already
			// read, and the folder's removal refused.
			_ = os.WriteFile(filepath.Join(sub, fmt.Sprint("new", calls.Load())), nil, 0o600)
			return &os.PathError{Op: "unlinkat", Path: sub, Err: syscall.ENOTEMPTY}
		}
		return os.RemoveAll(p)
	}
	defer func() { removeTree = os.RemoveAll }()
	removeAll(dir)
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("%s left after %d tries", dir, calls.Load())
	}
}

// TestRunTempsAfterHardStop: a run that makes its folders after a hard stop took its list
// removes them itself and works without them.
func TestRunTempsAfterHardStop(t *testing.T) {
	base := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", base)
	hardStop.mu.Lock()
	saved := hardStop.stopping
	hardStop.stopping = true
	hardStop.mu.Unlock()
	defer func() {
		hardStop.mu.Lock()
		hardStop.stopping = saved
		hardStop.mu.Unlock()
	}()
	temps := newRunTemps(base, true)
	if temps.disk != "" || temps.mem != "" {
		t.Errorf("folders handed out after the stop: %+v", temps)
	}
	if entries, _ := os.ReadDir(base); len(entries) != 0 {
		t.Errorf("left in %s: %v", base, entries)
	}
}
