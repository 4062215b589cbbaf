package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/urfave/cli/v2"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/manifest"
	"github.com/tmsync/tmsync/tmsync"
	"github.com/tmsync/tmsync/tmsync/bundle"
)

// The air-gapped commands: export (verify, then write a bundle), sync/plan/verify
// --from-bundle (bundleRun, wired into setup), and bundle verify. Package bundle is the
// format; tmsync.Exporter, tmsync.BundleSource and tmsync.BundleAttestor the engine's
// side.

// bundleRun is an opened, verified bundle for sync, plan or verify --from-bundle.
type bundleRun struct {
	b        *bundle.Bundle
	earlier  []*bundle.Bundle
	sum      *bundle.Summary
	attestor *tmsync.BundleAttestor
	source   *tmsync.BundleSource
}

// openBundleRun opens and verifies a.FromBundle (and a.EarlierBundles) with the
// operator's key (--src_attestor; never a key found in the bundle). Its errors are
// *tmsync.StartError (exit 2): the bundle cannot be read, or a problem of a file every
// image depends on. Images refused one by one are refused by the run (exit 1).
func openBundleRun(ctx context.Context, a Args, console *Console, tmp string) (*bundleRun, error) {
	verifier, err := newVerifier(attestorConfig{KeyFile: a.AttestorKeyFile, KeyTried: a.Absent["src_attestor"], Fingerprints: a.AttestorFingerprints,
		StrictKeyExpiry: a.StrictKeyExpiry})
	if err != nil {
		return nil, err
	}
	br := &bundleRun{}
	var opts []bundle.OpenOption
	if tmp != "" {
		opts = append(opts, bundle.WithTempDir(tmp))
	}
	open := func(p string) (*bundle.Bundle, *bundle.Summary, error) {
		b, err := bundle.Open(ctx, p, opts...)
		if err != nil {
			return nil, nil, startErr("reading the bundle "+p, err)
		}
		// Unattested images go through to the run's BYO policy, which decides as for a
		// registry-sourced sync (BundleAttestor says ErrNoAttestation).
		sum := b.Verify(ctx, verifier, bundle.WithAllowUnattested(func(bundle.ImageRecord) bool { return true }))
		for _, w := range sum.Warnings {
			console.Event(tmsync.Event{Kind: tmsync.EventWarn, Message: "bundle " + p + ": " + w})
		}
		if len(sum.Problems) > 0 {
			b.Close()
			return nil, nil, startErr("checking the bundle "+p, errors.New(strings.Join(sum.Problems, "\n")))
		}
		return b, sum, nil
	}
	b, sum, err := open(a.FromBundle)
	if err != nil {
		return nil, err
	}
	br.b, br.sum = b, sum
	for _, p := range a.EarlierBundles {
		e, _, err := open(p)
		if err != nil {
			br.close()
			return nil, err
		}
		br.earlier = append(br.earlier, e)
	}
	if b.ReleaseDir() == "" {
		br.close()
		return nil, startErr("checking the bundle "+a.FromBundle, errors.New("it carries no release folder (release/)"))
	}
	console.Event(tmsync.Event{Kind: tmsync.EventInfo, Message: fmt.Sprintf("bundle %s (%s, releases %s, written by tmsync %s): %d images, %d verified, %d refused",
		a.FromBundle, sum.Kind, strings.Join(sum.Releases, ", "), sum.ToolVersion, sum.Images, sum.Verified, sum.Refused)})
	br.attestor = tmsync.NewBundleAttestor(b)
	br.source = tmsync.NewBundleSource(b, br.earlier...)
	return br, nil
}

// release is the bundle's release folder, read as --release-dir would be.
func (br *bundleRun) release(a Args) tmsync.Release {
	return tmsync.ReleaseDir(br.b.ReleaseDir(), releaseOptions(a)...)
}

