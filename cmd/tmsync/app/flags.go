package app

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/manifest"
	"github.com/tmsync/tmsync/tmsync"
)

// syncFlags are the flags of sync, plan and verify: every flag of the old pipeline, with
// its name and meaning, then tmsync's own.
func syncFlags() []cli.Flag {
	return []cli.Flag{
		// The old pipeline's flags.
		&cli.StringFlag{Name: "srcusr", Value: "_tm", Usage: "user to log in to the source registry"},
		&cli.StringFlag{Name: "srcpasswd", Usage: "vendor token (visible to other users in the process list: prefer the TM_TOKEN environment variable or the Secrets Manager secret)"},
		&cli.StringFlag{Name: "srcdomain", Value: manifest.DefaultVendorRegistry, Usage: "source (vendor) registry"},
		&cli.StringFlag{Name: "trgprefix", Value: manifest.DefaultPrefix, Usage: "prefix of the target repositories"},
		&cli.StringFlag{Name: "trgregion", EnvVars: []string{"AWS_REGION"}, Usage: "AWS region of the target ECR"},
		&cli.StringFlag{Name: "src_packages_postfix", Value: manifest.DefaultImagesPostfix, Usage: "postfix of the image list files"},
		&cli.StringFlag{Name: "src_release_postfix", Aliases: []string{"src_release"}, Value: manifest.DefaultReleasePostfix, Usage: "postfix of the release JSON files"},
		&cli.StringFlag{Name: "trg_ecr_policy_file_path", Value: "ecr_policy.json", Usage: "repository policy: a policy JSON document, or AWS account ids one a line"},
		&cli.StringFlag{Name: "trg_ecr_lifecycle_file_path", Value: "ecr_lifecycle_policy.json", Usage: "lifecycle policy JSON (absent default file: expire untagged images)"},
		&cli.StringFlag{Name: "trg_resource_tags_file_path", Value: "resource_tags.txt", Usage: `resource tags: a JSON list of {"Key":..,"Value":..}`},
		&cli.StringFlag{Name: "trg_kms_key_alias", EnvVars: []string{"ECR_KMS_ARN"}, Usage: "KMS key for new repositories: alias, ARN or key id (none: AES256)"},
		&cli.BoolFlag{Name: "trg_dst_security_scan_enabled", Usage: "scan images on push"},
		&cli.IntFlag{Name: "throttle_ecr_creation_ms", Value: 100, Usage: "spacing of ECR repository changes, in milliseconds"},
		&cli.StringFlag{Name: "src_attestions_address", Value: attest.DefaultAddress, Usage: "Grafeas occurrences endpoint of the vendor's attestations"},
		&cli.StringFlag{Name: "gnupgdir", Usage: "ignored: tmsync needs no GPG home"},
		&cli.StringFlag{Name: "src_attestor", Value: "src_attestor.pgp", Usage: "armored public key file of the vendor's attestor"},
		// tmsync's own.
		&cli.StringSliceFlag{Name: "src-attestor-fingerprint", Usage: fingerprintUsage},
		&cli.StringFlag{Name: "src-token-secret", Value: "tm-sync-token", Usage: `Secrets Manager secret holding {"TM_TOKEN":"..."}`},
		&cli.StringFlag{Name: "target", Value: "ecr", Usage: "ecr, or registry (push to --trg-registry, no AWS call); any case"},
		&cli.StringFlag{Name: "trg-registry", Usage: "push to this registry HOST[:PORT] instead of the one ECR names"},
		&cli.StringSliceFlag{Name: "insecure-registry", Usage: "talk plain HTTP to this HOST[:PORT] (repeatable)"},
		&cli.StringFlag{Name: "authfile", Usage: "auth.json for upstream (BYO) registries (default: the usual locations)"},
		&cli.StringFlag{Name: "release-dir", Value: ".", Usage: "release folder"},
		&cli.StringFlag{Name: "error-log", Value: "sync-error.log", Usage: "error log: empty when every image is in place"},
		&cli.StringFlag{Name: "report", Usage: "write the JSON report here"},
		&cli.StringFlag{Name: "junit", Usage: "write a JUnit XML report here (one test case per image)"},
		&cli.IntFlag{Name: "concurrency", Value: tmsync.DefaultConcurrency, Usage: "images handled at once: copied (sync, export), resolved and checked (plan, verify)"},
		&cli.IntFlag{Name: "retries", Value: tmsync.DefaultRetries, Usage: "tries again of a step that failed for a transient reason: an image copy, a tag lookup, a digest resolution (0: none)"},
		&cli.StringFlag{Name: "byo-policy", Value: string(tmsync.BYOPinned), Usage: "upstream images without attestation: pinned (copy by the pinned digest, warn) or attested (refuse)"},
		&cli.StringFlag{Name: "trg-tag-mutability", Value: "IMMUTABLE", Usage: "IMMUTABLE or MUTABLE tags on the repositories"},
		&cli.IntFlag{Name: "trg_ecr_image_untagged_delete_days", Value: 2, Usage: "days after which the default lifecycle rule expires untagged images"},
		&cli.BoolFlag{Name: "prune-tags", Usage: "remove resource tags not in the tags file"},
		&cli.StringFlag{Name: "attestation-bundle", Usage: "verify from this offline bundle instead of the attestation server"},
		&cli.StringFlag{Name: "save-attestation-bundle", Usage: "write the attestations the run used to this file"},
		&cli.BoolFlag{Name: "attestation-per-image", Usage: "ask the attestation server image by image instead of listing the note once"},
		&cli.BoolFlag{Name: "strict-key-expiry", Usage: "refuse a signature whose key has expired since it signed (default: accept, report keyExpired)"},
		&cli.DurationFlag{Name: "scan-wait", Usage: "wait up to this long for each image's ECR scan"},
		&cli.StringFlag{Name: "fail-on-severity", Usage: "with --scan-wait: fail images with findings at or above CRITICAL, HIGH, MEDIUM, LOW or INFORMATIONAL"},
		&cli.IntFlag{Name: "shard-index", Usage: "this run's shard, from 0"},
		&cli.IntFlag{Name: "shard-count", Value: 1, Usage: "number of shards the release is split into, by repository"},
		&cli.BoolFlag{Name: "dry-run", Usage: "plan only: change nothing"},
		&cli.StringFlag{Name: "log-level", Usage: "log to stderr from this level: " + logLevels + ", in any case (default: no log; the console lines say what happened)"},
		&cli.BoolFlag{Name: "debug", Usage: "shorthand for --log-level debug"},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: " + logFormats + ", in any case"},
		&cli.StringFlag{Name: "from-bundle", Usage: "air-gapped: read the release, its images and attestations from this bundle (folder, tar or split parts) written by tmsync export; no vendor token, no network but the target"},
		&cli.StringSliceFlag{Name: "earlier-bundle", Usage: "with --from-bundle: an earlier bundle holding blobs an incremental bundle left out (repeatable)"},
		&cli.StringFlag{Name: "cache-dir", Usage: "keep the run's blob store (an OCI layout of every blob pulled) in this folder and reuse it in later runs (default: a temporary store of the shared blobs, removed at the end)"},
		&cli.StringFlag{Name: "cache-max-bytes", Value: "0", Usage: "bound the blob store: " + sizeGrammar + "; a blob that does not fit is streamed without being kept (0 in any unit, or empty: the release's shared bytes, with --cache-dir its distinct bytes, plus 8 MiB)"},
		&cli.DurationFlag{Name: "idle-timeout", Value: tmsync.DefaultIdleTimeout, Usage: "cut and retry a transfer (from the source or to the target) that moves no byte for this long (at least 1s)"},
		&cli.BoolFlag{Name: "enable-blob-mounting", Usage: "turn ECR's BLOB_MOUNTING account setting on if it is off (needs ecr:PutAccountSetting; default: read and report it only)"},
		&cli.StringFlag{Name: "sign-kms-key", EnvVars: []string{"TMSYNC_SIGN_KMS_KEY"}, Usage: "bank's AWS KMS signing key (alias or ARN): sign every image in ECR (cosign format) and store the vendor's attestation next to it; verify checks both"},
		&cli.StringFlag{Name: "bank-public-key", Usage: "verify: PEM public key the bank signatures must verify under (instead of --sign-kms-key)"},
		&cli.BoolFlag{Name: "copy-referrers", Value: true, Usage: "copy the vendor's referrers (signatures, SBOMs) of each image, digests preserved"},
		&cli.BoolFlag{Name: "detailed-exitcode", EnvVars: []string{"TMSYNC_DETAILED_EXITCODE"}, Category: "Run",
			Usage: "plan: exit 3 when there are changes (0 none, 1 failures, 2 bad input)"},
		&cli.BoolFlag{Name: "skip-preflight", EnvVars: []string{"TMSYNC_SKIP_PREFLIGHT"}, Category: "Run",
			Usage: "skip the checks before the run (AWS credentials, token, attestation server, registries, KMS key)"},
		&cli.DurationFlag{Name: "heartbeat", Value: 30 * time.Second, EnvVars: []string{"TMSYNC_HEARTBEAT"}, Category: "Run",
			Usage: "when not on a terminal, a status line this often (0: none)"},
		&cli.StringFlag{Name: "release-sha256", Usage: "refuse to start (exit 2) unless the release folder's files hash to this digest (printed by plan, recorded as releaseSha256)"},
	}
}

