// Command tmsync puts a Thought Machine Vault release into Amazon ECR or an OCI registry,
// byte for byte, after verifying the vendor's attestation of every image.
//
// The command line is package app; this is its main.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tmsync/tmsync/cmd/tmsync/app"
)

func main() {
	// SIGINT or SIGTERM stops the run: what is copying is cut, nothing more starts, the
	// report and error log are written, and the exit status is 130 or 143 (app.Interrupt).
	ctx, stop := app.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// A console that goes away (`tmsync sync | head`, a log agent that dies) must not kill
	// the run mid-copy: with SIGPIPE caught, a write to it fails (EPIPE) and the run goes on
	// to its report, error log and exit status. The signal itself is dropped.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without os.Exit, so that tests can call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return app.Run(ctx, args, stdout, stderr)
}