// checkExternal lists, before anything is pushed, the blobs an incremental bundle left
// out that neither the target nor an earlier bundle holds: any is a *StartError.
func (br *bundleRun) checkExternal(ctx context.Context, target tmsync.Target, console *Console) error {
	if len(br.b.Manifest().External) == 0 {
		return nil
	}
	missing, err := br.b.CheckExternal(ctx, tmsync.BlobChecker{T: target}, br.earlier...)
	if err != nil {
		return startErr("checking the blobs the incremental bundle left out", err)
	}
	if len(missing) > 0 {
		errs := make([]error, len(missing))
		for i, m := range missing {
			errs[i] = errors.New(m.String())
		}
		return startErr(fmt.Sprintf("checking the blobs the incremental bundle left out (%d missing; nothing was pushed)", len(missing)), errors.Join(errs...))
	}
	console.Event(tmsync.Event{Kind: tmsync.EventInfo, Message: fmt.Sprintf("incremental bundle: the %d blobs it left out are in the target or an earlier bundle", len(br.b.Manifest().External))})
	return nil
}

func (br *bundleRun) close() {
	if br == nil {
		return
	}
	if br.b != nil {
		br.b.Close()
	}
	for _, e := range br.earlier {
		e.Close()
	}
}

// exportFlagNames are the flags of sync that export reads (runExport and what it
// calls): the vendor and its token, the attestations, the release folder, the outputs
// and the run's pace. The others (the target, shards, dry run, the scan gate, signing,
// the blob cache, the preflight) mean nothing to an export: they are not defined for
// it, so that urfave/cli refuses them (exit 2) rather than export ignoring them.
var exportFlagNames = map[string]bool{
	"srcusr": true, "srcpasswd": true, "srcdomain": true, "src-token-secret": true,
	"src_packages_postfix": true, "src_release_postfix": true, "release-dir": true, "release-sha256": true,
	"src_attestions_address": true, "src_attestor": true, "src-attestor-fingerprint": true,
	"attestation-bundle": true, "attestation-per-image": true, "strict-key-expiry": true,
	"byo-policy": true, "authfile": true, "insecure-registry": true,
	"error-log": true, "report": true, "junit": true, "save-attestation-bundle": true,
	"log-level": true, "debug": true, "log-format": true,
	"concurrency": true, "retries": true,
}

// exportRefusals say why a flag of sync is not one of export's, for the usage error.
var exportRefusals = map[string]string{
	"dry-run":     "export has no dry run; use `tmsync plan` to see what a sync would do",
	"shard-index": "export writes every image of the release into one bundle: it has no shards",
	"shard-count": "export writes every image of the release into one bundle: it has no shards",
	"from-bundle": "export reads from the vendor: --from-bundle is for sync, plan and verify",
}

// exportFlags are export's flags: exportFlagNames taken from syncFlags, in their help
// categories, and export's own.
func exportFlags() []cli.Flag {
	var flags []cli.Flag
	for _, f := range syncFlags() {
		name := f.Names()[0]
		if !exportFlagNames[name] {
			continue
		}
		if name == "insecure-registry" {
			setCategory(f, catSource) // export has no target: the vendor's and upstream registries
		}
		flags = append(flags, f)
	}
	categorize(flags)
	own := []cli.Flag{
		&cli.StringFlag{Name: "to", Category: catOutput, Usage: "write the bundle to this folder, or to this FILE.tar (packed from a folder FILE.tar.export.d next to it: twice the bundle's size on disk until packed)"},
		&cli.StringFlag{Name: "split", Category: catOutput, Usage: "with --to FILE.tar: cut the tar into parts of this size, at least 512 bytes: " + sizeGrammar},
		&cli.StringFlag{Name: "since", Category: catSource, Usage: "incremental: leave out the layers a previous bundle (its folder or bundle.json) or release folder carried"},
	}
	flags = append(flags, own...)
	// The environment variables and the --config file sync reads, for the same flags.
	for _, f := range flags {
		setEnv(f)
	}
	return append(flags, configFlag())
}

