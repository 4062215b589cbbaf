package ecrtarget

import (
	"context"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
)

// API is exactly the ECR calls this package makes; *ecr.Client satisfies it. IAMActions
// lists the same calls as IAM actions, and a test holds the two together.
type API interface {
	DescribeRepositories(ctx context.Context, in *ecr.DescribeRepositoriesInput, optFns ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error)
	CreateRepository(ctx context.Context, in *ecr.CreateRepositoryInput, optFns ...func(*ecr.Options)) (*ecr.CreateRepositoryOutput, error)
	ListTagsForResource(ctx context.Context, in *ecr.ListTagsForResourceInput, optFns ...func(*ecr.Options)) (*ecr.ListTagsForResourceOutput, error)
	TagResource(ctx context.Context, in *ecr.TagResourceInput, optFns ...func(*ecr.Options)) (*ecr.TagResourceOutput, error)
	UntagResource(ctx context.Context, in *ecr.UntagResourceInput, optFns ...func(*ecr.Options)) (*ecr.UntagResourceOutput, error)
	GetRepositoryPolicy(ctx context.Context, in *ecr.GetRepositoryPolicyInput, optFns ...func(*ecr.Options)) (*ecr.GetRepositoryPolicyOutput, error)
	SetRepositoryPolicy(ctx context.Context, in *ecr.SetRepositoryPolicyInput, optFns ...func(*ecr.Options)) (*ecr.SetRepositoryPolicyOutput, error)
	GetLifecyclePolicy(ctx context.Context, in *ecr.GetLifecyclePolicyInput, optFns ...func(*ecr.Options)) (*ecr.GetLifecyclePolicyOutput, error)
	PutLifecyclePolicy(ctx context.Context, in *ecr.PutLifecyclePolicyInput, optFns ...func(*ecr.Options)) (*ecr.PutLifecyclePolicyOutput, error)
	PutImageScanningConfiguration(ctx context.Context, in *ecr.PutImageScanningConfigurationInput, optFns ...func(*ecr.Options)) (*ecr.PutImageScanningConfigurationOutput, error)
	PutImageTagMutability(ctx context.Context, in *ecr.PutImageTagMutabilityInput, optFns ...func(*ecr.Options)) (*ecr.PutImageTagMutabilityOutput, error)
	BatchGetImage(ctx context.Context, in *ecr.BatchGetImageInput, optFns ...func(*ecr.Options)) (*ecr.BatchGetImageOutput, error)
	GetAuthorizationToken(ctx context.Context, in *ecr.GetAuthorizationTokenInput, optFns ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error)
	DescribeImageScanFindings(ctx context.Context, in *ecr.DescribeImageScanFindingsInput, optFns ...func(*ecr.Options)) (*ecr.DescribeImageScanFindingsOutput, error)
	StartImageScan(ctx context.Context, in *ecr.StartImageScanInput, optFns ...func(*ecr.Options)) (*ecr.StartImageScanOutput, error)
	GetAccountSetting(ctx context.Context, in *ecr.GetAccountSettingInput, optFns ...func(*ecr.Options)) (*ecr.GetAccountSettingOutput, error)
}

var _ API = (*ecr.Client)(nil)

// IAMActions returns every ecr:* action this package calls, sorted: the pipeline's role
// needs exactly these for provisioning (plus, with a KMS key, kms:CreateGrant,
// kms:DescribeKey and kms:RetireGrant on that key, which ECR uses on the caller's behalf,
// and the push actions of [PushActions] for the engine's copies).
func IAMActions() []string {
	a := []string{
		"ecr:BatchGetImage",
		"ecr:CreateRepository",
		"ecr:DescribeImageScanFindings",
		"ecr:DescribeRepositories",
		"ecr:GetAccountSetting",
		"ecr:GetAuthorizationToken",
		"ecr:GetLifecyclePolicy",
		"ecr:GetRepositoryPolicy",
		"ecr:ListTagsForResource",
		"ecr:PutImageScanningConfiguration",
		"ecr:PutImageTagMutability",
		"ecr:PutLifecyclePolicy",
		"ecr:SetRepositoryPolicy",
		"ecr:StartImageScan",
		"ecr:TagResource",
		"ecr:UntagResource",
	}
	sort.Strings(a)
	return a
}

// PushActions returns the ecr:* actions that a registry client authenticated with
// [Provisioner.Credentials] needs to look at and push images; this package does not call
// them itself, the engine's copies do, through the registry protocol.
func PushActions() []string {
	return []string{
		"ecr:BatchCheckLayerAvailability",
		"ecr:BatchGetImage",
		"ecr:CompleteLayerUpload",
		"ecr:GetDownloadUrlForLayer",
		"ecr:InitiateLayerUpload",
		"ecr:PutImage",
		"ecr:UploadLayerPart",
	}
}

