// Command plan prints what a sync of a release would change, without changing anything:
// the tool a change board runs before it approves a release. It uses the tmsync library
// directly (no command line underneath): reads the attestor key, plans the release
// against a registry, and prints one line per image that would be copied, is in place,
// or would be refused, with the release folder's digest to pin the approval to.
//
//	TM_TOKEN=... plan -release ./releases -target harbor.bank.internal/vault -key src_attestor.pgp
//
// Exit status: 0 nothing would be refused, 1 some images would be refused, 2 the plan
// could not be made.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/manifest"
	"github.com/tmsync/tmsync/tmsync"
)

// config is what the flags say.
type config struct {
	release, target, vendor, attestations, key, token string
	insecure                                          []string
}

func main() {
	var c config
	var insecure string
	flag.StringVar(&c.release, "release", ".", "release folder")
	flag.StringVar(&c.target, "target", "", "target registry and prefix, HOST[:PORT]/PREFIX")
	flag.StringVar(&c.vendor, "vendor", manifest.DefaultVendorRegistry, "the vendor registry")
	flag.StringVar(&c.attestations, "attestations", attest.DefaultAddress, "the vendor's attestation server (occurrences endpoint)")
	flag.StringVar(&c.key, "key", "src_attestor.pgp", "the vendor attestor's armored public key")
	flag.StringVar(&insecure, "insecure", "", "comma-separated registry hosts spoken to over plain HTTP")
	flag.Parse()
	if insecure != "" {
		c.insecure = strings.Split(insecure, ",")
	}
	c.token = os.Getenv("TM_TOKEN")
	refused, err := plan(context.Background(), c, os.Stdout)
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, "plan:", err)
		os.Exit(2)
	case refused > 0:
		os.Exit(1)
	}
}

// plan plans the release of c and writes what would change to out. It returns how many
// images would be refused.
func plan(ctx context.Context, c config, out io.Writer) (refused int, err error) {
	f, err := os.Open(c.key)
	if err != nil {
		return 0, err
	}
	keyring, err := attest.ReadKeyring(f)
	f.Close()
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", c.key, err)
	}
	verifier, err := attest.NewVerifier(keyring)
	if err != nil {
		return 0, err
	}
	// The release's occurrences in a few requests; PerImage would ask image by image.
	client, err := attest.NewClient(c.attestations, attest.WithToken(c.token))
	if err != nil {
		return 0, err
	}
	attestor, err := tmsync.NewAttestor(client, verifier)
	if err != nil {
		return 0, err
	}
	var topts []tmsync.TargetOption
	if host, _, _ := strings.Cut(c.target, "/"); slices.Contains(c.insecure, host) {
		topts = append(topts, tmsync.WithTargetInsecure())
	}
	target, err := tmsync.NewRegistryTarget(c.target, topts...)
	if err != nil {
		return 0, err
	}
	eng, err := tmsync.New(target, attestor, tmsync.WithInsecure(c.insecure...),
		tmsync.WithSource(tmsync.Source{Registry: c.vendor, Username: "_tm", Password: c.token}))
	if err != nil {
		return 0, err
	}
	rep, err := eng.Plan(ctx, tmsync.ReleaseDir(c.release, manifest.WithVendorRegistry(c.vendor)))
	if err != nil {
		return 0, err // a *tmsync.StartError: the folder, the key, the attestation server
	}

	fmt.Fprintf(out, "release %s (sha256 %s) into %s\n", c.release, rep.ReleaseSHA256, rep.Target)
	for _, r := range rep.Repositories {
		switch {
		case r.Created:
			fmt.Fprintf(out, "create   repository %s\n", r.Name)
		case len(r.Changes) > 0:
			fmt.Fprintf(out, "change   repository %s: %s\n", r.Name, strings.Join(r.Changes, "; "))
		}
	}
	for _, im := range rep.Images {
		switch im.Outcome {
		case tmsync.OutcomePlanned:
			by := "not attested, pinned digest"
			if im.Attestation != nil {
				by = "attested by " + im.Attestation.Fingerprint
			}
			fmt.Fprintf(out, "copy     %s %s (%s)\n", im.Dest, im.Digest, by)
		case tmsync.OutcomePresent:
			fmt.Fprintf(out, "in place %s %s\n", im.Dest, im.Digest)
		case tmsync.OutcomeIgnored:
			fmt.Fprintf(out, "ignored  %s: %s\n", im.Dest, im.Reason)
		default: // rejected or failed
			refused++
			fmt.Fprintf(out, "REFUSED  %s: %s\n", im.Dest, im.Reason)
		}
	}
	s := rep.Summary
	fmt.Fprintf(out, "%d to copy, %d in place, %d refused\n", s.Planned, s.Present, s.Rejected+s.Failed)
	return refused, nil
}
