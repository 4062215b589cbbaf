package app

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tmsync/tmsync/tmsync"
)

// hardStop is what a second signal (NotifyContext) needs to know of the run in this
// process: the output files it writes and which of them it has written. A second signal
// does not wait for the run to wind down: it says so in the error log, removes the gate
// files an earlier run left (the run did not replace them), and exits.
var hardStop = &hardStopState{}

type hardStopState struct {
	// writes is held by each write of an output file (writeOutputFile) and, for good, by a
	// hard stop: the stop waits for a write in progress (milliseconds) so that none is cut
	// half-way and leaves its temporary file, and no write starts after it.
	writes sync.Mutex

	mu       sync.Mutex
	errorLog string          // absolute; "" until a run names it
	gates    []string        // --report, --junit: absolute
	written  map[string]bool // absolute paths the run wrote
	console  *Console        // the run's, for the first signal's line (nil: none yet)
	temps    map[string]bool // the run's temporary folders (runTemps)
	stopping bool            // a hard stop has taken the temporary folders' list
}

// addTemps records folders a hard stop removes (runTemps); "" is skipped. It reports true,
// recording nothing, when a hard stop is under way: the caller removes them itself.
func (s *hardStopState) addTemps(dirs ...string) (stopping bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return true
	}
	if s.temps == nil {
		s.temps = map[string]bool{}
	}
	for _, d := range dirs {
		if d != "" {
			s.temps[d] = true
		}
	}
	return false
}

// dropTemps forgets folders the run removes itself.
func (s *hardStopState) dropTemps(dirs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range dirs {
		delete(s.temps, d)
	}
}

// arm records the outputs of the run a starts (runMode, runExport), and its console.
func (s *hardStopState) arm(a Args, console *Console) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.console = console
	s.errorLog = absPath(errorLogPath(a))
	s.gates = nil
	for _, p := range []string{a.Report, a.JUnit} {
		if p != "" {
			s.gates = append(s.gates, absPath(p))
		}
	}
	s.written = map[string]bool{}
}

// writeOutputFile is tmsync.WriteFileAtomic for the files a run writes, under the lock a
// hard stop takes.
func writeOutputFile(path string, encode func(io.Writer) error) error {
	hardStop.writes.Lock()
	defer hardStop.writes.Unlock()
	if err := tmsync.WriteFileAtomic(path, encode); err != nil {
		return err
	}
	hardStop.markWritten(path)
	return nil
}

// markWritten records that the run wrote the output file path.
func (s *hardStopState) markWritten(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.written != nil {
		s.written[absPath(path)] = true
	}
}

// firstSignal says on stderr, at once, that the first signal sig was taken (NotifyContext):
// without it the operator sees nothing change until the copies in flight are cut, and
// presses Ctrl-C again. One line, in the words of README's Ctrl-C paragraph: what the run
// does now, and how to stop it at once. The run's console, when it has one, takes down its
// status block for the line (on a terminal both are the same screen). It waits a second
// at most: a console nobody reads must not hold the signal back.
func (s *hardStopState) firstSignal(sig os.Signal, stderr io.Writer) {
	s.mu.Lock()
	console, running := s.console, s.errorLog != ""
	s.mu.Unlock()
	line := "WARNING: " + signalName(sig) + " received: stopping"
	if running {
		line += ": what is copying is cut, nothing more starts, then the report and error log are written"
	}
	line += "; press Ctrl-C again (a second SIGINT or SIGTERM) to stop at once"
	if running {
		line += ", without them"
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if console != nil {
			console.interject(stderr, line)
		} else {
			fmt.Fprintln(stderr, line)
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
}

// hardStopWait bounds the wait for a write in progress: a write to a hung file system
// must not hold the stop.
const hardStopWait = 2 * time.Second

// stop ends the run at once on sig, the second signal (first: the one before it): the
// error log gets a line saying so unless the run has already written a non-empty one
// (empty sync-error.log ⇔ exit 0 holds), the --report and --junit files the run has
// not written are removed (an earlier run's report or JUnit file would read as this
// run's, passed), and one line on stderr says what is lost. It returns the exit status,
// 128+n.
func (s *hardStopState) stop(first, sig os.Signal, stderr io.Writer) int {
	locked := false
	for deadline := time.Now().Add(hardStopWait); ; time.Sleep(10 * time.Millisecond) {
		if locked = s.writes.TryLock(); locked || time.Now().After(deadline) {
			break
		}
	}
	s.mu.Lock()
	errorLog, gates, written := s.errorLog, s.gates, s.written
	s.mu.Unlock()
	status := Interrupt{Signal: sig}.ExitStatus()
	what := "second " + signalName(sig)
	if first != nil && signalName(first) != signalName(sig) {
		what = signalName(sig) + " after " + signalName(first)
	}
	var msg string
	switch {
	case errorLog == "":
		msg = fmt.Sprintf("ERROR: %s: stopping now", what)
	case written[errorLog]:
		// The run's end (its error log written, and its report if it had one to write),
		// or a run that could not start (its error log only).
		msg = fmt.Sprintf("ERROR: %s: stopping now; the error log was written", what)
		if fi, err := os.Stat(errorLog); err == nil && fi.Size() == 0 {
			msg += s.logLine(errorLog, fmt.Sprintf("ERROR: run stopped by a %s as it ended (exit %d)\n", what, status))
		}
	default:
		var removed []string
		for _, p := range gates {
			if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() && !written[p] && os.Remove(p) == nil {
				removed = append(removed, p)
			}
		}
		msg = fmt.Sprintf("ERROR: %s: stopping now, without winding down: the report is not written and the error log lists no image", what)
		if len(removed) > 0 {
			msg += " (an earlier run's " + strings.Join(removed, ", ") + " removed)"
		}
		msg += s.logLine(errorLog, fmt.Sprintf("ERROR: run stopped at once by a %s: the report and this log's lines per image were not written; a rerun finishes the images not in place\n", what))
	}
	if !locked {
		msg += "; a file being written may be left beside it as a temporary .NAME.tmp* file"
	}
	// A console nobody reads (a full pipe) must not hold the exit.
	done := make(chan struct{})
	go func() {
		fmt.Fprintln(stderr, msg)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
	// Last, the gate files settled: the run's temporary blob store and caches, which the
	// run's own clean-up, not run now, would have removed. A run making its folders from
	// now on removes them itself (addTemps).
	s.mu.Lock()
	s.stopping = true
	var temps []string
	for d := range s.temps {
		temps = append(temps, d)
	}
	s.mu.Unlock()
	removeAll(temps...)
	return status
}

// logLine writes line as the whole error log at path; "" when it is written, else a
// phrase for the stderr message.
func (s *hardStopState) logLine(path, line string) string {
	if err := tmsync.WriteFileAtomic(path, func(w io.Writer) error { _, err := io.WriteString(w, line); return err }); err != nil {
		return fmt.Sprintf("; the error log could not be written: %v", err)
	}
	return ""
}