// ecrOnlyFlags are the flags that set ECR repositories or ECR's account, and do nothing
// with --target registry (--scan-wait, which would wait for nothing, is refused).
var ecrOnlyFlags = []string{"trg_dst_security_scan_enabled", "trg_kms_key_alias", "trg_ecr_policy_file_path",
	"trg_ecr_lifecycle_file_path", "trg_resource_tags_file_path", "trg-tag-mutability",
	"trg_ecr_image_untagged_delete_days", "throttle_ecr_creation_ms", "prune-tags", "enable-blob-mounting"}

func argsFromFlags(c *cli.Context, stderr io.Writer) (Args, error) {
	return readArgs(c, stderr, func(string) bool { return true })
}

// readArgs reads the flags into Args and checks the values of those the command has
// (has); a flag it does not have reads as its zero value.
func readArgs(c *cli.Context, stderr io.Writer, has func(name string) bool) (Args, error) {
	if c.IsSet("gnupgdir") {
		fmt.Fprintln(stderr, "INFO: --gnupgdir is ignored: tmsync verifies attestations itself and needs no GPG home")
	}
	if c.IsSet("srcpasswd") {
		fmt.Fprintln(stderr, "WARNING: --srcpasswd puts the token in the process list; prefer TM_TOKEN or the Secrets Manager secret")
	}
	target := normTarget(c.String("target"))
	if target == "registry" {
		// Accepted, not refused: a config shared with the ECR runs may set them.
		var idle []string
		for _, name := range ecrOnlyFlags {
			if c.IsSet(name) && fmt.Sprint(c.Value(name)) != "" { // an empty ECR_KMS_ARN sets nothing
				idle = append(idle, "--"+name)
			}
		}
		if len(idle) > 0 {
			fmt.Fprintf(stderr, "INFO: %s: ECR repository settings, ignored with --target registry\n", strings.Join(idle, ", "))
		}
	}
	a := Args{
		SrcUser: c.String("srcusr"), SrcPassword: c.String("srcpasswd"), SrcDomain: c.String("srcdomain"),
		SrcTokenSecret:  c.String("src-token-secret"),
		PackagesPostfix: c.String("src_packages_postfix"), ReleasePostfix: c.String("src_release_postfix"),
		AttestationAddress: c.String("src_attestions_address"), AttestorKeyFile: c.String("src_attestor"),
		AttestorFingerprints: c.StringSlice("src-attestor-fingerprint"),
		AttestationBundle:    c.String("attestation-bundle"), SaveAttestationBundle: c.String("save-attestation-bundle"),
		AttestationPerImage: c.Bool("attestation-per-image"), StrictKeyExpiry: c.Bool("strict-key-expiry"), AuthFile: c.String("authfile"),
		Target: target, TrgPrefix: c.String("trgprefix"), TrgRegion: c.String("trgregion"),
		TrgRegistry: c.String("trg-registry"), Insecure: c.StringSlice("insecure-registry"),
		PolicyPath:    c.String("trg_ecr_policy_file_path"),
		LifecyclePath: c.String("trg_ecr_lifecycle_file_path"),
		TagsPath:      c.String("trg_resource_tags_file_path"),
		KMSKey:        c.String("trg_kms_key_alias"), ScanOnPush: c.Bool("trg_dst_security_scan_enabled"),
		TagMutability: c.String("trg-tag-mutability"), PruneTags: c.Bool("prune-tags"),
		UntaggedDeleteDays: c.Int("trg_ecr_image_untagged_delete_days"), ThrottleMS: c.Int("throttle_ecr_creation_ms"),
		ScanWait: c.Duration("scan-wait"), FailOnSeverity: c.String("fail-on-severity"),
		ReleaseDir: c.String("release-dir"), ErrorLog: c.String("error-log"), Report: c.String("report"), JUnit: c.String("junit"),
		Concurrency: c.Int("concurrency"), Retries: c.Int("retries"), BYOPolicy: c.String("byo-policy"),
		ShardIndex: c.Int("shard-index"), ShardCount: c.Int("shard-count"), DryRun: c.Bool("dry-run"),
		ReleaseSHA256: c.String("release-sha256"), SkipPreflight: c.Bool("skip-preflight"), DetailedExitCode: c.Bool("detailed-exitcode"), Heartbeat: c.Duration("heartbeat"),
		CacheDir: c.String("cache-dir"), IdleTimeout: c.Duration("idle-timeout"), EnableBlobMounting: c.Bool("enable-blob-mounting"),
		SignKMSKey: c.String("sign-kms-key"), BankPublicKey: c.String("bank-public-key"), CopyReferrers: c.Bool("copy-referrers"),
		LogLevel: c.String("log-level"), LogFormat: c.String("log-format"),
	}
	// The attestor key and the settings files left at their default names: in the release
	// folder or the working folder (resolveDefaultFiles).
	defaultsErr := resolveDefaultFiles(c, &a)
	a.FromBundle, a.EarlierBundles = c.String("from-bundle"), c.StringSlice("earlier-bundle")
	a.Config = c.String("config")
	if c.Bool("debug") {
		a.LogLevel = "debug"
	}
	errs := []error{defaultsErr, checkArgs(a, has)}
	if v := c.String("cache-max-bytes"); strings.TrimSpace(v) != "" {
		n, err := parseSizeOrZero(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("--cache-max-bytes %q: %v (0: the default)", v, err))
		}
		a.CacheMaxBytes = n
	}
	return a, errors.Join(errs...)
}

