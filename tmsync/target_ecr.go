package tmsync

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/smithy-go"
	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/ecrtarget"
)

// ECRTarget is Amazon ECR: repositories under a prefix, created and reconciled with the
// asked settings by ecrtarget, and pushed to with GetAuthorizationToken's credentials.
type ECRTarget struct {
	prov     *ecrtarget.Provisioner
	prefix   string
	settings ecrtarget.Settings
	opts     targetOptions
}

// NewECRTarget returns a target of ECR repositories under prefix with settings. Options:
// WithTargetRegistryHost, WithTargetInsecure.
func NewECRTarget(prov *ecrtarget.Provisioner, prefix string, settings ecrtarget.Settings, opts ...TargetOption) (*ECRTarget, error) {
	o, err := newTargetOptions(opts)
	if err == nil && (o.username != "" || o.authFile != "") {
		err = errors.New("ECR credentials come from GetAuthorizationToken: WithTargetCredentials and WithTargetAuthFile do not apply")
	}
	if err != nil {
		return nil, fmt.Errorf("ECR target: %w", err)
	}
	return &ECRTarget{prov: prov, prefix: prefix, settings: settings, opts: o}, nil
}

func (t *ECRTarget) String() string {
	s := "ecr " + strings.Trim(t.prefix, "/")
	if t.opts.registryHost != "" {
		s += " via " + t.opts.registryHost
	}
	return s
}

// RepositoryName implements Target.
func (t *ECRTarget) RepositoryName(dest string) (string, error) {
	return ecrtarget.RepositoryName(t.prefix, dest)
}

