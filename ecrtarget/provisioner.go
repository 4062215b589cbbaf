package ecrtarget

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// Provisioner creates and reconciles repositories, and hands out registry credentials.
// It is safe for concurrent use; its mutating calls are serialised and spaced.
type Provisioner struct {
	api      API
	throttle time.Duration
	now      func() time.Time
	log      *slog.Logger
	poll     time.Duration
	keys     KeyResolver

	mutMu   sync.Mutex // held across a mutating call, so calls are spaced end to start
	lastMut time.Time

	credMu sync.Mutex
	cred   *Credentials
	renew  time.Time
}

// Option configures New. Options are applied in order after the defaults; New reports
// every invalid one at once.
type Option func(*options) error

type options struct {
	throttle time.Duration
	now      func() time.Time
	log      *slog.Logger
	poll     time.Duration
	keys     KeyResolver
}

// DefaultScanPollInterval is how often ScanFindings asks again, unless WithScanPollInterval.
const DefaultScanPollInterval = 5 * time.Second

// WithThrottle spaces mutating calls (create, tag, policies, scanning, mutability) by d,
// measured from the end of one to the start of the next, on top of the SDK's retries
// (--throttle_ecr_creation_ms). While it is set, mutating calls run one at a time.
// Spacing uses the real clock, not WithClock. Default 0: no spacing, no serialising.
func WithThrottle(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("throttle %s: want 0 or more", d)
		}
		o.throttle = d
		return nil
	}
}

// WithClock sets the clock that credential expiry is judged by. Default time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return errors.New("WithClock: nil clock")
		}
		o.now = now
		return nil
	}
}

// WithLogger sets the logger. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l != nil {
			o.log = l
		}
		return nil
	}
}

// WithScanPollInterval sets how often ScanFindings asks again. Default
// DefaultScanPollInterval.
func WithScanPollInterval(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("scan poll interval %s: want more than 0", d)
		}
		o.poll = d
		return nil
	}
}

// KeyResolver turns a KMS key alias, alias ARN or key id into the key's ARN (for example
// with kms:DescribeKey). ECR reports an existing repository's key as an ARN, so without
// a resolver an alias cannot be compared with it.
type KeyResolver func(ctx context.Context, key string) (keyARN string, err error)

// WithKeyResolver lets Ensure compare a KMS alias with an existing repository's key ARN.
// Default none: such a pair is reported in Result.Unverified, not as drift.
func WithKeyResolver(r KeyResolver) Option {
	return func(o *options) error { o.keys = r; return nil }
}

// New returns a Provisioner that calls api.
func New(api API, opts ...Option) (*Provisioner, error) {
	o := options{now: time.Now, poll: DefaultScanPollInterval, log: slog.New(slog.DiscardHandler)}
	var errs []error
	if api == nil {
		errs = append(errs, errors.New("no ECR API client"))
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("ecrtarget: %w", err)
	}
	return &Provisioner{api: api, throttle: o.throttle, now: o.now, log: o.log, poll: o.poll, keys: memoKeys(o.keys)}, nil
}

// memoKeys keeps each key's ARN once resolved: a release's repositories share one key,
// and Ensure and Plan compare it for every existing repository. Resolutions are made one
// at a time, so that the repositories ensured in parallel ask once, not once each. A
// failed resolution is not kept (it is asked again). nil stays nil.
func memoKeys(r KeyResolver) KeyResolver {
	if r == nil {
		return nil
	}
	var mu sync.Mutex
	known := map[string]string{}
	return func(ctx context.Context, key string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if arn, ok := known[key]; ok {
			return arn, nil
		}
		arn, err := r(ctx, key)
		if err != nil {
			return "", err
		}
		known[key] = arn
		return arn, nil
	}
}

