package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/ecrtarget"
	"github.com/tmsync/tmsync/manifest"
	"github.com/tmsync/tmsync/tmsync"
)

// releaseOptions read the release folder as the flags say: file names, the vendor
// registry and the target prefix.
func releaseOptions(a Args) []manifest.Option {
	return []manifest.Option{manifest.WithReleasePostfix(a.ReleasePostfix),
		manifest.WithImagesPostfix(a.PackagesPostfix), manifest.WithVendorRegistry(a.SrcDomain), manifest.WithPrefix(a.TrgPrefix)}
}

// errorLogPath is the error log a run writes: --error-log, sync-error.log by default.
func errorLogPath(a Args) string {
	if a.ErrorLog == "" {
		return "sync-error.log"
	}
	return a.ErrorLog
}

// failStart prints the error that stopped a run before it started, one ERROR line per
// line of it (errors.Join lists problems a line each; every line starts with ERROR,
// and remote text in it is escaped), writes it to the error log, and returns exit
// status 2.
func failStart(console *Console, errorLog string, err error) int {
	for _, p := range strings.Split(console.Redactor.Redact(err.Error()), "\n") {
		console.Printf("ERROR: %s", p)
	}
	startLog(console, errorLog, err)
	return 2
}

// startLog writes the error log of a run that could not start: err redacted, one line
// for each problem it holds (the preflight's, the flags': one a line, as the log has one
// line per failure); a log it cannot write is said on console. errorLog "" is none.
func startLog(console *Console, errorLog string, err error) {
	if errorLog == "" {
		return
	}
	var lines strings.Builder
	for _, p := range strings.Split(console.Redactor.Redact(err.Error()), "\n") {
		if p = strings.TrimSpace(p); p != "" {
			lines.WriteString("ERROR: could not start: " + tmsync.Sanitize(oneLine(p)) + "\n")
		}
	}
	if lines.Len() == 0 {
		lines.WriteString("ERROR: could not start\n")
	}
	if werr := writeOutputFile(errorLog, func(w io.Writer) error { _, err := io.WriteString(w, lines.String()); return err }); werr != nil {
		console.Printf("ERROR: %v", werr)
	}
}

// writeReports writes the files of the end of a run: the attestation bundle (when bundle
// is not nil), the JSON report and the JUnit file the flags ask for, then the error log,
// with a line for each of those that could not be written, so that the log is empty
// exactly when the exit status is 0. It returns the exit status: the report's, at least
// 1 when a file could not be written.
func writeReports(console *Console, a Args, rep *tmsync.Report, errorLog string, bundle *attest.Bundle) int {
	status := rep.ExitStatus()
	var failed []string
	write := func(flag, path string, encode func(io.Writer) error) {
		if err := writeOutputFile(absPath(path), encode); err != nil {
			line := "ERROR: " + flag + ": " + tmsync.Sanitize(oneLine(console.Redactor.Redact(err.Error())))
			console.Printf("%s", line)
			failed = append(failed, line)
			status = max(status, 1)
		}
	}
	if bundle != nil {
		write("--save-attestation-bundle", a.SaveAttestationBundle, func(w io.Writer) error { return attest.WriteBundle(w, *bundle) })
	}
	if a.Report != "" {
		write("--report", a.Report, rep.EncodeJSON)
	}
	if a.JUnit != "" {
		write("--junit", a.JUnit, rep.EncodeJUnit)
	}
	// Last: it says which of those could not be written.
	log := func(w io.Writer) error {
		if err := rep.EncodeErrorLog(w); err != nil {
			return err
		}
		for _, l := range failed {
			if _, err := io.WriteString(w, l+"\n"); err != nil {
				return err
			}
		}
		return nil
	}
	if err := writeOutputFile(absPath(errorLog), log); err != nil {
		console.Printf("ERROR: --error-log: %s", tmsync.Sanitize(oneLine(console.Redactor.Redact(err.Error()))))
		status = max(status, 1)
		// The error log of an earlier run must not stay to say otherwise (an empty one
		// reads as success): written in place, else removed.
		hardStop.writes.Lock()
		if fi, lerr := os.Lstat(errorLog); lerr == nil && fi.Mode().IsRegular() {
			f, ferr := os.OpenFile(errorLog, os.O_WRONLY|os.O_TRUNC, 0)
			if ferr == nil {
				ferr = log(f)
				if cerr := f.Close(); ferr == nil {
					ferr = cerr
				}
			}
			if ferr != nil {
				os.Remove(errorLog)
			} else {
				hardStop.markWritten(errorLog)
			}
		}
		hardStop.writes.Unlock()
	}
	return status
}

