package app

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/manifest"
	"github.com/tmsync/tmsync/tmsync"
)

func copyCommand(stdout io.Writer, cl *cmdline) *cli.Command {
	stderr, token := cl.stderr, cl.token
	return &cli.Command{
		Name:      "copy",
		Usage:     "copy one image, keeping its digest (the manual fallback for a single image)",
		ArgsUsage: "SRC DEST",
		Description: "SRC and DEST are registry references (host/repo:tag or host/repo@sha256:...).\n" +
			"Credentials come from auth.json (--authfile or the usual locations); for the vendor\n" +
			"registry from --srcusr and TM_TOKEN; for an ECR registry (SRC or DEST) from ECR's\n" +
			"GetAuthorizationToken with the AWS credentials, no docker login needed.\n" +
			"A SRC on the vendor registry (--srcdomain) is verified like sync does: its tag resolved to a\n" +
			"digest, the vendor's attestation of that digest checked, and the image copied by that digest.\n" +
			"A SRC elsewhere gets --byo-policy, as in sync: pinned (the default) copies it only by digest\n" +
			"(host/repo@sha256:...), attested verifies its attestation like a vendor image's.\n" +
			"--insecure-skip-attestation copies either unverified, with a warning.",
		Flags: categorize([]cli.Flag{
			&cli.StringFlag{Name: "authfile", Usage: "auth.json with registry credentials"},
			&cli.StringSliceFlag{Name: "insecure-registry", Usage: "talk plain HTTP to this HOST[:PORT] (repeatable)"},
			&cli.StringFlag{Name: "srcusr", Value: "_tm", Usage: "user for the vendor registry"},
			&cli.StringFlag{Name: "srcdomain", Value: manifest.DefaultVendorRegistry, Usage: "the vendor registry, logged in to with TM_TOKEN"},
			&cli.StringFlag{Name: "src_attestions_address", Value: attest.DefaultAddress, Usage: "Grafeas occurrences endpoint of the vendor's attestations"},
			&cli.StringFlag{Name: "src_attestor", Value: "src_attestor.pgp", Usage: "armored public key file of the vendor's attestor"},
			&cli.StringSliceFlag{Name: "src-attestor-fingerprint", Usage: fingerprintUsage},
			&cli.StringFlag{Name: "attestation-bundle", Usage: "verify from this offline bundle instead of the attestation server"},
			&cli.BoolFlag{Name: "strict-key-expiry", Usage: "refuse a signature whose key has expired since it signed"},
			&cli.StringFlag{Name: "byo-policy", Value: string(tmsync.BYOPinned), Usage: "a SRC outside the vendor registry: pinned (only by digest) or attested (its attestation verified)"},
			&cli.BoolFlag{Name: "insecure-skip-attestation", Usage: "copy WITHOUT verifying the attestation of a vendor image, or the pinning or attestation --byo-policy asks of another (printed as a warning)"},
			&cli.StringSliceFlag{Name: "ecr-registry", EnvVars: []string{"TMSYNC_ECR_REGISTRY"},
				Usage: "log in to this HOST[:PORT] with ECR's GetAuthorizationToken (as to every *.dkr.ecr.*.amazonaws.com host)"},
		}),
		OnUsageError: usageError(stderr),
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				fmt.Fprintln(stderr, "ERROR: copy takes SRC and DEST")
				return exitCode(2)
			}
			src, dest := c.Args().Get(0), c.Args().Get(1)
			// The flags' values, checked as sync checks them (checkArgs, for the flags copy
			// has): the BYO policy, and the attestation checks' own inputs, every bad one
			// said, before any registry is asked.
			if _, err := readArgs(c, stderr, hasFlag(c.Command.Flags)); err != nil {
				for _, line := range strings.Split(err.Error(), "\n") {
					fmt.Fprintf(stderr, "ERROR: copy: %s\n", line)
				}
				return exitCode(2)
			}
			byo, err := tmsync.ParseBYOPolicy(c.String("byo-policy"))
			if err != nil { // refused by checkArgs
				return err
			}
			// Bad references are bad input (exit 2), said before any registry is asked.
			for _, r := range []struct{ role, ref string }{{"SRC", src}, {"DEST", dest}} {
				if err := checkRef(r.ref); err != nil {
					fmt.Fprintf(stderr, "ERROR: copy: %s %s: %v\n", r.role, maskRef(r.ref), err)
					return exitCode(2)
				}
			}
			// The vendor token is used for the vendor's images (their registry and their
			// attestations): a blank one stops a copy from the vendor, not from another
			// registry.
			if cl.tokenBlank && manifest.SameRegistry(refHost(src), c.String("srcdomain")) {
				fmt.Fprintf(stderr, "ERROR: %v\n", errTokenBlank)
				return exitCode(2)
			}
			console := &Console{W: stdout, Redactor: cl.red}
			console.Redactor.AddAuthFile(c.String("authfile"))
			var attestorErr error // the attestor could not be made: bad input (a key file), exit 2
			opts := []tmsync.CopyOption{
				tmsync.WithCopySource(tmsync.Source{Registry: c.String("srcdomain"), Username: c.String("srcusr"), Password: token,
					AuthFile: c.String("authfile")}),
				tmsync.WithCopyInsecure(c.StringSlice("insecure-registry")...),
				tmsync.WithCopyAttestor(func() (tmsync.Attestor, error) {
					if len(c.StringSlice("src-attestor-fingerprint")) == 0 {
						console.Event(tmsync.Event{Kind: tmsync.EventWarn, Message: unpinnedKeyWarning(c.String("src_attestor"))})
					}
					att, err := newAttestor(attestorConfig{
						KeyFile: c.String("src_attestor"), Fingerprints: c.StringSlice("src-attestor-fingerprint"),
						Address: c.String("src_attestions_address"), Token: token,
						Bundle: c.String("attestation-bundle"), PerImage: true, StrictKeyExpiry: c.Bool("strict-key-expiry"),
					})
					attestorErr = err
					return att, err
				}),
				tmsync.WithCopyObserver(console),
				tmsync.WithCopyBYOPolicy(byo),
			}
			if c.Bool("insecure-skip-attestation") {
				opts = append(opts, tmsync.WithCopySkipAttestation())
			}
			logins, err := ecrLogins(c.Context, []string{src, dest}, c.StringSlice("ecr-registry"), console.Redactor)
			if err != nil {
				console.W = stderr
				console.Printf("ERROR: %v", err)
				return exitCode(2)
			}
			opts = append(opts, logins...)
			res, err := tmsync.CopyOne(c.Context, src, dest, opts...)
			if err != nil {
				console.W = stderr
				console.Printf("ERROR: copy %s to %s: %v", src, dest, err)
				if attestorErr != nil || errors.Is(err, tmsync.ErrNotPinned) {
					return exitCode(2)
				}
				return exitCode(1)
			}
			console.Printf("INFO: copied %s to %s: %s", src, dest, res)
			return nil
		},
	}
}

func reportCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:      "report",
		Usage:     "print a saved JSON report for people (a plan's as plan prints it)",
		ArgsUsage: "FILE",
		Flags: categorize([]cli.Flag{
			&cli.BoolFlag{Name: "detailed-exitcode", EnvVars: []string{"TMSYNC_DETAILED_EXITCODE"},
				Usage: "for a plan: exit 3 when it has changes (0 none, 1 failures, 2 bad input)"},
		}),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				fmt.Fprintln(c.App.ErrWriter, "ERROR: report takes one FILE")
				return exitCode(2)
			}
			r, err := tmsync.ReadReport(c.Args().First())
			if err != nil {
				fmt.Fprintf(c.App.ErrWriter, "ERROR: %v\n", err)
				return exitCode(2)
			}
			encode := r.EncodeSummary
			if r.Mode == tmsync.ModePlan {
				encode = r.EncodePlan
			}
			if err := encode(stdout); err != nil {
				return err
			}
			if c.Bool("detailed-exitcode") && r.Mode == tmsync.ModePlan && r.ExitStatus() == 0 && r.ChangesPending() {
				return exitCode(tmsync.ExitChangesPending)
			}
			return exitCode(r.ExitStatus())
		},
		Subcommands: []*cli.Command{{
			Name:      "merge",
			Usage:     "merge the reports of the shards of one run",
			ArgsUsage: "FILE...",
			Flags: categorize([]cli.Flag{
				&cli.StringFlag{Name: "output", Required: true, Category: catOutput, Usage: "merged report"},
				&cli.StringFlag{Name: "error-log", Usage: "also write the merged error log here"},
			}),
			Action: func(c *cli.Context) error {
				if err := checkMergeOutputs(c.String("output"), c.String("error-log"), c.Args().Slice()); err != nil {
					for _, line := range strings.Split(err.Error(), "\n") {
						fmt.Fprintf(c.App.ErrWriter, "ERROR: %s\n", line)
					}
					return exitCode(2)
				}
				var reports []*tmsync.Report
				for _, p := range c.Args().Slice() {
					r, err := tmsync.ReadReport(p)
					if err != nil {
						fmt.Fprintf(c.App.ErrWriter, "ERROR: %v\n", err)
						return exitCode(2)
					}
					reports = append(reports, r)
				}
				if len(reports) == 0 {
					fmt.Fprintln(c.App.ErrWriter, "ERROR: report merge takes at least one FILE")
					return exitCode(2)
				}
				m := tmsync.MergeReports(reports...)
				if err := m.WriteJSON(c.String("output")); err != nil {
					return err
				}
				if p := c.String("error-log"); p != "" {
					if err := m.WriteErrorLog(p); err != nil {
						return err
					}
				}
				return exitCode(m.ExitStatus())
			},
		}},
	}
}