// Result is what Ensure did, or what Plan would do, to one repository.
type Result struct {
	Repository string
	// URI is the repository URI; "" when Plan finds no repository.
	URI string
	// Created is true when the repository was created (by Plan: would be created).
	Created bool
	// Changes were made (by Plan: would be made), in order.
	Changes []Change
	// Drift is what differs and cannot be changed (the encryption).
	Drift []Drift
	// Unverified names settings that could not be compared (a KMS alias without a
	// KeyResolver).
	Unverified []string
	// Found is the state of the repository before any change; zero when it did not exist.
	Found State
}

// Change is one setting changed. Field is "repository", "scanOnPush", "mutability",
// "tag:<key>", "repositoryPolicy" or "lifecyclePolicy"; policies are given by SHA-256
// of their canonical JSON.
type Change struct{ Field, From, To string }

// Drift is a setting that differs from what was asked and cannot be changed in place.
type Drift struct{ Field, Want, Have string }

// State is a repository's settings as found.
type State struct {
	KMSKey, EncryptionType string
	ScanOnPush             bool
	Mutability             string
	Tags                   []Tag
	// SHA-256 of the canonical JSON of the policies; "" when none is set.
	RepositoryPolicySHA256, LifecyclePolicySHA256 string
}

// Ensure creates the repository name with settings s, or brings an existing one to them:
// tags added or updated (others removed only with PruneTags), policies replaced when they
// differ as JSON, scanning and mutability fixed. An encryption that differs is reported as
// Drift; the repository is never deleted or recreated.
func (p *Provisioner) Ensure(ctx context.Context, name string, s Settings) (*Result, error) {
	return p.ensure(ctx, name, s, false)
}

// Plan is Ensure without any mutating call: the Result says what Ensure would change.
func (p *Provisioner) Plan(ctx context.Context, name string, s Settings) (*Result, error) {
	return p.ensure(ctx, name, s, true)
}

// step is one mutating call and the change it makes.
type step struct {
	op      string
	changes []Change
	call    func(ctx context.Context) error
}

func (p *Provisioner) ensure(ctx context.Context, name string, s Settings, plan bool) (*Result, error) {
	if !repositoryNameRE.MatchString(name) || len(name) < 2 || len(name) > 256 {
		return nil, fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	res := &Result{Repository: name}
	repo, err := p.describe(ctx, name)
	if err != nil {
		return nil, err
	}
	if repo == nil {
		res.Created = true
		if plan {
			res.Changes = p.createSteps(name, s).changes()
			return res, nil
		}
		var created *types.Repository
		err := p.mutate(ctx, func(ctx context.Context) error {
			out, err := p.api.CreateRepository(ctx, createInput(name, s))
			if err == nil {
				created = out.Repository
			}
			return err
		})
		var exists *types.RepositoryAlreadyExistsException
		if errors.As(err, &exists) {
			// Another worker (or run) created it between our look and our create:
			// reconcile what it made instead.
			res.Created = false
			if repo, err = p.describe(ctx, name); err != nil {
				return nil, err
			}
			if repo == nil {
				return nil, opError("DescribeRepositories", name, fmt.Errorf("repository vanished after CreateRepository said it exists"))
			}
		} else if err != nil {
			return nil, opError("CreateRepository", name, err)
		} else {
			if created != nil {
				res.URI = aws.ToString(created.RepositoryUri)
			}
			p.log.Info("created ECR repository", "repository", name, "kmsKey", s.KMSKey, "scanOnPush", s.ScanOnPush, "mutability", s.mutability())
			steps := p.createSteps(name, s)
			res.Changes = steps[:1].changes()
			for _, st := range steps[1:] {
				if err := p.mutate(ctx, st.call); err != nil {
					return res, opError(st.op, name, err)
				}
				res.Changes = append(res.Changes, st.changes...)
			}
			return res, nil
		}
	}
	res.URI = aws.ToString(repo.RepositoryUri)
	found, policy, lifecycle, err := p.state(ctx, name, repo)
	if err != nil {
		return nil, err
	}
	res.Found = found
	p.checkEncryption(ctx, s, found, res)
	steps := p.reconcileSteps(name, s, repo, found, policy, lifecycle)
	for _, st := range steps {
		if !plan {
			if err := p.mutate(ctx, st.call); err != nil {
				return res, opError(st.op, name, err)
			}
			p.log.Info("reconciled ECR repository setting", "repository", name, "call", st.op)
		}
		res.Changes = append(res.Changes, st.changes...)
	}
	return res, nil
}

type steps []step

func (ss steps) changes() []Change {
	var c []Change
	for _, s := range ss {
		c = append(c, s.changes...)
	}
	return c
}

func createInput(name string, s Settings) *ecr.CreateRepositoryInput {
	in := &ecr.CreateRepositoryInput{
		RepositoryName:             aws.String(name),
		ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: s.ScanOnPush},
		ImageTagMutability:         types.ImageTagMutability(s.mutability()),
		EncryptionConfiguration:    &types.EncryptionConfiguration{EncryptionType: types.EncryptionTypeAes256},
	}
	if s.KMSKey != "" {
		in.EncryptionConfiguration = &types.EncryptionConfiguration{EncryptionType: types.EncryptionTypeKms, KmsKey: aws.String(s.KMSKey)}
	}
	for _, t := range s.Tags {
		in.Tags = append(in.Tags, types.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)})
	}
	return in
}