// normTarget is --target as the run compares it: ecr or registry in lower case, whatever
// case it was given in (as --byo-policy); another value as given, for checkArgs to refuse
// in the operator's spelling.
func normTarget(v string) string {
	switch t := strings.ToLower(strings.TrimSpace(v)); t {
	case "ecr", "registry":
		return t
	}
	return v
}

// fingerprintUsage is --src-attestor-fingerprint's help, for every command that has it.
const fingerprintUsage = "accept only signatures by the key of this fingerprint (40 hex digits, from the vendor out of band; repeatable, or comma-separated)"

// checkArgs checks the values of the flags a command has (has: sync, plan and verify all
// of them, export its own), one error per bad flag, naming it.
func checkArgs(a Args, has func(name string) bool) error {
	var errs []error
	check := func(name string, ok bool, format string, args ...any) {
		if has(name) && !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check("retries", a.Retries >= 0, "--retries %d: want 0 or more", a.Retries)
	check("throttle_ecr_creation_ms", a.ThrottleMS >= 0, "--throttle_ecr_creation_ms %d: want 0 or more", a.ThrottleMS)
	check("concurrency", a.Concurrency >= 1, "--concurrency %d: want at least 1", a.Concurrency)
	check("trg_ecr_image_untagged_delete_days", a.UntaggedDeleteDays >= 1, "--trg_ecr_image_untagged_delete_days %d: want at least 1", a.UntaggedDeleteDays)
	// Under a second is a typo (1ms for 1m): every transfer would be cut and retried for ever.
	check("idle-timeout", a.IdleTimeout >= minIdleTimeout, "--idle-timeout %s: want at least %s", a.IdleTimeout, minIdleTimeout)
	check("scan-wait", a.ScanWait >= 0, "--scan-wait %s: want 0 or more", a.ScanWait)
	// The target and the gates that depend on it: said here, not when the run builds its
	// target after the preflight, so that config show says them and a run refuses them
	// before any network.
	switch a.Target {
	case "", "ecr", "registry":
	default:
		check("target", false, "--target %q: want ecr or registry (any case)", a.Target)
	}
	check("trg-registry", a.Target != "registry" || a.TrgRegistry != "", "--target registry needs --trg-registry HOST[:PORT]")
	check("scan-wait", a.ScanWait <= 0 || a.Target == "" || a.Target == "ecr",
		"--scan-wait needs --target ecr (the scans are ECR's), not --target %s", a.Target)
	if a.FailOnSeverity != "" {
		if _, err := tmsync.ParseSeverity(a.FailOnSeverity); err != nil {
			check("fail-on-severity", false, "--fail-on-severity %q: want one of CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL (any case)", a.FailOnSeverity)
		}
		check("fail-on-severity", a.ScanWait > 0, "--fail-on-severity needs --scan-wait: without waiting for the scans there are no findings to gate on")
	}
	check("shard-count", a.ShardCount >= 1, "--shard-count %d: want at least 1", a.ShardCount)
	check("shard-index", a.ShardCount < 1 || a.ShardIndex >= 0 && a.ShardIndex < a.ShardCount,
		"--shard-index %d: want 0 to %d (--shard-count %d)", a.ShardIndex, a.ShardCount-1, a.ShardCount)
	if pin := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(a.ReleaseSHA256)), "sha256:"); pin != "" {
		check("release-sha256", sha256Hex.MatchString(pin), "--release-sha256 %q: want 64 hex digits (sha256:... as plan prints it, or bare)", a.ReleaseSHA256)
	}
	check("bank-public-key", a.SignKMSKey == "" || a.BankPublicKey == "",
		"--sign-kms-key and --bank-public-key: give one (verify reads the KMS key's public key itself)")
	// Read only with --from-bundle: alone, it would be passed over unsaid.
	check("earlier-bundle", len(a.EarlierBundles) == 0 || a.FromBundle != "",
		"--earlier-bundle needs --from-bundle: an earlier bundle only gives the blobs an incremental --from-bundle left out")
	// ECR settings are checked here, not per image when a repository is made: a bad one
	// would fail every image (or pass unseen with --target registry).
	switch strings.ToUpper(a.TagMutability) {
	case "", "IMMUTABLE", "MUTABLE":
	default:
		check("trg-tag-mutability", false, "--trg-tag-mutability %q: want IMMUTABLE or MUTABLE", a.TagMutability)
	}
	// From a bundle, the attestations are the bundle's attestations.json: an attestation
	// bundle to read would be ignored, and one to write would not be written.
	check("attestation-bundle", a.FromBundle == "" || a.AttestationBundle == "",
		"--attestation-bundle with --from-bundle: the bundle's own attestations.json is used; give one of the two")
	check("save-attestation-bundle", a.FromBundle == "" || a.SaveAttestationBundle == "",
		"--save-attestation-bundle with --from-bundle: nothing would be written (the bundle's attestations.json is the record of its attestations)")
	// The token goes to the attestation server: said before anything is sent to it (the
	// preflight asks it first). Not asked with an attestation bundle or from a bundle.
	if a.AttestationBundle == "" && a.FromBundle == "" {
		if err := attest.CheckAddress(a.AttestationAddress); err != nil {
			check("src_attestions_address", false, "--src_attestions_address: %v", err)
		}
	}
	for _, f := range a.AttestorFingerprints {
		if err := attest.CheckFingerprint(f); err != nil {
			check("src-attestor-fingerprint", false, "--src-attestor-fingerprint: %v", err)
		}
	}
	if _, err := tmsync.ParseBYOPolicy(a.BYOPolicy); err != nil {
		check("byo-policy", false, "--byo-policy %q: want pinned or attested", a.BYOPolicy)
	}
	if _, _, err := parseLogLevel(a.LogLevel); err != nil {
		check("log-level", false, "%v", err)
	}
	if _, err := parseLogFormat(a.LogFormat); err != nil {
		check("log-format", false, "%v", err)
	}
	return errors.Join(errs...)
}

// sha256Hex is a release digest as --release-sha256 takes it, lower-cased, without its
// "sha256:" (the library checks it again, as WithReleaseSHA256 does).
var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// minIdleTimeout is the shortest --idle-timeout: the library's.
const minIdleTimeout = tmsync.MinIdleTimeout