// checkMergeOutputs refuses, before anything is read or written, a merged report or error
// log that would replace one of the reports being merged (a shard's report is the record
// of its run), or the two outputs as one file: each named by its flag, as fileKey sees
// files (a linked folder, ".." are one file).
func checkMergeOutputs(output, errorLog string, files []string) error {
	var errs []error
	for _, o := range []struct{ flag, path string }{{"--output", output}, {"--error-log", errorLog}} {
		if o.path == "" {
			continue
		}
		key := fileKey(o.path)
		for i, f := range files {
			if fileKey(f) == key {
				errs = append(errs, fmt.Errorf("%s %s: it is FILE %d (%s), a report being merged: the output would overwrite it", o.flag, o.path, i+1, f))
				break
			}
		}
	}
	if output != "" && errorLog != "" && fileKey(output) == fileKey(errorLog) {
		errs = append(errs, fmt.Errorf("--error-log %s: the same file as --output (%s): each output needs its own file", errorLog, fileKey(output)))
	}
	return errors.Join(errs...)
}

// hasFlag says whether a flag of this name is one of flags (for readArgs and checkArgs:
// the flags of a command that are not sync's).
func hasFlag(flags []cli.Flag) func(name string) bool {
	return func(name string) bool {
		for _, f := range flags {
			if slices.Contains(f.Names(), name) {
				return true
			}
		}
		return false
	}
}

// checkRef checks a registry reference as copy reads it: no credentials in it, a name
// that parses, at most one of a tag and a digest.
func checkRef(s string) error {
	if _, ok := refUserinfo(s); ok {
		return errors.New("a reference takes no credentials (user:password@): the vendor token comes from TM_TOKEN, other registries' from auth.json")
	}
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return fmt.Errorf("not a registry reference (host/repo:tag or host/repo@sha256:...): %w", err)
	}
	if _, err := docker.NewReference(reference.TagNameOnly(named)); err != nil {
		return err
	}
	return nil
}
