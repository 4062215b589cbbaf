package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
)

// Interrupt is the cause of a run's context when a signal stops it (NotifyContext): the
// run's messages name the signal, and Run exits with the shell's status for it, 128+n
// (130 for SIGINT, 143 for SIGTERM), unless every image was in place anyway.
type Interrupt struct{ Signal os.Signal }

func (i Interrupt) Error() string { return signalName(i.Signal) + " received" }

// ExitStatus is 128 plus the signal's number, as a shell reports a command the signal
// killed; 1 for a signal without a number.
func (i Interrupt) ExitStatus() int {
	if s, ok := i.Signal.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}

func signalName(s os.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return s.String()
}

// NotifyContext is signal.NotifyContext with the signal as the context's cause
// (Interrupt): the run winds down (its copies cut, its report and error log written) and
// exits. A second signal before stop does not wait for that: it stops the process at once
// with 128+n (hardStop: the error log says so, the report is not written), as a second
// Ctrl-C does in terraform or docker.
//
// The first signal is said at once, in one line on stderr (hardStop.firstSignal).
func NotifyContext(parent context.Context, sigs ...os.Signal) (ctx context.Context, stop func()) {
	return notifyContext(parent, os.Stderr, sigs...)
}

// notifyContext is NotifyContext saying the first signal on stderr.
func notifyContext(parent context.Context, stderr io.Writer, sigs ...os.Signal) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	go func() {
		var first os.Signal
		select {
		case first = <-ch:
			hardStop.firstSignal(first, stderr) // said before the run winds down
			cancel(Interrupt{Signal: first})
		case <-done:
			return
		}
		select {
		case s := <-ch:
			os.Exit(hardStop.stop(first, s, stderr))
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			cancel(context.Canceled)
		})
	}
}

// interruptStatus is status for a run ctx's signal stopped: 128+n when the run did not
// end with every image in place (status 0).
func interruptStatus(ctx context.Context, status int) int {
	var in Interrupt
	if status != 0 && errors.As(context.Cause(ctx), &in) {
		return in.ExitStatus()
	}
	return status
}

// interruptedStart is the error of a run stopped before it started (in the preflight):
// the signal, not a failure of what was being checked.
func interruptedStart(ctx context.Context) error {
	var in Interrupt
	if errors.As(context.Cause(ctx), &in) {
		return fmt.Errorf("interrupted (%v) before the run started: nothing was changed", in)
	}
	return errors.New("interrupted before the run started: nothing was changed")
}

// cutShort: err is what ctx's end made of a step (a check that was waiting on the
// network), not a problem of its own (a missing key file the run would refuse anyway).
func cutShort(ctx context.Context, err error) bool {
	if ctx.Err() == nil || err == nil {
		return false
	}
	var in Interrupt
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &in) {
		return true
	}
	// Errors flattened to text on the way (the preflight's list of problems).
	msg := err.Error()
	return strings.Contains(msg, context.Canceled.Error()) || strings.Contains(msg, context.Cause(ctx).Error())
}
