package app

import (
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/term"

	"github.com/tmsync/tmsync/tmsync"
)

// Console writes the old pipeline's "LEVEL: message" lines. On a terminal it also keeps
// a status line at the bottom (images done, in flight); in CodeBuild (not a terminal) it
// writes plain lines only. It is a tmsync.Observer, safe for concurrent use.
type Console struct {
	W io.Writer
	// Terminal turns the status line on.
	Terminal bool
	// Redactor cleans every line (secrets removed, control characters escaped). Nil:
	// control characters are still escaped.
	Redactor *tmsync.Redactor

	mu      sync.Mutex
	total   int
	done    int
	running int
}

// newConsole is a Console on w, with a status line when w is a terminal.
func newConsole(w io.Writer, red *tmsync.Redactor) *Console {
	return &Console{W: w, Terminal: isTerminal(w), Redactor: red}
}

// Event implements tmsync.Observer.
func (c *Console) Event(e tmsync.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Terminal {
		fmt.Fprint(c.W, "\r\x1b[K") // clear the status line before a log line
	}
	e.Image, e.Message = c.Redactor.Clean(e.Image), c.Redactor.Clean(e.Message)
	switch e.Kind {
	case tmsync.EventBegin:
		c.total = e.Total
		fmt.Fprintf(c.W, "INFO: %s\n", e.Message)
	case tmsync.EventStart:
		c.running++
		fmt.Fprintf(c.W, "INFO: %s\n", e.Message)
	case tmsync.EventDone, tmsync.EventSkip:
		if e.Kind == tmsync.EventDone {
			c.running--
		}
		c.done++
		msg := e.Message
		if e.Kind == tmsync.EventSkip {
			msg = "SKIP: " + e.Image + ": " + e.Message
		}
		fmt.Fprintf(c.W, "INFO: [%d/%d] %s\n", c.done, c.total, msg)
	case tmsync.EventFail:
		if e.Running {
			c.running--
		}
		c.done++
		fmt.Fprintf(c.W, "ERROR: [%d/%d] %s: %s\n", c.done, c.total, e.Image, e.Message)
	case tmsync.EventError:
		// After the image's progress line: an error found later (the scan gate).
		fmt.Fprintf(c.W, "ERROR: %s: %s\n", e.Image, e.Message)
	case tmsync.EventWarn, tmsync.EventRetry:
		fmt.Fprintf(c.W, "WARNING: %s: %s\n", e.Image, e.Message)
	default:
		if e.Image != "" {
			fmt.Fprintf(c.W, "INFO: %s: %s\n", e.Image, e.Message)
		} else {
			fmt.Fprintf(c.W, "INFO: %s\n", e.Message)
		}
	}
	if c.Terminal && c.total > 0 {
		fmt.Fprintf(c.W, "tmsync: %d/%d images done, %d copying", c.done, c.total, max(c.running, 0))
	}
}

// Printf writes one line (format has no newline) cleaned like an event's.
func (c *Console) Printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintln(c.W, c.Redactor.Clean(fmt.Sprintf(format, args...)))
}

// finish ends the status line.
func (c *Console) finish() {
	if c.Terminal {
		fmt.Fprint(c.W, "\r\x1b[K")
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
