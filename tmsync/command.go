package tmsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"golang.org/x/term"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/ecrtarget"
	"github.com/tmsync/tmsync/manifest"
)

// Args are the command line's settings, as strings and numbers: the string-level facade
// over Options. cmd/tmsync fills them from flags; other tools can too.
type Args struct {
	// Source (the old pipeline's flags).
	SrcUser, SrcPassword, SrcDomain string
	SrcTokenSecret                  string // Secrets Manager secret holding {"TM_TOKEN": "..."}
	PackagesPostfix, ReleasePostfix string
	AttestationAddress              string
	AttestorKeyFile                 string
	AttestorFingerprints            []string
	AttestationBundle               string // read occurrences from this file instead of the server
	SaveAttestationBundle           string // write the occurrences the run used to this file
	AttestationPerImage             bool
	StrictKeyExpiry                 bool // refuse a signature whose key has expired since
	AuthFile                        string

	// Target.
	Target               string // "ecr" or "registry"
	TrgPrefix, TrgRegion string
	TrgRegistry          string
	Insecure             []string
	PolicyPath           string
	PolicyPathSet        bool
	LifecyclePath        string
	LifecyclePathSet     bool
	TagsPath             string
	TagsPathSet          bool
	KMSKey               string
	ScanOnPush           bool
	TagMutability        string
	PruneTags            bool
	UntaggedDeleteDays   int
	ThrottleMS           int
	ScanWait             time.Duration
	FailOnSeverity       string

	// Run.
	ReleaseDir             string
	ErrorLog, Report       string
	JUnit                  string
	Concurrency, Retries   int
	BYOPolicy              string
	ShardIndex, ShardCount int
	DryRun                 bool
	// ReleaseSHA256 pins the release folder (Options.ReleaseSHA256).
	ReleaseSHA256 string
}

// Console writes the old pipeline's "LEVEL: message" lines. On a terminal it also keeps
// a status line at the bottom (images done, in flight); in CodeBuild (not a terminal) it
// writes plain lines only.
type Console struct {
	W io.Writer
	// Terminal turns the status line on.
	Terminal bool
	// Redactor cleans every line (secrets removed, control characters escaped). Nil:
	// control characters are still escaped.
	Redactor *Redactor
	total    int
	done     int
	running  int
}