// applyExportConfig is applyConfig for export: a --config file written for sync (its
// target's keys, its gates) is read for the keys export has; a key that is a flag of
// sync's only is passed over, an unknown one is refused as for sync.
func applyExportConfig(c *cli.Context) error {
	return applyConfigSkipping(c, isSyncFlag)
}

// exportUsageError is usageError in exportProblem's words.
func exportUsageError(stderr io.Writer) cli.OnUsageErrorFunc {
	return func(c *cli.Context, err error, _ bool) error {
		fmt.Fprintf(stderr, "ERROR: %v\n", exportProblem(c, err))
		return exitCode(2)
	}
}

// exportProblem is usageProblem, and for a flag of sync that export does not take, why.
func exportProblem(c *cli.Context, err error) error {
	m := undefinedFlag.FindStringSubmatch(err.Error())
	if m == nil || !isSyncFlag(m[1]) {
		return usageProblem(c, err)
	}
	name := m[1]
	why := exportRefusals[name]
	if why == "" {
		why = "export verifies and writes a bundle, with no target: the flags of the target, the run and its gates are for sync, plan and verify"
	}
	return fmt.Errorf("--%s is not a flag of export: %s", name, why)
}

// isSyncFlag: name is one of the names of a flag of sync.
func isSyncFlag(name string) bool { return syncFlagNames()[name] }

// syncFlagNames are the names (aliases included) of sync's flags, made once.
var syncFlagNames = sync.OnceValue(func() map[string]bool {
	names := map[string]bool{}
	for _, f := range syncFlags() {
		for _, n := range f.Names() {
			names[n] = true
		}
	}
	return names
})

// exportCommand is `tmsync export --to DIR|FILE.tar [--split SIZE] [--since PREVIOUS]`.
// Like sync's, every refusal of its command line (a flag, --config, a stray argument, a
// value) rewrites the error log (cl.runCommand, cl.refuse), so that an old empty log
// never sits next to exit 2.
func exportCommand(stdout io.Writer, cl *cmdline) *cli.Command {
	stderr, token := cl.stderr, cl.token
	return &cli.Command{
		Name:  "export",
		Usage: "verify a release as sync does and write it into an air-gapped bundle (no target)",
		Description: "Reads the release folder, verifies every image's attestation exactly as sync does, and writes\n" +
			"the images that passed, the release folder and the attestations into a bundle (docs/bundle.md)\n" +
			"for `tmsync sync --from-bundle` on a side without the vendor. Refused images are reported as by\n" +
			"sync (error log, report, exit 1) and left out of the bundle. It takes the source, attestation,\n" +
			"release and output flags of sync; the target's, --dry-run and the shards are refused (exit 2).",
		Flags:        exportFlags(),
		OnUsageError: exportUsageError(stderr),
		Before:       applyExportConfig, // its error: cl.runCommand's refusal
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cl.refuse(c, fmt.Errorf("unexpected arguments %q (flags only)", maskRefs(c.Args().Slice())))
			}
			a, err := exportArgsFromFlags(c, stderr)
			if a.SrcPassword == "" {
				a.SrcPassword = token
			}
			x := exportArgs{to: c.String("to"), split: c.String("split"), since: c.String("since"), tokenSecretSet: c.IsSet("src-token-secret")}
			if err != nil {
				return cl.refuseArgs(a, x, err)
			}
			return exitCode(runExport(c.Context, a, x, stdout, stderr))
		},
	}
}

// exportArgsFromFlags is argsFromFlags for export's flags (exportFlagNames): the Args
// fields of the flags export does not have keep their zero values, and go unchecked.
func exportArgsFromFlags(c *cli.Context, stderr io.Writer) (Args, error) {
	return readArgs(c, stderr, func(name string) bool { return exportFlagNames[name] })
}

// exportArgs are export's own flags.
type exportArgs struct {
	to, split, since string
	tokenSecretSet   bool
}