// Retry defaults of NewClient.
const (
	DefaultMaxAttempts = 10
	DefaultBaseDelay   = 500 * time.Millisecond
	DefaultMaxBackoff  = 20 * time.Second
)

// NewRetryer returns the SDK's standard retryer made fit for a batch run that creates
// many repositories: maxAttempts attempts (DefaultMaxAttempts when < 1), full-jitter
// exponential backoff from baseDelay up to maxBackoff (the defaults when <= 0),
// ThrottlingException and every HTTP 429 retried, and no client-side retry quota, which
// would otherwise turn a long throttled stretch into failures.
func NewRetryer(maxAttempts int, baseDelay, maxBackoff time.Duration) aws.Retryer {
	if maxAttempts < 1 {
		maxAttempts = DefaultMaxAttempts
	}
	if baseDelay <= 0 {
		baseDelay = DefaultBaseDelay
	}
	if maxBackoff <= 0 {
		maxBackoff = DefaultMaxBackoff
	}
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.MaxBackoff = maxBackoff
		o.Backoff = fullJitter(baseDelay, maxBackoff)
		o.RateLimiter = ratelimit.None
		// ThrottlingException is among the SDK's throttle codes already; a 429 is
		// retried whatever its body says, and counted as throttling.
		too := retry.RetryableHTTPStatusCode{Codes: map[int]struct{}{429: {}}}
		o.Retryables = append(o.Retryables, too)
		o.Throttles = append(o.Throttles, retry.IsErrorThrottleFunc(func(err error) aws.Ternary {
			return too.IsErrorRetryable(err)
		}))
	})
}

// fullJitter: a delay drawn uniformly from [0, min(max, base*2^attempt)).
func fullJitter(base, max time.Duration) retry.BackoffDelayer {
	return retry.BackoffDelayerFunc(func(attempt int, _ error) (time.Duration, error) {
		ceil := max
		if attempt < 30 {
			if d := base << attempt; d > 0 && d < max {
				ceil = d
			}
		}
		return time.Duration(rand.Int64N(int64(ceil) + 1)), nil
	})
}

// RetryOptions installs NewRetryer(maxAttempts, baseDelay, maxBackoff) in an ECR client.
func RetryOptions(maxAttempts int, baseDelay, maxBackoff time.Duration) func(*ecr.Options) {
	return func(o *ecr.Options) { o.Retryer = NewRetryer(maxAttempts, baseDelay, maxBackoff) }
}

// NewClient returns an ECR client for cfg with DefaultAPITimeout on each request unless
// cfg's HTTP client has a timeout of its own (which is kept), and with the retryer of
// NewRetryer and its defaults unless the caller chose one: a cfg.Retryer (set by hand or by
// config.WithRetryer) is kept, and so is a retryer set by cfg.ServiceOptions or by optFns,
// which apply after the defaults (pass RetryOptions or APITimeout to change them).
// cfg.RetryMaxAttempts (AWS_MAX_ATTEMPTS, max_attempts) bounds whichever retryer is used,
// as in any SDK client; cfg.RetryMode has no effect, as with any retryer given. The
// engine makes its ECR clients here, from a cfg without a retryer, so every one retries
// throttling, and cuts a request left unanswered, the same way.
func NewClient(cfg aws.Config, optFns ...func(*ecr.Options)) *ecr.Client {
	if cfg.Retryer == nil {
		cfg.Retryer = func() aws.Retryer { return NewRetryer(0, 0, 0) }
	}
	return ecr.NewFromConfig(cfg, append([]func(*ecr.Options){defaultAPITimeout}, optFns...)...)
}

// defaultAPITimeout is APITimeout(DefaultAPITimeout) for a client that has no timeout:
// one the caller set on cfg's client is theirs to choose.
func defaultAPITimeout(o *ecr.Options) {
	if c, ok := o.HTTPClient.(*awshttp.BuildableClient); ok && c.GetTimeout() > 0 {
		return
	}
	APITimeout(DefaultAPITimeout)(o)
}

// DefaultAPITimeout bounds each try of an ECR API call. ECR answers in well under a
// second; the SDK's HTTP client has connect and TLS handshake timeouts and none for the
// answer, so a request that gets none (a half-open connection, a proxy that swallowed it)
// would hold the run for the kernel's 15 minutes, or for ever. Cut, it is retried as a
// timeout.
const DefaultAPITimeout = time.Minute

// APITimeout sets the time each try of an ECR API call may take, answer included, on the
// SDK's own HTTP client (cfg's, or the SDK's default); a client of the caller's own
// (ecr.Options.HTTPClient of another type) is left as it is.
func APITimeout(d time.Duration) func(*ecr.Options) {
	return func(o *ecr.Options) {
		switch c := o.HTTPClient.(type) {
		case nil:
			o.HTTPClient = awshttp.NewBuildableClient().WithTimeout(d)
		case *awshttp.BuildableClient:
			o.HTTPClient = c.WithTimeout(d)
		}
	}
}
