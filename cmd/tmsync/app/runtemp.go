package app

import (
	"os"
	"sync"
	"time"
)

// runTemps are the folders under which a run's engine makes its temporary blob store
// (WithStoreParent), its blob info cache (WithBlobInfoCacheDir) and a packed bundle's
// extraction (bundle.WithTempDir): each is made new for the run, so that all it holds is
// the run's. The engine and the bundle remove what they made when the run ends; a hard
// stop (a second signal) ends the process without that, and the store can hold gigabytes
// of blobs: it removes these folders instead (hardStopState.stop), and the run's end
// removes them too.
type runTemps struct {
	disk string // under os.TempDir() (TMPDIR): the store, a bundle's extraction
	mem  string // under XDG_RUNTIME_DIR, else /dev/shm (a tmpfs): the blob info cache
}

// newRunTemps makes the run's folders and hands them to the hard stop: the disk one under
// diskBase ("": os.TempDir()), the memory one only withMem (a run with an engine; bundle
// verify extracts to disk only). A folder that cannot be made is "": the engine's default
// is used for it.
func newRunTemps(diskBase string, withMem bool) runTemps {
	var t runTemps
	if d, err := os.MkdirTemp(diskBase, "tmsync-run-"); err == nil {
		t.disk = d
	}
	if withMem {
		base := os.Getenv("XDG_RUNTIME_DIR")
		if base == "" {
			base = "/dev/shm"
		}
		if d, err := os.MkdirTemp(base, "tmsync-run-"); err == nil {
			t.mem = d
		} else {
			t.mem = t.disk
		}
	}
	if hardStop.addTemps(t.disk, t.mem) {
		removeAll(t.disk, t.mem) // a hard stop under way: it has taken its list already
		return runTemps{}
	}
	return t
}

// remove removes the run's folders and everything in them.
func (t runTemps) remove() {
	hardStop.dropTemps(t.disk, t.mem)
	removeAll(t.disk, t.mem)
}

// removeAll removes the folders dirs ("" skipped), waiting 2 s at most: a hard stop must
// not be held by a slow disk. A hard stop removes them while the run's writers may still
// be at work (a download moved into the store, a bundle's file unpacked), so a removal
// that fails (a file made in a folder already listed) is tried again until that time.
func removeAll(dirs ...string) {
	deadline := time.Now().Add(hardStopWait)
	var wg sync.WaitGroup
	seen := map[string]bool{"": true} // mem is disk when no tmpfs folder could be made
	for _, d := range dirs {
		if seen[d] {
			continue
		}
		seen[d] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			for removeTree(d) != nil && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(hardStopWait):
	}
}

// removeTree is os.RemoveAll; a test makes it fail as a writer racing it does.
var removeTree = os.RemoveAll