// runMode runs one mode from a: builds the engine, runs it, writes the error log, the
// report, the JUnit file and the attestation bundle, prints to stdout, and returns the
// exit status: 0 all in place, 1 some images failed, 2 the run could not start.
func runMode(ctx context.Context, mode tmsync.Mode, a Args, stdout, stderr io.Writer) int {
	console := newConsole(stdout, tmsync.NewRedactor(a.SrcPassword))
	defer console.finish()
	console.quietSkip = mode == tmsync.ModeVerify
	errorLog := errorLogPath(a)
	fail := func(err error) int { return failStart(console, errorLog, err) }
	// The outputs first: an error log that cannot be written (its folder is a bad one), or
	// would replace an input, is not written for any refusal: the error is printed only.
	if logOK, err := checkOutputs(a, exportArgs{}); err != nil {
		if !logOK {
			errorLog = ""
		}
		return fail(err)
	}
	// Only outputs that passed are a hard stop's to remove: a --report refused for being
	// the --config file must not be removed as an earlier run's report by a second signal.
	hardStop.arm(a, console)
	logger, err := newLogger(a.LogLevel, a.LogFormat, stderr, console.Redactor)
	if err != nil {
		return fail(startErr("checking flags", err))
	}
	runAs := mode
	if a.DryRun && mode == tmsync.ModeSync {
		// sync --dry-run: plan only. A verify changes nothing already: it still verifies
		// (as a plan it would pass with images missing, its gate open).
		runAs = tmsync.ModePlan
	}
	s, err := setup(ctx, runAs, a, console, logger)
	if err != nil {
		if cutShort(ctx, err) {
			err = interruptedStart(ctx) // what the signal cut short is not the problem
		}
		return fail(err)
	}
	defer s.close()
	stopBeat := func() {}
	if !console.Terminal {
		stopBeat = console.heartbeat(a.Heartbeat)
	}
	rep, err := s.engine.Run(ctx, runAs, s.release)
	stopBeat()
	if err != nil {
		return fail(err)
	}
	rep.Caller = s.caller
	rep.Clean(console.Redactor) // the caller added to it
	var bundle *attest.Bundle
	if a.SaveAttestationBundle != "" && s.attestor != nil {
		b := s.attestor.Bundle(a.AttestationAddress, time.Now())
		bundle = &b
	}
	status := writeReports(console, a, rep, errorLog, bundle)
	if runAs == tmsync.ModePlan {
		var view strings.Builder
		if err := rep.EncodePlan(&view); err == nil {
			for _, l := range strings.Split(strings.TrimRight(view.String(), "\n"), "\n") {
				console.Printf("%s", l)
			}
		}
		if a.DetailedExitCode && status == 0 && rep.ChangesPending() {
			status = tmsync.ExitChangesPending
		}
	}
	sum := rep.Summary
	console.Printf("INFO: %s finished: %d images: %d copied, %d present, %d planned, %d ignored, %d rejected, %d failed; %s moved in %s",
		mode, sum.Images, sum.Copied, sum.Present, sum.Planned, sum.Ignored, sum.Rejected, sum.Failed, tmsync.HumanBytes(sum.Bytes), rep.Finished.Sub(rep.Started).Round(time.Millisecond))
	for _, l := range failureSummary(rep, absPath(errorLog)) {
		console.Printf("%s", l)
	}
	return status
}

// run is what setup builds.
type run struct {
	engine   *tmsync.Engine
	release  tmsync.Release
	caller   string
	attestor *tmsync.VendorAttestor
	// bundle is set by --from-bundle.
	bundle *bundleRun
	temps  runTemps
}

// close releases what setup opened (a bundle's extraction, the run's temporary folders).
func (r *run) close() {
	if r == nil {
		return
	}
	if r.bundle != nil {
		r.bundle.close()
	}
	r.temps.remove()
}

