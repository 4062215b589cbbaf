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

	mu    sync.Mutex
	total int
	done  int
	// Failures by cause: the first failLines of a cause are printed, the rest counted
	// (each is in the error log). storm is set while a cause repeats and no image is done:
	// START lines are then held back too.
	causes map[string]int
	storm  bool
	// quietSkip: no line for an image already in place (verify: that is the expected case).
	quietSkip bool
	// inflight: images whose copy has started, and when; bytes: what each has moved
	// (EventProgress); doneBytes: what finished images moved; lastBeat: bytes of each
	// image at the last heartbeat.
	inflight  map[string]time.Time
	bytes     map[string]int64
	doneBytes int64
	lastBeat  map[string]int64
	began     time.Time
	// planned is the bytes of all the copies (EventPlanned; 0: unknown, the ETA is then
	// estimated from images); sizes the size of each image in flight (EventStart), and
	// settled the sizes of the copies that ended: what is left to move is planned less
	// settled less what the images in flight have moved.
	planned, settled int64
	sizes            map[string]int64
	// samples of the bytes moved, for the rate: a moving average over rateWindow.
	samples []sample
	// now is the clock (tests set it); nil: time.Now.
	now func() time.Time
	// The terminal's status block: how many lines it has, and when it was drawn.
	drawn    int
	lastDraw time.Time
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
	line += ", " + c.movedLine(now)
	// The images that moved nothing since the last heartbeat (in flight at both).
	var stalled []string
	for _, f := range list {
		if last, ok := c.lastBeat[f.image]; ok && last == c.bytes[f.image] {
			stalled = append(stalled, c.Redactor.Clean(f.image))
		}
	}
	if len(stalled) > 3 {
		stalled = append(stalled[:3], fmt.Sprintf("%d more", len(stalled)-3))
	}
	if len(stalled) > 0 {
		line += "; nothing moved since the last heartbeat: " + strings.Join(stalled, ", ")
	}
	c.lastBeat = map[string]int64{}
	for _, f := range list {
		c.lastBeat[f.image] = c.bytes[f.image]
	}
	fmt.Fprintln(c.W, line)
}

// failLines is how many failures of one cause the console prints, retryLines how many
// retries: with the run's first line, its last two and a line saying the rest are not
// listed, a failure of the target for every image stays within 10 lines.
const (
	failLines  = 2
	retryLines = 1
)

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

// groupKey is what makes failures one problem: their step and structured cause (the
// engine's ClassifyError); the message's text, with what differs from image to image
// taken out, only when there is no cause or it is "other" (a report of an older tmsync,
// an error of no known kind).
func groupKey(step string, c tmsync.Cause, image, msg string) string {
	if c == "" || c == tmsync.CauseOther {
		return step + "\x00text\x00" + cause(image, msg)
	}
	return step + "\x00" + string(c)
}

// repeated counts one failure (or retry) of its cause and reports whether the console has
// said it failLines times already.
func (c *Console) repeated(kind tmsync.EventKind, e tmsync.Event) bool {
	if c.causes == nil {
		c.causes = map[string]int{}
	}
	k := string(kind) + "\x00" + groupKey(e.Step, e.Cause, e.Image, e.Message)
	c.causes[k]++
	n := c.causes[k]
	limit := failLines
	if kind != tmsync.EventFail {
		limit = retryLines
	}
	if n >= limit && kind == tmsync.EventFail {
		c.storm = true
	}
	if n == limit+1 && kind == tmsync.EventFail {
		fmt.Fprintf(c.W, "ERROR: more images fail like the ones above; the console stops listing them (the summary counts them, the error log lists each)\n")
	}
	return n > limit
}

// newConsole is a Console on w, with a status line when w is a terminal.
func newConsole(w io.Writer, red *tmsync.Redactor) *Console {
	return &Console{W: w, Terminal: isTerminal(w), Redactor: red}
}