// check refuses, before anything is read or fetched, what export's own flags cannot do;
// it returns the --split size in bytes (0: one tar or a folder).
func (x exportArgs) check() (split int64, err error) {
	if x.to == "" {
		return 0, errors.New("export needs --to DIR or --to FILE.tar")
	}
	if x.split == "" {
		return 0, nil
	}
	if split, err = parseSize(x.split); err != nil {
		return 0, fmt.Errorf("--split %q: %w", x.split, err)
	}
	if split < bundle.MinSplit {
		return 0, fmt.Errorf("--split %q: %d bytes is below one tar block: want at least %d bytes", x.split, split, bundle.MinSplit)
	}
	if !strings.HasSuffix(x.to, ".tar") {
		return 0, fmt.Errorf("--split needs --to FILE.tar (--to %s)", x.to)
	}
	return split, nil
}

func runExport(ctx context.Context, a Args, x exportArgs, stdout, stderr io.Writer) int {
	console := newConsole(stdout, tmsync.NewRedactor(a.SrcPassword))
	defer console.finish()
	errorLog := errorLogPath(a)
	fail := func(err error) int { return failStart(console, errorLog, err) }
	// The outputs first: an error log that cannot be written, or would replace an input,
	// is not written for any refusal.
	logOK, outErr := checkOutputs(a, x)
	if !logOK {
		errorLog = ""
	}
	split, err := x.check()
	if err != nil {
		err = startErr("checking flags", err)
	}
	if err := errors.Join(err, outErr); err != nil {
		return fail(err)
	}
	hardStop.arm(a, console) // the outputs checked (runMode)
	logger, err := newLogger(a.LogLevel, a.LogFormat, stderr, console.Redactor)
	if err != nil {
		return fail(startErr("checking flags", err))
	}
	toTar := strings.HasSuffix(x.to, ".tar")

	token := a.SrcPassword
	if token == "" && x.tokenSecretSet {
		cfg, err := loadAWSConfig(ctx)
		if err != nil {
			return fail(startErr("loading AWS configuration", err))
		}
		dropAWSSecretEnv()
		if token, err = tokenFromSecret(ctx, secretsmanager.NewFromConfig(cfg), a.SrcTokenSecret); err != nil {
			return fail(startErr("reading the vendor token", err))
		}
	}
	console.Redactor.Add(token)
	console.Redactor.AddAuthFile(a.AuthFile)
	console.Redactor.AddAuthFile(os.Getenv("REGISTRY_AUTH_FILE"))
	if token == "" {
		return fail(startErr("reading the vendor token", errors.New("no vendor token: set TM_TOKEN, --srcpasswd, or --src-token-secret")))
	}
	if w := attestorKeyWarning(a); w != "" {
		console.Event(tmsync.Event{Kind: tmsync.EventWarn, Message: w})
	}
	attestor, err := newAttestor(attestorConfig{KeyFile: a.AttestorKeyFile, KeyTried: a.Absent["src_attestor"], Fingerprints: a.AttestorFingerprints,
		Address: a.AttestationAddress, Token: token, Bundle: a.AttestationBundle, PerImage: a.AttestationPerImage,
		StrictKeyExpiry: a.StrictKeyExpiry, Logger: logger})
	if err != nil {
		return fail(err)
	}
	byo, err := tmsync.ParseBYOPolicy(a.BYOPolicy)
	if err != nil {
		return fail(startErr("checking options", err))
	}
	exp, err := tmsync.NewExporter(attestor,
		tmsync.WithSource(tmsync.Source{Registry: vendorRegistry(a.SrcDomain), Username: a.SrcUser, Password: token, AuthFile: a.AuthFile}),
		tmsync.WithConcurrency(a.Concurrency), tmsync.WithRetries(a.Retries), tmsync.WithBYOPolicy(byo),
		tmsync.WithInsecure(a.Insecure...), tmsync.WithReleaseSHA256(a.ReleaseSHA256),
		tmsync.WithLogger(logger), tmsync.WithObserver(console), tmsync.WithRedactor(console.Redactor))
	if err != nil {
		return fail(err)
	}
	relOpts := releaseOptions(a)
	rel := tmsync.ReleaseDir(a.ReleaseDir, relOpts...)
	var bopts []bundle.ExportOption
	if x.since != "" {
		// A previous bundle (its folder or bundle.json), else a previous release folder.
		var prev *bundle.Previous
		if isPreviousBundle(x.since) {
			if prev, err = bundle.ReadPrevious(x.since); err != nil {
				return fail(startErr("reading --since "+x.since, err))
			}
		} else if fi, serr := os.Stat(x.since); serr == nil && fi.IsDir() {
			if prev, err = exp.Previous(ctx, tmsync.ReleaseDir(x.since, relOpts...)); err != nil {
				return fail(err)
			}
		} else {
			return fail(startErr("reading --since "+x.since, errors.New("want a previous bundle (its folder or bundle.json) or a previous release folder")))
		}
		bopts = append(bopts, bundle.WithSince(prev))
	}
	dir := x.to
	if toTar {
		// Exported into a folder next to the tar, then packed: the folder is kept when
		// the export fails, so that a rerun fetches only what is missing.
		dir = x.to + ".export.d"
	}
	start := time.Now()
	rep, m, err := exp.Export(ctx, rel, dir, bopts...)
	if err != nil {
		return fail(err)
	}
	var saved *attest.Bundle
	if a.SaveAttestationBundle != "" {
		b := attestor.Bundle(a.AttestationAddress, time.Now())
		saved = &b
	}
	status := writeOutputs(console, a, rep, errorLog, saved)
	if m == nil {
		failAfterLog(console, errorLog, fmt.Sprintf("ERROR: no bundle written: %s holds what was fetched; rerun to complete it", dir))
		return max(status, 1)
	}
	var blobBytes int64
	for _, f := range m.Files {
		if strings.HasPrefix(f.Path, "blobs/") {
			blobBytes += f.Size
		}
	}
	secs := time.Since(start).Seconds()
	console.Printf("INFO: bundle %s: %d images, %s of blobs, %d left out (incremental), in %.1fs (%s/s)", dir, len(m.Images),
		tmsync.HumanBytes(blobBytes), len(m.External), secs, tmsync.HumanBytes(int64(float64(blobBytes)/max(secs, 1e-3))))
	if toTar {
		parts, err := bundle.PackFile(ctx, dir, x.to, split)
		if err != nil {
			failAfterLog(console, errorLog, fmt.Sprintf("ERROR: packing %s: %v (the folder %s is kept)", x.to, err, dir))
			return max(status, 1)
		}
		if err := os.RemoveAll(dir); err != nil {
			console.Printf("WARNING: removing %s: %v", dir, err)
		}
		console.Printf("INFO: packed into %s", strings.Join(parts, ", "))
	}
	return status
}