func startErr(op string, err error) error { return &tmsync.StartError{Op: op, Err: err} }

// setup builds the engine from a: credentials, attestor, target.
func setup(ctx context.Context, mode tmsync.Mode, a Args, console *Console, logger *slog.Logger) (_ *run, retErr error) {
	r := &run{temps: newRunTemps("", true)}
	defer func() {
		if retErr != nil {
			r.close()
		}
	}()
	if a.FromBundle != "" {
		// The bundle is checked before anything else: an unreadable one stops the run.
		br, err := openBundleRun(ctx, a, console, r.temps.disk)
		if err != nil {
			return nil, err
		}
		r.bundle = br
	}
	// The flags' values were checked when they were read (checkArgs): the target is ecr
	// or registry, the scan gate's severity parses.
	if a.Target == "" {
		a.Target = "ecr"
	}
	var failOn tmsync.Severity
	if a.FailOnSeverity != "" {
		var err error
		if failOn, err = tmsync.ParseSeverity(a.FailOnSeverity); err != nil {
			return nil, startErr("checking flags", fmt.Errorf("--fail-on-severity: %w", err))
		}
	}
	relOpts := releaseOptions(a)
	r.release = tmsync.ReleaseDir(a.ReleaseDir, relOpts...)
	if r.bundle != nil {
		r.release = r.bundle.release(a)
	}

	// Preflight: every problem that would fail every image is found here, once, with a
	// hint, before any image (--skip-preflight keeps only the checks that need no network).
	ps := &problems{}
	// A bundle's release folder was read and checked when the bundle was opened.
	if r.bundle == nil {
		f := checkRelease(ps, a.ReleaseDir, relOpts...)
		if f == nil {
			return nil, ps.err() // bad input: no network check needed to say so
		}
		r.release = tmsync.ReleaseFolder(f) // the folder checked is the one the run uses
	}
	var awsCfg aws.Config
	token := a.SrcPassword
	awsOK := false
	if a.Target == "ecr" {
		var opts []func(*config.LoadOptions) error
		if a.TrgRegion != "" {
			opts = append(opts, config.WithRegion(a.TrgRegion))
		}
		cfg, err := loadAWSConfig(ctx, opts...)
		if err != nil {
			return nil, startErr("loading AWS configuration", err)
		}
		awsCfg = cfg
		dropAWSSecretEnv()
		switch {
		case cfg.Region == "":
			ps.add("no AWS region", "set --trgregion or AWS_REGION")
		case a.SkipPreflight:
			awsOK = true
		default:
			r.caller = checkCaller(ctx, ps, cfg)
			awsOK = r.caller != ""
		}
	}
	// With an offline attestation bundle the token is only needed to pull from the vendor's
	// registry, which verify and an already-synced release never do: an audit account
	// without the token can still verify.
	offline := a.AttestationBundle != "" || a.FromBundle != ""
	tokenFrom := a.TokenFrom
	const tokenHint = "set TM_TOKEN (or --srcpasswd), or store {\"TM_TOKEN\":\"...\"} in the Secrets Manager secret --src-token-secret"
	if token == "" && a.Target == "ecr" && awsOK && a.FromBundle == "" {
		t, err := tokenFromSecret(ctx, secretsmanager.NewFromConfig(awsCfg), a.SrcTokenSecret)
		switch {
		case err != nil && !offline:
			ps.add("no vendor token: TM_TOKEN is not set and "+shortErr(err), tokenHint)
		case err != nil:
			console.Event(tmsync.Event{Kind: tmsync.EventInfo, Message: "no vendor token (" + oneLine(err.Error()) + "): attestations from the bundle only, the vendor registry unreachable"})
		default:
			tokenFrom = "Secrets Manager secret " + a.SrcTokenSecret
		}
		token = t
	} else if token == "" && !offline {
		ps.add("no vendor token", tokenHint)
	}
	console.Redactor.Add(token)
	console.Redactor.AddAuthFile(a.AuthFile)
	console.Redactor.AddAuthFile(os.Getenv("REGISTRY_AUTH_FILE"))
	if token != "" && tokenFrom != "" {
		console.Event(tmsync.Event{Kind: tmsync.EventInfo, Message: "vendor token from " + tokenFrom})
	}
	if !a.SkipPreflight {
		var wg sync.WaitGroup
		goCheck := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
		if a.Target == "ecr" && a.KMSKey != "" && awsOK {
			goCheck(func() { checkKMS(ctx, ps, awsCfg, a.KMSKey, r.caller) })
		}
		switch {
		case a.Target == "ecr" && awsOK && mode != tmsync.ModeVerify:
			goCheck(func() { checkECRLogin(ctx, ps, awsCfg, a.TrgRegistry, a.Insecure, console.Redactor) })
		case a.Target == "ecr" && a.TrgRegistry != "":
			goCheck(func() {
				checkRegistry(ctx, ps, registryCheck{role: "target", host: a.TrgRegistry, insecure: hostIn(a.TrgRegistry, a.Insecure),
					hint: "check --trg-registry and the network path"})
			})
		}
		if !offline && token != "" {
			goCheck(func() { checkAttestations(ctx, ps, a.AttestationAddress, token) })
		}
		if mode != tmsync.ModeVerify && token != "" {
			src := vendorRegistry(a.SrcDomain)
			goCheck(func() {
				checkRegistry(ctx, ps, registryCheck{role: "source", host: src, insecure: hostIn(src, a.Insecure), user: a.SrcUser, pass: token,
					hint: "check --srcdomain and the network path", refused: ps.tokenRefused})
			})
		}
		if a.Target == "registry" {
			// The target's credentials are those the copies will use: --authfile, else the
			// usual auth files (REGISTRY_AUTH_FILE, containers' auth.json, docker's config).
			user, pass, none := targetCredentials(a.TrgRegistry, a.AuthFile, console.Redactor)
			prefix := strings.Trim(a.TrgPrefix, "/")
			scope := ""
			if prefix != "" {
				scope = "repository:" + prefix + ":push,pull"
			}
			goCheck(func() {
				checkRegistry(ctx, ps, registryCheck{role: "target", host: a.TrgRegistry, insecure: hostIn(a.TrgRegistry, a.Insecure),
					user: user, pass: pass, scope: scope, needCreds: none,
					hint: "check --trg-registry, the network path, and the target's credentials in --authfile (or the usual auth files)"})
			})
		}
		wg.Wait()
	}
	for _, n := range ps.notes {
		console.Event(tmsync.Event{Kind: tmsync.EventInfo, Message: n})
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	if a.Target == "ecr" && a.KMSKey == "" {
		console.Event(tmsync.Event{Kind: tmsync.EventWarn, Message: "no --trg_kms_key_alias: new repositories are encrypted with AES256 (an AWS-owned key), not a key you control"})
	}
	if a.Target == "ecr" && !a.ScanOnPush {
		console.Event(tmsync.Event{Kind: tmsync.EventWarn, Message: "--trg_dst_security_scan_enabled is off: images are not scanned on push"})
	}

	if w := attestorKeyWarning(a); w != "" {
		console.Event(tmsync.Event{Kind: tmsync.EventWarn, Message: w})
	}
	var attestor tmsync.Attestor
	if r.bundle != nil {
		attestor = r.bundle.attestor
	} else {
		va, err := newAttestor(attestorConfig{KeyFile: a.AttestorKeyFile, KeyTried: a.Absent["src_attestor"], Fingerprints: a.AttestorFingerprints,
			Address: a.AttestationAddress, Token: token, Bundle: a.AttestationBundle, PerImage: a.AttestationPerImage,
			StrictKeyExpiry: a.StrictKeyExpiry, Logger: logger})
		if err != nil {
			return nil, err
		}
		r.attestor, attestor = va, va
	}
	var err error

	// Target.
	var target tmsync.Target
	switch a.Target {
	case "registry":
		topts := []tmsync.TargetOption{tmsync.WithTargetAuthFile(a.AuthFile)}
		if hostIn(a.TrgRegistry, a.Insecure) {
			topts = append(topts, tmsync.WithTargetInsecure())
		}
		target, err = tmsync.NewRegistryTarget(a.TrgRegistry+"/"+strings.Trim(a.TrgPrefix, "/"), topts...)
		if err != nil {
			return nil, startErr("checking --trg-registry", err)
		}
	default:
		settings, err := ecrSettings(a, console)
		if err != nil {
			return nil, startErr("reading repository settings", err)
		}
		if ecrtarget.GrantsEveryone(settings.RepositoryPolicy) {
			console.Event(tmsync.Event{Kind: tmsync.EventWarn, Message: "the repository policy " + absPath(a.PolicyPath) + ` grants to "*" (every AWS account) without a condition`})
		}
		if w := ecrtarget.WriteGrantStatements(settings.RepositoryPolicy); len(w) > 0 {
			console.Event(tmsync.Event{Kind: tmsync.EventWarn, Message: writeGrantsWarning(absPath(a.PolicyPath), w)})
		}
		kmsClient := kms.NewFromConfig(awsCfg)
		prov, err := ecrtarget.New(ecrtarget.NewClient(awsCfg),
			ecrtarget.WithThrottle(time.Duration(a.ThrottleMS)*time.Millisecond), ecrtarget.WithLogger(logger),
			// An alias is compared with an existing repository's key ARN through KMS.
			ecrtarget.WithKeyResolver(func(ctx context.Context, key string) (string, error) {
				out, err := kmsClient.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(key)})
				if err != nil {
					return "", err
				}
				return aws.ToString(out.KeyMetadata.Arn), nil
			}))
		if err != nil {
			return nil, startErr("checking flags", err)
		}
		var topts []tmsync.TargetOption
		if a.TrgRegistry != "" {
			topts = append(topts, tmsync.WithTargetRegistryHost(a.TrgRegistry))
			if hostIn(a.TrgRegistry, a.Insecure) {
				topts = append(topts, tmsync.WithTargetInsecure())
			}
		}
		if target, err = tmsync.NewECRTarget(prov, a.TrgPrefix, settings, topts...); err != nil {
			return nil, startErr("checking --trg-registry", err)
		}
		if r.caller == "" && awsOK {
			if id, err := sts.NewFromConfig(awsCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err == nil {
				r.caller = aws.ToString(id.Arn)
			} else {
				console.Event(tmsync.Event{Kind: tmsync.EventWarn, Message: "could not read the caller identity: " + shortErr(err)})
			}
		}
	}

	byo, err := tmsync.ParseBYOPolicy(a.BYOPolicy)
	if err != nil {
		return nil, startErr("checking options", err)
	}
	opts := []tmsync.Option{
		tmsync.WithSource(tmsync.Source{Registry: vendorRegistry(a.SrcDomain), Username: a.SrcUser, Password: token, AuthFile: a.AuthFile}),
		tmsync.WithConcurrency(a.Concurrency), tmsync.WithRetries(a.Retries), tmsync.WithBYOPolicy(byo),
		tmsync.WithInsecure(a.Insecure...), tmsync.WithShard(a.ShardIndex, a.ShardCount),
		tmsync.WithReleaseSHA256(a.ReleaseSHA256),
		tmsync.WithLogger(logger), tmsync.WithObserver(console), tmsync.WithRedactor(console.Redactor),
	}
	if a.ScanWait > 0 {
		opts = append(opts, tmsync.WithScanGate(a.ScanWait, failOn))
	}
	if a.CacheDir != "" {
		opts = append(opts, tmsync.WithCacheDir(a.CacheDir))
	}
	if a.CacheMaxBytes > 0 {
		opts = append(opts, tmsync.WithCacheMaxBytes(a.CacheMaxBytes))
	}
	if a.IdleTimeout > 0 {
		opts = append(opts, tmsync.WithIdleTimeout(a.IdleTimeout))
	}
	if a.EnableBlobMounting {
		opts = append(opts, tmsync.WithEnableBlobMounting())
	}
	evOpt, err := evidenceOption(ctx, a, awsCfg)
	if err != nil {
		return nil, err
	}
	opts = append(opts, evOpt)
	if r.temps.mem != "" {
		opts = append(opts, tmsync.WithBlobInfoCacheDir(r.temps.mem))
	}
	if r.temps.disk != "" {
		opts = append(opts, tmsync.WithStoreParent(r.temps.disk))
	}
	if r.bundle != nil {
		// Before anything is pushed: the blobs an incremental bundle left out.
		if err := r.bundle.checkExternal(ctx, target, console); err != nil {
			return nil, err
		}
		opts = append(opts, tmsync.WithImageSource(r.bundle.source))
	}
	if r.engine, err = tmsync.New(target, attestor, opts...); err != nil {
		return nil, err
	}
	return r, nil
}

