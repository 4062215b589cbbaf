// Command quickstart runs tmsync's real sync on a small synthetic release, with nothing
// but Go and this repository: an in-process source registry (as the vendor's, with a
// token), a signed attestation server, and an in-process target registry, all on
// 127.0.0.1. It uses the library as a Go program would (the same engine as `tmsync sync
// --target registry`), syncs the release, syncs it again to show that a re-sync copies
// nothing, and prints the first sync's report. `make demo` runs the command line instead
// (examples/clidemo).
//
//	go run -tags "..." ./examples/quickstart   # the tags: see the Makefile
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/internal/exampletest"
	"github.com/tmsync/tmsync/manifest"
	"github.com/tmsync/tmsync/tmsync"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	images, err := exampletest.Release()
	if err != nil {
		return err
	}
	// The vendor's side: its registry (user _tm and a throwaway token), the release
	// folder, the signed attestations; and the bank's target registry.
	w, err := exampletest.Start(ctx, images)
	if err != nil {
		return err
	}
	defer w.Close()

	// The bank's side: the attestor's public key (src_attestor.pgp in a pipeline), the
	// attestation client, the target, and an engine that joins them.
	verifier, err := attest.NewVerifier(w.Keyring)
	if err != nil {
		return err
	}
	client, err := attest.NewClient(w.Attestations.URL, attest.WithToken(w.Token))
	if err != nil {
		return err
	}
	attestor, err := tmsync.NewAttestor(client, verifier)
	if err != nil {
		return err
	}
	target, err := tmsync.NewRegistryTarget(w.Target+"/3rdparty/tm", tmsync.WithTargetInsecure())
	if err != nil {
		return err
	}
	eng, err := tmsync.New(target, attestor,
		tmsync.WithSource(tmsync.Source{Registry: w.Vendor, Username: "_tm", Password: w.Token}),
		tmsync.WithInsecure(w.Vendor, w.Target),
		tmsync.WithObserver(tmsync.ObserverFunc(func(e tmsync.Event) {
			if line := eventLine(e); line != "" {
				fmt.Fprintln(out, line)
			}
		})))
	if err != nil {
		return err
	}
	release := tmsync.ReleaseDir(w.ReleaseDir, manifest.WithVendorRegistry(w.Vendor))

	fmt.Fprintf(out, "== sync: %d images from %s (vendor) to %s (target), attestations at %s\n\n", len(images), w.Vendor, w.Target, w.Attestations.URL)
	first, err := eng.Sync(ctx, release)
	if err != nil || first.ExitStatus() != 0 {
		return fmt.Errorf("sync: %v (exit status %d)", err, exitStatus(first))
	}
	fmt.Fprintf(out, "\n== the same sync again: every image is already there\n\n")
	if rep, err := eng.Sync(ctx, release); err != nil || rep.ExitStatus() != 0 {
		return fmt.Errorf("second sync: %v (exit status %d)", err, exitStatus(rep))
	}
	// The command line writes this report with --report FILE; `tmsync report FILE`
	// prints it as EncodeSummary does.
	fmt.Fprintf(out, "\n== the first sync's report, as EncodeSummary (and `tmsync report`) prints it:\n\n")
	return first.EncodeSummary(out)
}

// eventLine is an event as one line, or "" for one with nothing to say. The messages of
// start and done events name their image ("START: vault/core:5.0.3"); the others are
// prefixed with their kind and image.
func eventLine(e tmsync.Event) string {
	switch {
	case e.Kind == tmsync.EventInfo || e.Message == "":
		return "" // the details; progress events carry bytes, no message
	case e.Image == "" || strings.Contains(e.Message, e.Image):
		return e.Message
	default:
		return strings.ToUpper(string(e.Kind)) + ": " + e.Image + ": " + e.Message
	}
}

func exitStatus(rep *tmsync.Report) int {
	if rep == nil {
		return 2
	}
	return rep.ExitStatus()
}