// createSteps: the create itself (its call is made by ensure), then the policies.
func (p *Provisioner) createSteps(name string, s Settings) steps {
	enc := "AES256"
	if s.KMSKey != "" {
		enc = "KMS " + s.KMSKey
	}
	ss := steps{{op: "CreateRepository", changes: []Change{{Field: "repository", To: fmt.Sprintf(
		"created (encryption %s, scanOnPush %t, mutability %s, %d tags)", enc, s.ScanOnPush, s.mutability(), len(s.Tags))}}}}
	if s.RepositoryPolicy != "" {
		ss = append(ss, p.setPolicyStep(name, "", s.RepositoryPolicy))
	}
	if s.LifecyclePolicy != "" {
		ss = append(ss, p.putLifecycleStep(name, "", s.LifecyclePolicy))
	}
	return ss
}

func (p *Provisioner) setPolicyStep(name, have, want string) step {
	return step{op: "SetRepositoryPolicy",
		changes: []Change{{Field: "repositoryPolicy", From: jsonSHA256(have), To: jsonSHA256(want)}},
		call: func(ctx context.Context) error {
			_, err := p.api.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(name), PolicyText: aws.String(want)})
			return err
		}}
}

func (p *Provisioner) putLifecycleStep(name, have, want string) step {
	return step{op: "PutLifecyclePolicy",
		changes: []Change{{Field: "lifecyclePolicy", From: jsonSHA256(have), To: jsonSHA256(want)}},
		call: func(ctx context.Context) error {
			_, err := p.api.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String(name), LifecyclePolicyText: aws.String(want)})
			return err
		}}
}