// secretGetter is the Secrets Manager call tokenFromSecret makes.
type secretGetter interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// tokenFromSecret reads {"TM_TOKEN": "..."} from a Secrets Manager secret.
func tokenFromSecret(ctx context.Context, sm secretGetter, name string) (string, error) {
	if name == "" {
		name = "tm-sync-token"
	}
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", name, err)
	}
	return parseTokenSecret(name, aws.ToString(out.SecretString))
}

func ecrSettings(a Args, console *Console) (ecrtarget.Settings, error) {
	s := ecrtarget.Settings{KMSKey: a.KMSKey, ScanOnPush: a.ScanOnPush, Mutability: strings.ToUpper(a.TagMutability), PruneTags: a.PruneTags}
	// The old pipeline's file flags have defaults that name files; resolveDefaultFiles
	// looked for those in the release folder and the working folder. A file named on the
	// command line must exist; a default that is in neither place is skipped, and said.
	absent := func(name, what, without string) bool {
		tried, ok := a.Absent[name]
		if ok {
			console.Event(tmsync.Event{Kind: tmsync.EventInfo, Message: "no " + what + " in " + tried + ": " + without})
		}
		return ok
	}
	var err error
	if a.TagsPath != "" && !absent("trg_resource_tags_file_path", "resource tags file "+filepath.Base(a.TagsPath), "repositories get no resource tags") {
		if s.Tags, err = ecrtarget.LoadTags(a.TagsPath); err != nil {
			return s, err
		}
	}
	if a.PolicyPath != "" && !absent("trg_ecr_policy_file_path", "repository policy file "+filepath.Base(a.PolicyPath), "repositories get no policy") {
		if s.RepositoryPolicy, err = ecrtarget.LoadRepositoryPolicy(a.PolicyPath); err != nil {
			return s, err
		}
	}
	lifecycle := ""
	if a.LifecyclePath != "" && !absent("trg_ecr_lifecycle_file_path", "lifecycle policy file "+filepath.Base(a.LifecyclePath),
		fmt.Sprintf("repositories get the default lifecycle policy (untagged images expire after %d days)", a.UntaggedDeleteDays)) {
		lifecycle = a.LifecyclePath
	}
	if s.LifecyclePolicy, err = ecrtarget.LoadLifecyclePolicy(lifecycle, a.UntaggedDeleteDays); err != nil {
		return s, err
	}
	return s, nil
}