// Ensure implements Target.
func (t *ECRTarget) Ensure(ctx context.Context, repo string, plan bool) (*Repository, error) {
	var res *ecrtarget.Result
	var err error
	if plan {
		res, err = t.prov.Plan(ctx, repo, t.settings)
	} else {
		res, err = t.prov.Ensure(ctx, repo, t.settings)
	}
	if err != nil {
		return nil, err
	}
	r := &Repository{Name: repo, Created: res.Created, Unverified: res.Unverified}
	for _, c := range res.Changes {
		r.Changes = append(r.Changes, fmt.Sprintf("%s: %s -> %s", c.Field, orNone(c.From), orNone(c.To)))
	}
	for _, d := range res.Drift {
		r.Drift = append(r.Drift, fmt.Sprintf("%s is %s, want %s", d.Field, orNone(d.Have), orNone(d.Want)))
	}
	f := res.Found
	if !plan && (res.Created || len(res.Changes) > 0) {
		// Found is the state before the changes: read back what the repository has now,
		// so that the report holds the settings applied, as ECR has them.
		now, err := t.prov.Plan(ctx, repo, t.settings)
		if err != nil {
			r.Changes = append(r.Changes, "(state not read back: "+err.Error()+")")
			return r, nil
		}
		f = now.Found
	}
	r.State = map[string]string{
		"encryptionType":         f.EncryptionType,
		"kmsKey":                 f.KMSKey,
		"scanOnPush":             fmt.Sprint(f.ScanOnPush),
		"imageTagMutability":     f.Mutability,
		"repositoryPolicySha256": f.RepositoryPolicySHA256,
		"lifecyclePolicySha256":  f.LifecyclePolicySHA256,
	}
	var tags []string
	for _, tg := range f.Tags {
		tags = append(tags, tg.Key+"="+tg.Value)
	}
	sort.Strings(tags)
	r.State["tags"] = strings.Join(tags, ",")
	for k, v := range r.State {
		if v == "" {
			delete(r.State, k)
		}
	}
	return r, nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// Existing implements Target.
func (t *ECRTarget) Existing(ctx context.Context, repo string, tags []string) (map[string]digest.Digest, error) {
	return t.prov.Existing(ctx, repo, tags)
}

// Reference implements Target. Credentials come from the provisioner's cache, which
// renews them before they expire.
func (t *ECRTarget) Reference(ctx context.Context, repo, tag string) (types.ImageReference, *types.SystemContext, error) {
	creds, err := t.prov.Credentials(ctx)
	if err != nil {
		return nil, nil, err
	}
	host := creds.Registry
	if t.opts.registryHost != "" {
		host = t.opts.registryHost
	}
	ref, err := tagReference(host+"/"+repo, tag)
	if err != nil {
		return nil, nil, err
	}
	var insecure []string
	if t.opts.insecure {
		insecure = []string{host}
	}
	sys := newSystemContext(host, insecure)
	sys.DockerAuthConfig = &types.DockerAuthConfig{Username: creds.Username, Password: creds.Password}
	return ref, sys, nil
}

// InvalidateCredentials implements CredentialInvalidator.
func (t *ECRTarget) InvalidateCredentials() { t.prov.Invalidate() }

// ScanFindings waits up to wait for the scan of repo@d and returns the counts by severity
// and ECR's scan status. When ECR has no scan of the image at all, it starts one: scan on
// push does not cover images pushed before scanning was on, nor images already in place
// (verify, a second sync), and some ECR-compatible services (moto) never scan on push.
// A scan that ECR refuses because the image was scanned already today is read as it is.
// A start refused as access denied (a read-only role, as the pipeline's verify role is)
// returns at once with a *ScanStartDeniedError: no scan will come to wait for. Each call
// stands alone; a run's scan gate reads through scanRun, which stops asking for a
// repository once refused there.
func (t *ECRTarget) ScanFindings(ctx context.Context, repo string, d digest.Digest, wait time.Duration) (map[string]int, string, error) {
	return t.scanRun().ScanFindings(ctx, repo, d, wait)
}

// scanRun implements scanRunner: the scan reads of one run.
func (t *ECRTarget) scanRun() scanReader {
	return &ecrScans{t: t, repos: map[string]*repoScanStarts{}}
}

// ecrScans reads the scans of one run's images (ECRTarget.ScanFindings). Once ECR has
// refused to start a scan in a repository as access denied, it is not asked again for
// that repository in the run: each other image there without a scan fails at once with
// the same *ScanStartDeniedError instead of costing one more refused call. Another
// repository is asked: IAM can allow ecr:StartImageScan on some repositories' ARNs and
// not others. Safe for concurrent use.
type ecrScans struct {
	t     *ECRTarget
	mu    sync.Mutex // guards repos
	repos map[string]*repoScanStarts
}

// repoScanStarts is one repository's scan starts in a run.
type repoScanStarts struct {
	// turn is held around each StartImageScan in the repository and the reading of its
	// answer, so that its images read at once do not all ask before the first refusal is
	// known; denied is the refusal, read and written while holding it.
	turn   chan struct{}
	denied *ScanStartDeniedError
}

func (s *ecrScans) ScanFindings(ctx context.Context, repo string, d digest.Digest, wait time.Duration) (map[string]int, string, error) {
	t := s.t
	f, err := t.prov.ScanFindings(ctx, repo, d, 0) // one look
	if errors.Is(err, ecrtarget.ErrScanNotComplete) {
		var startErr error
		if f.Status == "NOT_STARTED" {
			startErr = s.start(ctx, repo, d)
			var denied *ScanStartDeniedError
			if errors.As(startErr, &denied) {
				return nil, f.Status, denied
			}
		}
		f, err = t.prov.ScanFindings(ctx, repo, d, wait)
		if err != nil && startErr != nil {
			err = fmt.Errorf("%w (starting a scan: %v)", err, startErr)
		}
	}
	if err != nil {
		status := ""
		if f != nil {
			status = f.Status
		}
		return nil, status, err
	}
	return f.Counts, f.Status, nil
}

// start asks ECR to scan repo@d, unless it refused a start in repo already in this run:
// then that refusal, a *ScanStartDeniedError, as it is for a refusal now.
func (s *ecrScans) start(ctx context.Context, repo string, d digest.Digest) error {
	s.mu.Lock()
	rs := s.repos[repo]
	if rs == nil {
		rs = &repoScanStarts{turn: make(chan struct{}, 1)}
		s.repos[repo] = rs
	}
	s.mu.Unlock()
	select {
	case rs.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-rs.turn }()
	if rs.denied != nil {
		return rs.denied
	}
	err := s.t.prov.StartScan(ctx, repo, d)
	if ClassifyError(err) == CauseDenied {
		rs.denied = &ScanStartDeniedError{Err: err}
		return rs.denied
	}
	return err
}

// ScanStartDeniedError is an image ECR has no scan of, whose scan the target was refused
// permission to start (ecr:StartImageScan): a scan gate run by a role that may only read
// ECR. Its message names the AWS error code, not the AWS message, which names the
// caller's ARN (account and role); Unwrap keeps the AWS error reachable with errors.As,
// and ClassifyError reads it as CauseDenied.
type ScanStartDeniedError struct {
	Err error // the StartImageScan error (an *ecrtarget.Error)
}

func (e *ScanStartDeniedError) Error() string {
	code := "access denied"
	var api smithy.APIError
	if errors.As(e.Err, &api) && api.ErrorCode() != "" {
		code = api.ErrorCode()
	}
	return "ECR has no scan of the image, and starting one was refused (ecr:StartImageScan: " + Sanitize(code) +
		"): give the role ecr:StartImageScan, or put the scan gate in the sync stage (docs/pipeline-gates.md)"
}

func (e *ScanStartDeniedError) Unwrap() error { return e.Err }

// BlobMounting reads ECR's account setting BLOB_MOUNTING.
func (t *ECRTarget) BlobMounting(ctx context.Context) (bool, error) { return t.prov.BlobMounting(ctx) }

// EnableBlobMounting turns ECR's account setting BLOB_MOUNTING on; the engine calls it
// only with WithEnableBlobMounting.
func (t *ECRTarget) EnableBlobMounting(ctx context.Context) error {
	return t.prov.EnableBlobMounting(ctx)
}