func (p *Provisioner) reconcileSteps(name string, s Settings, repo *types.Repository, found State, policy, lifecycle string) steps {
	var ss steps
	if found.ScanOnPush != s.ScanOnPush {
		ss = append(ss, step{op: "PutImageScanningConfiguration",
			changes: []Change{{Field: "scanOnPush", From: fmt.Sprint(found.ScanOnPush), To: fmt.Sprint(s.ScanOnPush)}},
			call: func(ctx context.Context) error {
				_, err := p.api.PutImageScanningConfiguration(ctx, &ecr.PutImageScanningConfigurationInput{
					RepositoryName: aws.String(name), ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: s.ScanOnPush}})
				return err
			}})
	}
	if found.Mutability != s.mutability() {
		ss = append(ss, step{op: "PutImageTagMutability",
			changes: []Change{{Field: "mutability", From: found.Mutability, To: s.mutability()}},
			call: func(ctx context.Context) error {
				_, err := p.api.PutImageTagMutability(ctx, &ecr.PutImageTagMutabilityInput{
					RepositoryName: aws.String(name), ImageTagMutability: types.ImageTagMutability(s.mutability())})
				return err
			}})
	}
	have := map[string]string{}
	for _, t := range found.Tags {
		have[t.Key] = t.Value
	}
	var add []types.Tag
	var addChanges []Change
	want := map[string]bool{}
	for _, t := range s.Tags {
		want[t.Key] = true
		if v, ok := have[t.Key]; !ok || v != t.Value {
			add = append(add, types.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)})
			addChanges = append(addChanges, Change{Field: "tag:" + t.Key, From: v, To: t.Value})
		}
	}
	arn := aws.String(aws.ToString(repo.RepositoryArn))
	if len(add) > 0 {
		ss = append(ss, step{op: "TagResource", changes: addChanges, call: func(ctx context.Context) error {
			_, err := p.api.TagResource(ctx, &ecr.TagResourceInput{ResourceArn: arn, Tags: add})
			return err
		}})
	}
	if s.PruneTags {
		var drop []string
		var dropChanges []Change
		for _, t := range found.Tags {
			if !want[t.Key] {
				drop = append(drop, t.Key)
				dropChanges = append(dropChanges, Change{Field: "tag:" + t.Key, From: t.Value})
			}
		}
		if len(drop) > 0 {
			ss = append(ss, step{op: "UntagResource", changes: dropChanges, call: func(ctx context.Context) error {
				_, err := p.api.UntagResource(ctx, &ecr.UntagResourceInput{ResourceArn: arn, TagKeys: drop})
				return err
			}})
		}
	}
	if s.RepositoryPolicy != "" && !sameJSON(policy, s.RepositoryPolicy) {
		ss = append(ss, p.setPolicyStep(name, policy, s.RepositoryPolicy))
	}
	if s.LifecyclePolicy != "" && !sameJSON(lifecycle, s.LifecyclePolicy) {
		ss = append(ss, p.putLifecycleStep(name, lifecycle, s.LifecyclePolicy))
	}
	return ss
}

func sameJSON(a, b string) bool {
	if a == "" || b == "" {
		return a == b
	}
	ca, errA := canonicalJSON(a)
	cb, errB := canonicalJSON(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return ca == cb
}

// describe returns the repository, or nil when it does not exist.
func (p *Provisioner) describe(ctx context.Context, name string) (*types.Repository, error) {
	out, err := p.api.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{name}})
	var nf *types.RepositoryNotFoundException
	if errors.As(err, &nf) {
		return nil, nil
	}
	if err != nil {
		return nil, opError("DescribeRepositories", name, err)
	}
	for i := range out.Repositories {
		if aws.ToString(out.Repositories[i].RepositoryName) == name {
			return &out.Repositories[i], nil
		}
	}
	return nil, nil
}

// state reads what an existing repository carries, and its policies' text.
func (p *Provisioner) state(ctx context.Context, name string, repo *types.Repository) (State, string, string, error) {
	st := State{Mutability: string(repo.ImageTagMutability), EncryptionType: string(types.EncryptionTypeAes256)}
	if repo.ImageScanningConfiguration != nil {
		st.ScanOnPush = repo.ImageScanningConfiguration.ScanOnPush
	}
	if e := repo.EncryptionConfiguration; e != nil {
		st.EncryptionType = string(e.EncryptionType)
		st.KMSKey = aws.ToString(e.KmsKey)
	}
	tags, err := p.api.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: repo.RepositoryArn})
	if err != nil {
		return st, "", "", opError("ListTagsForResource", name, err)
	}
	for _, t := range tags.Tags {
		st.Tags = append(st.Tags, Tag{Key: aws.ToString(t.Key), Value: aws.ToString(t.Value)})
	}
	sort.Slice(st.Tags, func(i, j int) bool { return st.Tags[i].Key < st.Tags[j].Key })
	var policy, lifecycle string
	pol, err := p.api.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(name)})
	var noPolicy *types.RepositoryPolicyNotFoundException
	switch {
	case errors.As(err, &noPolicy):
	case err != nil:
		return st, "", "", opError("GetRepositoryPolicy", name, err)
	default:
		policy = aws.ToString(pol.PolicyText)
	}
	lc, err := p.api.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String(name)})
	var noLifecycle *types.LifecyclePolicyNotFoundException
	switch {
	case errors.As(err, &noLifecycle):
	case err != nil:
		return st, "", "", opError("GetLifecyclePolicy", name, err)
	default:
		lifecycle = aws.ToString(lc.LifecyclePolicyText)
	}
	st.RepositoryPolicySHA256 = jsonSHA256(policy)
	st.LifecyclePolicySHA256 = jsonSHA256(lifecycle)
	return st, policy, lifecycle, nil
}