// isPreviousBundle: p is a bundle.json, or a folder holding one.
func isPreviousBundle(p string) bool {
	fi, err := os.Stat(p)
	if err != nil {
		return false
	}
	if !fi.IsDir() {
		return true
	}
	_, err = os.Stat(filepath.Join(p, bundle.ManifestFile))
	return err == nil
}

// writeOutputs writes the error log, the report and the JUnit file of a run and prints
// its summary, as runMode does (and the attestation bundle when saved is not nil); it
// returns the exit status.
func writeOutputs(console *Console, a Args, rep *tmsync.Report, errorLog string, saved *attest.Bundle) int {
	rep.Clean(console.Redactor)
	status := writeReports(console, a, rep, errorLog, saved)
	sum := rep.Summary
	console.Printf("INFO: %s finished: %d images: %d exported, %d ignored, %d rejected, %d failed; %s in %s",
		rep.Mode, sum.Images, sum.Copied, sum.Ignored, sum.Rejected, sum.Failed, tmsync.HumanBytes(sum.Bytes), rep.Finished.Sub(rep.Started).Round(time.Millisecond))
	for _, l := range rep.ErrorLines() {
		console.Printf("%s", l)
	}
	return status
}

// sizeGrammar is how the size flags (--cache-max-bytes, --split) are written, for their
// usage: the one grammar sizeForm reads.
const sizeGrammar = "a whole number of bytes, or one with K, M, G or T: binary units (K, Ki, KiB and KB are 1024 bytes), upper or lower case, a space allowed before the unit (500MiB, 500 MiB, 500Mi, 2G, 2gb); no fraction, sign or exponent"