// Event implements Observer. It is not safe for concurrent use; Main serializes events.
func (c *Console) Event(e Event) {
	if c.Terminal {
		fmt.Fprint(c.W, "\r\x1b[K") // clear the status line before a log line
	}
	e.Image, e.Message = c.Redactor.Clean(e.Image), c.Redactor.Clean(e.Message)
	switch e.Kind {
	case "begin":
		c.total = e.Total
		fmt.Fprintf(c.W, "INFO: %s\n", e.Message)
	case "start":
		c.running++
		fmt.Fprintf(c.W, "INFO: %s\n", e.Message)
	case "done", "skip":
		if e.Kind == "done" {
			c.running--
		}
		c.done++
		msg := e.Message
		if e.Kind == "skip" {
			msg = "SKIP: " + e.Image + ": " + e.Message
		}
		fmt.Fprintf(c.W, "INFO: [%d/%d] %s\n", c.done, c.total, msg)
	case "fail":
		if e.Running {
			c.running--
		}
		c.done++
		fmt.Fprintf(c.W, "ERROR: [%d/%d] %s: %s\n", c.done, c.total, e.Image, e.Message)
	case "error":
		// After the image's progress line: an error found later (the scan gate).
		fmt.Fprintf(c.W, "ERROR: %s: %s\n", e.Image, e.Message)
	case "warn", "retry":
		fmt.Fprintf(c.W, "WARNING: %s: %s\n", e.Image, e.Message)
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
	fmt.Fprintln(c.W, c.Redactor.Clean(fmt.Sprintf(format, args...)))
}

// finish ends the status line.
func (c *Console) finish() {
	if c.Terminal {
		fmt.Fprint(c.W, "\r\x1b[K")
	}
}

// Main runs one mode ("plan", "sync", "verify") from args, writes the error log, the
// report and the JUnit file, prints to stdout, and returns the exit status: 0 all in
// place, 1 some images failed, 2 the run could not start.
func Main(ctx context.Context, mode string, a Args, stdout io.Writer) int {
	console := &Console{W: stdout, Terminal: isTerminal(stdout), Redactor: NewRedactor(a.SrcPassword)}
	defer console.finish()
	errorLog := a.ErrorLog
	if errorLog == "" {
		errorLog = "sync-error.log"
	}
	fail := func(err error) int {
		// One ERROR line per line of the error (errors.Join lists problems a line
		// each): every line starts with ERROR, and remote text in it is escaped.
		parts := strings.Split(console.Redactor.Redact(err.Error()), "\n")
		for _, p := range parts {
			console.Printf("ERROR: %s", p)
		}
		line := "ERROR: could not start: " + oneLine(strings.Join(parts, "; ")) + "\n"
		if werr := writeFileAtomic(errorLog, []byte(line)); werr != nil {
			console.Printf("ERROR: writing %s: %v", errorLog, werr)
		}
		return 2
	}
	eng, extra, err := Setup(ctx, a, console)
	if err != nil {
		return fail(err)
	}
	var rep *Report
	switch mode {
	case ModePlan:
		rep, err = eng.Plan(ctx)
	case ModeVerify:
		rep, err = eng.Verify(ctx)
	default:
		rep, err = eng.Sync(ctx)
	}
	if err != nil {
		return fail(err)
	}
	rep.Caller = extra.caller
	if extra.scan != nil && mode != ModePlan {
		extra.scan(ctx, rep)
		rep.summarize()
	}
	rep.Clean(console.Redactor) // the scan gate and the caller added to it
	if a.SaveAttestationBundle != "" && extra.attestor != nil {
		if err := saveBundle(a.SaveAttestationBundle, a.AttestationAddress, extra.attestor.Occurrences()); err != nil {
			console.Printf("ERROR: writing attestation bundle: %v", err)
		}
	}
	status := rep.ExitStatus()
	if err := rep.WriteErrorLog(errorLog); err != nil {
		console.Printf("ERROR: writing %s: %v", errorLog, err)
		status = max(status, 1)
	}
	if a.Report != "" {
		if err := rep.WriteJSON(a.Report); err != nil {
			console.Printf("ERROR: writing %s: %v", a.Report, err)
			status = max(status, 1)
		}
	}
	if a.JUnit != "" {
		if err := rep.WriteJUnit(a.JUnit); err != nil {
			console.Printf("ERROR: writing %s: %v", a.JUnit, err)
			status = max(status, 1)
		}
	}
	s := rep.Summary
	fmt.Fprintf(stdout, "INFO: %s finished: %d images: %d copied, %d present, %d planned, %d ignored, %d rejected, %d failed; %s moved in %s\n",
		mode, s.Images, s.Copied, s.Present, s.Planned, s.Ignored, s.Rejected, s.Failed, humanBytes(s.Bytes), rep.Finished.Sub(rep.Started).Round(time.Millisecond))
	for _, l := range rep.ErrorLines() {
		console.Printf("%s", l)
	}
	return status
}

type setupExtra struct {
	caller   string
	attestor *VendorAttestor
	scan     func(context.Context, *Report)
}

// Setup builds the engine from args: credentials, attestor, target.
func Setup(ctx context.Context, a Args, console *Console) (*Engine, *setupExtra, error) {
	extra := &setupExtra{}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if a.Target == "" {
		a.Target = "ecr"
	}
	if a.Target != "ecr" && a.Target != "registry" {
		return nil, nil, startErr("checking flags", fmt.Errorf("--target %q: want ecr or registry", a.Target))
	}
	if a.Target == "registry" && a.TrgRegistry == "" {
		return nil, nil, startErr("checking flags", errors.New("--target registry needs --trg-registry HOST[:PORT]"))
	}
	if a.ScanWait > 0 && a.Target != "ecr" {
		return nil, nil, startErr("checking flags", errors.New("--scan-wait needs --target ecr"))
	}
	if a.FailOnSeverity != "" && a.ScanWait <= 0 {
		return nil, nil, startErr("checking flags", errors.New("--fail-on-severity needs --scan-wait: without waiting for the scans there are no findings to gate on"))
	}
	if a.FailOnSeverity != "" {
		if _, ok := severityRank[strings.ToUpper(a.FailOnSeverity)]; !ok {
			return nil, nil, startErr("checking flags", fmt.Errorf("--fail-on-severity %q: want one of CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL", a.FailOnSeverity))
		}
	}
	relOpts := manifest.Options{ReleasePostfix: a.ReleasePostfix, ImagesPostfix: a.PackagesPostfix,
		VendorRegistry: a.SrcDomain, Prefix: a.TrgPrefix}

	var awsCfg aws.Config
	token := a.SrcPassword
	if token == "" {
		token = os.Getenv("TM_TOKEN")
	}
	if a.Target == "ecr" {
		var opts []func(*config.LoadOptions) error
		if a.TrgRegion != "" {
			opts = append(opts, config.WithRegion(a.TrgRegion))
		}
		cfg, err := config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, nil, startErr("loading AWS configuration", err)
		}
		awsCfg = cfg
		dropAWSSecretEnv()
	}
	// With an offline attestation bundle the token is only needed to pull from the vendor's
	// registry, which verify and an already-synced release never do: an audit account
	// without the token can still verify.
	offline := a.AttestationBundle != ""
	if token == "" && a.Target == "ecr" {
		t, err := tokenFromSecret(ctx, awsCfg, a.SrcTokenSecret)
		switch {
		case err != nil && !offline:
			return nil, nil, startErr("reading the vendor token", err)
		case err != nil:
			console.Event(Event{Kind: "info", Message: "no vendor token (" + oneLine(err.Error()) + "): attestations from the bundle only, the vendor registry unreachable"})
		}
		token = t
	}
	console.Redactor.Add(token)
	console.Redactor.AddAuthFile(a.AuthFile)
	console.Redactor.AddAuthFile(os.Getenv("REGISTRY_AUTH_FILE"))
	if token == "" && !offline {
		return nil, nil, startErr("reading the vendor token", errors.New("no vendor token: set TM_TOKEN, --srcpasswd, or (with --target ecr) the Secrets Manager secret --src-token-secret"))
	}

	// Attestations.
	keyFile := a.AttestorKeyFile
	kf, err := os.Open(keyFile)
	if err != nil {
		return nil, nil, startErr("reading the attestor key --src_attestor", err)
	}
	keyring, err := attest.ReadKeyring(kf)
	kf.Close()
	if err != nil {
		return nil, nil, startErr("reading the attestor key "+keyFile, err)
	}
	var vopts []attest.VerifierOption
	if len(a.AttestorFingerprints) > 0 {
		vopts = append(vopts, attest.WithFingerprints(a.AttestorFingerprints...))
	}
	if a.StrictKeyExpiry {
		vopts = append(vopts, attest.WithStrictKeyExpiry())
	}
	verifier, err := attest.NewVerifier(keyring, vopts...)
	if err != nil {
		return nil, nil, startErr("setting up attestation checks", err)
	}
	var aopts AttestorOptions
	var client *attest.Client
	if a.AttestationBundle != "" {
		f, err := os.Open(a.AttestationBundle)
		if err != nil {
			return nil, nil, startErr("reading the attestation bundle", err)
		}
		b, err := attest.ReadBundle(f)
		f.Close()
		if err != nil {
			return nil, nil, startErr("reading the attestation bundle "+a.AttestationBundle, err)
		}
		aopts.Bundle = &b
	} else {
		client, err = attest.NewClient(a.AttestationAddress, attest.WithToken(token), attest.WithLogger(logger))
		if err != nil {
			return nil, nil, startErr("setting up the attestation client", err)
		}
	}
	aopts.PerImage = a.AttestationPerImage
	attestor, err := NewAttestor(client, verifier, aopts)
	if err != nil {
		return nil, nil, startErr("setting up attestation checks", err)
	}
	extra.attestor = attestor

	// Target.
	var target Target
	switch a.Target {
	case "registry":
		target, err = NewRegistryTarget(a.TrgRegistry+"/"+strings.Trim(a.TrgPrefix, "/"), RegistryTargetOptions{
			AuthFile: a.AuthFile, Insecure: hostIn(a.TrgRegistry, a.Insecure)})
		if err != nil {
			return nil, nil, startErr("checking --trg-registry", err)
		}
	default:
		settings, err := ecrSettings(a, console)
		if err != nil {
			return nil, nil, startErr("reading repository settings", err)
		}
		kmsClient := kms.NewFromConfig(awsCfg)
		prov := ecrtarget.New(ecrtarget.NewClient(awsCfg),
			ecrtarget.WithThrottle(time.Duration(a.ThrottleMS)*time.Millisecond), ecrtarget.WithLogger(logger),
			// An alias is compared with an existing repository's key ARN through KMS.
			ecrtarget.WithKeyResolver(func(ctx context.Context, key string) (string, error) {
				out, err := kmsClient.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(key)})
				if err != nil {
					return "", err
				}
				return aws.ToString(out.KeyMetadata.Arn), nil
			}))
		et := NewECRTarget(prov, a.TrgPrefix, settings, ECRTargetOptions{RegistryHost: a.TrgRegistry,
			Insecure: a.TrgRegistry != "" && hostIn(a.TrgRegistry, a.Insecure)})
		target = et
		if id, err := sts.NewFromConfig(awsCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err == nil {
			extra.caller = aws.ToString(id.Arn)
		} else {
			console.Event(Event{Kind: "warn", Message: "could not read the caller identity: " + err.Error()})
		}
		if a.ScanWait > 0 {
			extra.scan = func(ctx context.Context, rep *Report) { scanGate(ctx, et, rep, a.ScanWait, a.FailOnSeverity, console) }
		}
	}

	eng, err := New(Options{
		ReleaseDir: a.ReleaseDir, Release: relOpts,
		Source:      Source{Registry: vendorRegistry(a.SrcDomain), Username: a.SrcUser, Password: token, AuthFile: a.AuthFile},
		Target:      target,
		Attestor:    attestor,
		Concurrency: a.Concurrency, Retries: a.Retries, BYOPolicy: a.BYOPolicy, Insecure: a.Insecure,
		ShardIndex: a.ShardIndex, ShardCount: a.ShardCount, DryRun: a.DryRun, ReleaseSHA256: a.ReleaseSHA256,
		Logger: logger, Observer: &syncObserver{c: console}, Redactor: console.Redactor,
	})
	if err != nil {
		return nil, nil, err
	}
	return eng, extra, nil
}