// Event implements tmsync.Observer.
func (c *Console) Event(e tmsync.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.Image, e.Message = c.Redactor.Clean(e.Image), c.Redactor.Clean(e.Message)
	if e.Kind == tmsync.EventProgress {
		if c.bytes == nil {
			c.bytes = map[string]int64{}
		}
		if _, ok := c.inflight[e.Image]; ok && e.Bytes > c.bytes[e.Image] {
			c.bytes[e.Image] = e.Bytes // never down: a retry's progress restarts lower
		}
		c.sample(c.clock())
		if c.Terminal && c.clock().Sub(c.lastDraw) >= 200*time.Millisecond {
			c.clearStatus()
			c.drawStatus()
		}
		return
	}
	if e.Kind == tmsync.EventPlanned {
		c.planned = e.Bytes
		return
	}
	c.clearStatus() // before a log line
	switch e.Kind {
	case tmsync.EventBegin:
		c.total = e.Total
		c.began = c.clock()
		fmt.Fprintf(c.W, "INFO: %s\n", e.Message)
	case tmsync.EventStart:
		if c.inflight == nil {
			c.inflight = map[string]time.Time{}
			c.sizes = map[string]int64{}
		}
		c.inflight[e.Image] = c.clock()
		c.sizes[e.Image] = e.Bytes
		if !c.storm {
			fmt.Fprintf(c.W, "INFO: %s\n", e.Message)
		}
	case tmsync.EventDone, tmsync.EventSkip:
		c.settle(e.Image)
		if e.Kind == tmsync.EventDone {
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
		c.settle(e.Image)
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
	c.drawStatus()
}

// settle ends an image's copy: what it moved stays in the run's bytes moved, and its
// size leaves what is left to move.
func (c *Console) settle(image string) {
	if _, ok := c.inflight[image]; ok {
		c.settled += max(c.sizes[image], c.bytes[image])
	}
	c.doneBytes += c.bytes[image]
	delete(c.inflight, image)
	delete(c.bytes, image)
	delete(c.sizes, image)
}

func (c *Console) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// sample is the run's bytes moved at a time.
type sample struct {
	at    time.Time
	bytes int64
}

// rateWindow is the span of the moving average of the rate: long enough to smooth the
// copies' bursts (a progress event a second per blob), short enough to follow a stall.
const rateWindow = 20 * time.Second

// sample records the bytes moved now and drops the samples older than rateWindow,
// keeping the last one before it as the window's start.
func (c *Console) sample(now time.Time) {
	c.samples = append(c.samples, sample{now, c.moved()})
	i := 0
	for i+1 < len(c.samples) && now.Sub(c.samples[i+1].at) >= rateWindow {
		i++
	}
	c.samples = c.samples[i:]
}

// rate is the bytes a second over the last rateWindow (the window starts at the run's
// start until it is that old); 0 before a second has passed.
func (c *Console) rate(now time.Time) int64 {
	c.sample(now)
	from := sample{c.began, 0}
	if now.Sub(c.began) > rateWindow && len(c.samples) > 0 {
		from = c.samples[0]
	}
	return rate(c.samples[len(c.samples)-1].bytes-from.bytes, now.Sub(from.at))
}

// remaining is the bytes left to move, when the plan gave the copies' bytes.
func (c *Console) remaining() (int64, bool) {
	if c.planned <= 0 {
		return 0, false
	}
	left := c.planned - c.settled
	for im, size := range c.sizes {
		left -= min(c.bytes[im], size)
	}
	return max(left, 0), true
}

// eta estimates the time left: the bytes left at the recent rate; without the plan's
// bytes (or before anything moved), from the images done so far.
func (c *Console) eta(now time.Time, r int64) string {
	if left, ok := c.remaining(); ok && r > 0 {
		return "ETA " + (time.Duration(float64(left)/float64(r)) * time.Second).Round(time.Second).String()
	}
	if c.done > 0 && c.done < c.total {
		el := now.Sub(c.began)
		return "ETA " + (el / time.Duration(c.done) * time.Duration(c.total-c.done)).Round(time.Second).String()
	}
	return "ETA -"
}

// movedLine is the run's bytes moved, of the plan's bytes when known, the rate and ETA:
// "1.2 GiB of 3.4 GiB moved at 12.0 MiB/s, ETA 3m5s".
func (c *Console) movedLine(now time.Time) string {
	s := tmsync.HumanBytes(c.moved())
	if c.planned > 0 {
		s += " of " + tmsync.HumanBytes(c.planned)
	}
	r := c.rate(now)
	return s + " moved at " + tmsync.HumanBytes(r) + "/s, " + c.eta(now, r)
}

// moved is the bytes moved so far: finished images' and those in flight.
func (c *Console) moved() int64 {
	n := c.doneBytes
	for _, b := range c.bytes {
		n += b
	}
	return n
}

// maxStatusImages is how many images in flight the status block lists.
const maxStatusImages = 6

// drawStatus draws the terminal's status block under the log lines: each image in flight
// with its bytes and rate, then the run's images done, bytes, rate and ETA. Each line
// ends with a newline, so a log line never joins it; clearStatus removes the block.
func (c *Console) drawStatus() {
	if !c.Terminal || c.total == 0 {
		return
	}
	now := c.clock()
	var images []string
	for im := range c.inflight {
		images = append(images, im)
	}
	sort.Strings(images)
	var lines []string
	for i, im := range images {
		if i == maxStatusImages {
			lines = append(lines, fmt.Sprintf("  … and %d more", len(images)-i))
			break
		}
		el := now.Sub(c.inflight[im])
		lines = append(lines, fmt.Sprintf("  %s  %s  %s/s  %s", im, tmsync.HumanBytes(c.bytes[im]), tmsync.HumanBytes(rate(c.bytes[im], el)), el.Round(time.Second)))
	}
	lines = append(lines, fmt.Sprintf("tmsync: %d/%d images done, %d copying, %s", c.done, c.total, len(images), c.movedLine(now)))
	for _, l := range lines {
		fmt.Fprintf(c.W, "\x1b[K%s\n", l)
	}
	c.drawn, c.lastDraw = len(lines), now
}

// clearStatus removes the status block: the cursor goes up to its first line, and the
// screen is cleared from there.
func (c *Console) clearStatus() {
	if c.drawn > 0 {
		fmt.Fprintf(c.W, "\x1b[%dA\r\x1b[J", c.drawn)
		c.drawn = 0
	}
}

func rate(n int64, d time.Duration) int64 {
	if d < time.Second {
		return 0
	}
	return int64(float64(n) / d.Seconds())
}

// Printf writes one line (format has no newline) cleaned like an event's.
func (c *Console) Printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clearStatus()
	fmt.Fprintln(c.W, c.Redactor.Clean(fmt.Sprintf(format, args...)))
	c.drawStatus()
}

// interject writes line on w, a writer other than c.W (stderr), with the status block
// taken down first and drawn again after: on a terminal, w and c.W are one screen, and
// the block's next redraw would otherwise wipe the line. Neither side holds the other
// for long: a console held by a write that does not end (a pipe nobody reads) is waited
// for interjectWait at most, the line then written without it; and a w that does not
// take the line (a stderr pipe nobody reads) holds the console interjectWait at most,
// the block then drawn again with the line left to its write, so that the run's events
// and its end are not held by a line on stderr.
func (c *Console) interject(w io.Writer, line string) {
	written := make(chan struct{})
	write := func() {
		defer close(written)
		fmt.Fprintln(w, line)
	}
	for deadline := time.Now().Add(interjectWait); !c.mu.TryLock(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			write()
			return
		}
	}
	defer c.mu.Unlock()
	c.clearStatus()
	go write()
	select {
	case <-written:
	case <-time.After(interjectWait):
	}
	c.drawStatus()
}

// interjectWait bounds each of interject's waits: for the console, and for the line's
// write with the console held.
const interjectWait = 200 * time.Millisecond

// finish ends the status line.
func (c *Console) finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clearStatus()
	c.Terminal = false // nothing more is drawn
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