// sizeForm is a size as parseSizeOrZero reads it (its ASCII letters upper-cased): a whole
// number, an optional space, and an optional unit: B, or K, M, G or T alone or followed
// by I, IB or B. 0 is a size like any other here ("0", "0Ki", "0 KiB"): whether it is
// allowed is the flag's to say.
var sizeForm = regexp.MustCompile(`^([0-9]+)\s*(?:([KMGT])(?:I?B|I)?|B)?$`)

// parseSizeOrZero reads a size written as sizeGrammar says ("1048576", "100M", "4Gi",
// "512KiB", "5 MiB", "2gb", "0", "0Ki"), in bytes. A fraction ("1.5G"), a sign, an
// exponent ("1e3") and a size past 2^62 bytes are refused; the caller names its flag.
func parseSizeOrZero(s string) (int64, error) {
	const want = "want " + sizeGrammar
	m := sizeForm.FindStringSubmatch(asciiUpper(strings.TrimSpace(s)))
	if m == nil {
		if strings.ContainsAny(s, ".,") {
			return 0, errors.New("whole numbers only (1536M, not 1.5G): " + want)
		}
		return 0, errors.New(want)
	}
	mult := map[string]int64{"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[m[2]]
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n > (1<<62)/mult {
		return 0, errors.New("too large: at most 4 EiB (2^62 bytes)")
	}
	return n * mult, nil
}

// asciiUpper is s with its ASCII letters in upper case and nothing else changed: the "any
// case" of a unit is ASCII's (strings.ToUpper reads "5kıb", a dotless ı, as 5KIB).
func asciiUpper(s string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, s)
}

// parseSize is parseSizeOrZero for a size that must be positive: 0 in any unit is
// refused.
func parseSize(s string) (int64, error) {
	n, err := parseSizeOrZero(s)
	if err == nil && n == 0 {
		err = errors.New("want a positive size: " + sizeGrammar)
	}
	return n, err
}

// bundleCommand is `tmsync bundle verify PATH`.
func bundleCommand(stdout, stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "bundle",
		Usage: "air-gapped bundles written by tmsync export",
		Subcommands: []*cli.Command{{
			Name:      "verify",
			Usage:     "check a bundle's files and attestations, offline; exit 0 all verified, 1 some images refused, 2 unreadable",
			ArgsUsage: "DIR|FILE.tar|FILE.tar.000",
			Flags: categorize([]cli.Flag{
				&cli.StringFlag{Name: "src_attestor", Value: "src_attestor.pgp", Usage: "armored public key file of the vendor's attestor (the operator's: never a key from the bundle)"},
				&cli.StringSliceFlag{Name: "src-attestor-fingerprint", Usage: fingerprintUsage},
				&cli.BoolFlag{Name: "strict-key-expiry", Usage: "refuse a signature whose key has expired since it signed"},
				&cli.StringFlag{Name: "byo-policy", Value: string(tmsync.BYOPinned), Usage: "upstream images without attestation: pinned (pass) or attested (refuse)"},
				&cli.StringFlag{Name: "srcdomain", Value: manifest.DefaultVendorRegistry, Usage: "the vendor registry: its images always need an attestation"},
				&cli.StringFlag{Name: "temp-dir", Usage: "where a tar is extracted (default: the system's)"},
			}),
			OnUsageError: usageError(stderr),
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					fmt.Fprintln(stderr, "ERROR: bundle verify takes one DIR or FILE.tar")
					return exitCode(2)
				}
				byo, err := tmsync.ParseBYOPolicy(c.String("byo-policy"))
				if err != nil {
					fmt.Fprintf(stderr, "ERROR: %v\n", err)
					return exitCode(2)
				}
				return exitCode(verifyBundle(c.Context, c.Args().First(), attestorConfig{KeyFile: c.String("src_attestor"),
					Fingerprints: c.StringSlice("src-attestor-fingerprint"), StrictKeyExpiry: c.Bool("strict-key-expiry")},
					byo, c.String("srcdomain"), c.String("temp-dir"), stdout, stderr))
			},
		}},
	}
}