// tokenFromSecret reads {"TM_TOKEN": "..."} from a Secrets Manager secret.
func tokenFromSecret(ctx context.Context, cfg aws.Config, name string) (string, error) {
	if name == "" {
		name = "tm-sync-token"
	}
	out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", name, err)
	}
	return parseTokenSecret(name, aws.ToString(out.SecretString))
}

func ecrSettings(a Args, console *Console) (ecrtarget.Settings, error) {
	s := ecrtarget.Settings{KMSKey: a.KMSKey, ScanOnPush: a.ScanOnPush, Mutability: strings.ToUpper(a.TagMutability), PruneTags: a.PruneTags}
	// The old pipeline's file flags have defaults that name files in the working folder.
	// A file named on the command line must exist; a default that is absent is skipped.
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	var err error
	if a.TagsPath != "" && (a.TagsPathSet || exists(a.TagsPath)) {
		if s.Tags, err = ecrtarget.LoadTags(a.TagsPath); err != nil {
			return s, err
		}
	} else if a.TagsPath != "" {
		console.Event(Event{Kind: "info", Message: "no resource tags file " + a.TagsPath + ": repositories get no resource tags"})
	}
	if a.PolicyPath != "" && (a.PolicyPathSet || exists(a.PolicyPath)) {
		if s.RepositoryPolicy, err = ecrtarget.LoadRepositoryPolicy(a.PolicyPath); err != nil {
			return s, err
		}
	} else if a.PolicyPath != "" {
		console.Event(Event{Kind: "info", Message: "no repository policy file " + a.PolicyPath + ": repositories get no policy"})
	}
	lifecycle := ""
	if a.LifecyclePath != "" && (a.LifecyclePathSet || exists(a.LifecyclePath)) {
		lifecycle = a.LifecyclePath
	}
	if s.LifecyclePolicy, err = ecrtarget.LoadLifecyclePolicy(lifecycle, a.UntaggedDeleteDays); err != nil {
		return s, err
	}
	return s, nil
}

func saveBundle(path, address string, occs []attest.Occurrence) error {
	var buf bytes.Buffer
	if err := attest.WriteBundle(&buf, attest.Bundle{Version: 1, Address: address, Created: time.Now().UTC(), Occurrences: occs}); err != nil {
		return err
	}
	return writeFileAtomic(path, buf.Bytes())
}

func vendorRegistry(d string) string {
	if d == "" {
		return manifest.DefaultVendorRegistry
	}
	return d
}

// syncObserver serializes console output from parallel copies.
type syncObserver struct {
	mu sync.Mutex
	c  *Console
}

func (o *syncObserver) Event(e Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.c.Event(e)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