// dropAWSSecretEnv removes the AWS static keys from the environment once the SDK has read
// them (config.LoadDefaultConfig reads the environment once): a credential helper that
// containers/image starts must not inherit them.
func dropAWSSecretEnv() {
	for _, k := range awsSecretEnv {
		os.Unsetenv(k)
	}
}

// hostIn reports whether host is one of hosts (as manifest.SameRegistry or spelled the same).
func hostIn(host string, hosts []string) bool {
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if manifest.SameRegistry(h, host) || strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// oneLine is s on one line: runs of spaces collapsed.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' }), " ")
}

// writeGrantsWarning is the warning of a repository policy whose statements let their
// principals change the repositories, naming each statement, its principals and what it
// grants as written, and what to do.
func writeGrantsWarning(file string, grants []ecrtarget.WriteGrant) string {
	var parts []string
	for _, g := range grants {
		who := "statement"
		if g.Sid != "" {
			who += fmt.Sprintf(" %q", g.Sid)
		}
		if g.Principal != "" {
			who += " (" + g.Principal + ")"
		}
		parts = append(parts, fmt.Sprintf("%s grants %s", who, strings.Join(g.Patterns, ", ")))
	}
	return fmt.Sprintf("the repository policy %s lets principals push or change the repositories: %s. They can push images without tmsync, so without the vendor's attestation check; limit such statements to pulls (ecr:BatchGetImage, ecr:GetDownloadUrlForLayer, ecr:BatchCheckLayerAvailability) unless those principals are trusted to push",
		file, strings.Join(parts, "; "))
}