func verifyBundle(ctx context.Context, path string, ac attestorConfig, byo tmsync.BYOPolicy, vendor, tmp string, stdout, stderr io.Writer) int {
	verifier, err := newVerifier(ac)
	if err != nil {
		fmt.Fprintf(stderr, "ERROR: %v\n", err)
		return 2
	}
	// A packed bundle is extracted under a folder of the run's own, which a second signal
	// removes with what is in it (runTemps).
	temps := newRunTemps(tmp, false)
	defer temps.remove()
	var opts []bundle.OpenOption
	if temps.disk != "" {
		opts = append(opts, bundle.WithTempDir(temps.disk))
	} else if tmp != "" {
		opts = append(opts, bundle.WithTempDir(tmp))
	}
	b, err := bundle.Open(ctx, path, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "ERROR: %s: %v\n", path, err)
		return bundle.ExitCode(err)
	}
	defer b.Close()
	// An image of an upstream registry without attestation passes with --byo-policy
	// pinned (bundle images are pinned by digest); a vendor image never does.
	allow := func(im bundle.ImageRecord) bool {
		if byo != tmsync.BYOPinned {
			return false
		}
		host, _, _ := strings.Cut(im.Source, "/")
		return !manifest.SameRegistry(host, vendor)
	}
	s := b.Verify(ctx, verifier, bundle.WithAllowUnattested(allow))
	kind := s.Kind
	fmt.Fprintf(stdout, "bundle %s (%s), written by tmsync %s, releases %s\n", filepath.Clean(path), kind, s.ToolVersion, strings.Join(s.Releases, ", "))
	if s.ReleaseSHA256 != "" {
		// Computed from the release files by Open (a bundle.json claiming another was
		// refused there): what --release-sha256 pins.
		files := "files"
		if s.ReleaseFiles == 1 {
			files = "file"
		}
		fmt.Fprintf(stdout, "release folder sha256 %s (computed from its %d %s; pin it with --release-sha256)\n", s.ReleaseSHA256, s.ReleaseFiles, files)
	}
	fmt.Fprintf(stdout, "files: %d (%s); blobs: %d (%s)", s.Files, tmsync.HumanBytes(s.FileBytes), s.Blobs, tmsync.HumanBytes(s.BlobBytes))
	if s.Incremental {
		fmt.Fprintf(stdout, "; incremental: %d blobs left out (%s)", s.External, tmsync.HumanBytes(s.ExternalBytes))
	}
	fmt.Fprintln(stdout)
	for _, p := range s.Problems {
		fmt.Fprintf(stdout, "ERROR: %s\n", tmsync.Sanitize(p))
	}
	for _, w := range s.Warnings {
		fmt.Fprintf(stdout, "WARNING: %s\n", tmsync.Sanitize(w))
	}
	for _, r := range s.Results {
		switch {
		case r.OK && r.Attestation != nil:
			fmt.Fprintf(stdout, "  verified  %s %s (attested by %s)\n", r.Name, r.Digest, r.Attestation.Fingerprint)
		case r.OK:
			fmt.Fprintf(stdout, "  verified  %s %s (not attested: upstream image, --byo-policy=pinned)\n", r.Name, r.Digest)
		default:
			fmt.Fprintf(stdout, "  refused   %s %s: %s\n", r.Name, r.Digest, tmsync.Sanitize(r.Err.Error()))
		}
	}
	fmt.Fprintf(stdout, "images: %d: %d verified, %d refused\n", s.Images, s.Verified, s.Refused)
	return s.ExitCode()
}