// checkEncryption records drift between the asked and the found encryption.
func (p *Provisioner) checkEncryption(ctx context.Context, s Settings, found State, res *Result) {
	wantType := string(types.EncryptionTypeAes256)
	if s.KMSKey != "" {
		wantType = string(types.EncryptionTypeKms)
	}
	drift := func(field, want, have string) {
		res.Drift = append(res.Drift, Drift{Field: field, Want: want, Have: have})
		p.log.Warn("ECR repository encryption differs and cannot be changed", "repository", res.Repository, "field", field, "want", want, "have", have)
	}
	if found.EncryptionType != wantType {
		drift("encryptionType", wantType, found.EncryptionType)
		return
	}
	if s.KMSKey == "" || keyMatches(s.KMSKey, found.KMSKey) {
		return
	}
	if isKeyARN(found.KMSKey) && !isKeyARN(s.KMSKey) && p.keys != nil {
		arn, err := p.keys(ctx, s.KMSKey)
		if err == nil {
			if arn != found.KMSKey {
				drift("kmsKey", s.KMSKey+" ("+arn+")", found.KMSKey)
			}
			return
		}
		p.log.Warn("resolving KMS key", "key", s.KMSKey, "err", err)
	}
	if isAlias(s.KMSKey) != isAlias(found.KMSKey) {
		// An alias against a key ARN: equal or not, we cannot tell without KMS.
		res.Unverified = append(res.Unverified, "kmsKey: want "+s.KMSKey+", have "+found.KMSKey)
		return
	}
	drift("kmsKey", s.KMSKey, found.KMSKey)
}

func isAlias(k string) bool { return strings.HasPrefix(k, "alias/") || strings.Contains(k, ":alias/") }

func isKeyARN(k string) bool { return strings.HasPrefix(k, "arn:") && strings.Contains(k, ":key/") }

// keyMatches compares two references to a KMS key without asking KMS: equal, a key id
// against its ARN, or an alias name against its alias ARN.
func keyMatches(want, have string) bool {
	if want == have {
		return true
	}
	tail := func(k string) string {
		if i := strings.LastIndex(k, ":"); strings.HasPrefix(k, "arn:") && i >= 0 {
			return k[i+1:] // "key/<id>" or "alias/<name>"
		}
		if isAlias(k) {
			return k
		}
		return "key/" + k
	}
	return tail(want) == tail(have)
}

// mutate makes one mutating call, spaced from the end of the previous one by the
// throttle. Calls are serialised while a throttle is set: spacing is their point.
func (p *Provisioner) mutate(ctx context.Context, call func(context.Context) error) error {
	if p.throttle <= 0 {
		return call(ctx)
	}
	p.mutMu.Lock()
	defer p.mutMu.Unlock()
	if wait := p.throttle - time.Since(p.lastMut); !p.lastMut.IsZero() && wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	err := call(ctx)
	p.lastMut = time.Now()
	return err
}
