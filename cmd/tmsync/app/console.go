package app

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

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
	// Failures by cause: the first failLines of a cause are printed, the rest counted
	// (each is in the error log). storm is set while a cause repeats and no image is done:
	// START lines are then held back too.
	causes map[string]int
	storm  bool
	// quietSkip: no line for an image already in place (verify: that is the expected case).
	quietSkip bool
	// inflight: images whose copy has started, and when.
	inflight map[string]time.Time
}

// heartbeat writes a status line every interval until stop is called: images done and in
// flight, and the images in flight longest (a stalled source or target shows as an image
// whose time grows from one heartbeat to the next). For logs that are not a terminal
// (CodeBuild), where nothing else would be printed during a stall.
func (c *Console) heartbeat(interval time.Duration) (stop func()) {
	if interval <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				c.beat(now)
			}
		}
	}()
	return func() { close(done); <-finished }
}

// beat writes one heartbeat line.
func (c *Console) beat(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.total == 0 {
		return
	}
	type fl struct {
		image string
		since time.Duration
	}
	var list []fl
	for im, t := range c.inflight {
		list = append(list, fl{im, now.Sub(t).Round(time.Second)})
	}
	sort.Slice(list, func(i, j int) bool {
		return list[i].since > list[j].since || (list[i].since == list[j].since && list[i].image < list[j].image)
	})
	var names []string
	for i, f := range list {
		if i == 3 {
			names = append(names, fmt.Sprintf("%d more", len(list)-3))
			break
		}
		names = append(names, fmt.Sprintf("%s for %s", c.Redactor.Clean(f.image), f.since))
	}
	line := fmt.Sprintf("INFO: heartbeat: %d/%d images done, %d in flight", c.done, c.total, len(list))
	if len(names) > 0 {
		line += " (" + strings.Join(names, ", ") + ")"
	}
	fmt.Fprintln(c.W, line)
}

// failLines is how many failures (and retries) of one cause the console prints.
const failLines = 3

var (
	digestRE = regexp.MustCompile(`sha256:[0-9a-f]{64}`)
	urlRE    = regexp.MustCompile(`(https?://[^/\s"]+)[^\s"]*`)
)

// cause is a failure message with what differs from image to image taken out (the image,
// its repository, digests, URL paths), so that failures of one cause compare equal.
func cause(image, msg string) string {
	if image != "" {
		msg = strings.ReplaceAll(msg, image, "<image>")
		if repo, _, ok := strings.Cut(image, ":"); ok {
			msg = strings.ReplaceAll(msg, repo, "<repo>")
		}
	}
	msg = digestRE.ReplaceAllString(msg, "sha256:…")
	msg = urlRE.ReplaceAllString(msg, "$1/…")
	return msg
}

// repeated counts one failure (or retry) of its cause and reports whether the console has
// said it failLines times already.
func (c *Console) repeated(kind tmsync.EventKind, e tmsync.Event) bool {
	if c.causes == nil {
		c.causes = map[string]int{}
	}
	k := string(kind) + "\x00" + cause(e.Image, e.Message)
	c.causes[k]++
	n := c.causes[k]
	if n >= failLines && kind == tmsync.EventFail {
		c.storm = true
	}
	if n == failLines+1 && kind == tmsync.EventFail {
		fmt.Fprintf(c.W, "ERROR: more images fail like the ones above; the console stops listing them (the summary counts them, the error log lists each)\n")
	}
	return n > failLines
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
		if c.inflight == nil {
			c.inflight = map[string]time.Time{}
		}
		c.inflight[e.Image] = time.Now()
		if !c.storm {
			fmt.Fprintf(c.W, "INFO: %s\n", e.Message)
		}
	case tmsync.EventDone, tmsync.EventSkip:
		delete(c.inflight, e.Image)
		if e.Kind == tmsync.EventDone {
			c.running--
			c.storm = false
		}
		c.done++
		msg := e.Message
		if e.Kind == tmsync.EventSkip && c.quietSkip {
			break
		}
		if e.Kind == tmsync.EventSkip {
			msg = "SKIP: " + e.Image + ": " + e.Message
		}
		fmt.Fprintf(c.W, "INFO: [%d/%d] %s\n", c.done, c.total, msg)
	case tmsync.EventFail:
		delete(c.inflight, e.Image)
		if e.Running {
			c.running--
		}
		c.done++
		if !c.repeated(e.Kind, e) {
			fmt.Fprintf(c.W, "ERROR: [%d/%d] %s: %s\n", c.done, c.total, e.Image, e.Message)
		}
	case tmsync.EventError:
		// After the image's progress line: an error found later (the scan gate).
		fmt.Fprintf(c.W, "ERROR: %s: %s\n", e.Image, e.Message)
	case tmsync.EventWarn, tmsync.EventRetry:
		if e.Kind == tmsync.EventRetry && c.repeated(e.Kind, e) {
			break
		}
		if e.Image == "" {
			fmt.Fprintf(c.W, "WARNING: %s\n", e.Message)
		} else {
			fmt.Fprintf(c.W, "WARNING: %s: %s\n", e.Image, e.Message)
		}
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
