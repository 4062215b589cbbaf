package ecrtarget_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/smithy-go"

	"github.com/tmsync/tmsync/ecrtarget"
)

// callersRetryer is a caller's own retryer: the SDK's standard one with 2 attempts and no
// delay, counting the errors it is asked about.
type callersRetryer struct {
	aws.Retryer
	asked *atomic.Int32
}

func newCallersRetryer(asked *atomic.Int32) aws.Retryer {
	return callersRetryer{asked: asked, Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 2
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
	})}
}

func (r callersRetryer) IsErrorRetryable(err error) bool {
	r.asked.Add(1)
	return r.Retryer.IsErrorRetryable(err)
}

// TestNewClientKeepsCallersRetryer: a retryer the caller chose (cfg.Retryer by hand or
// through config.WithRetryer, or cfg.ServiceOptions) is the one the client retries with,
// not tmsync's batch retryer; the endpoint throttles 3 times, then answers, so the batch
// retryer would succeed on the 4th attempt where the caller's gives up after 2.
func TestNewClientKeepsCallersRetryer(t *testing.T) {
	// Only the options below: no profile, file or environment of the machine.
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	for _, k := range []string{"AWS_PROFILE", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"} {
		t.Setenv(k, "")
	}
	static := credentials.NewStaticCredentialsProvider("a", "b", "")
	var asked atomic.Int32
	callers := func() aws.Retryer { return newCallersRetryer(&asked) }
	loaded, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("eu-central-1"),
		config.WithCredentialsProvider(static), config.WithRetryer(callers))
	if err != nil {
		t.Fatal(err)
	}
	byHand := aws.Config{Region: "eu-central-1", Credentials: static, Retryer: callers}
	byService := aws.Config{Region: "eu-central-1", Credentials: static, ServiceOptions: []func(string, any){
		func(id string, o any) {
			if id == ecr.ServiceID {
				o.(*ecr.Options).Retryer = newCallersRetryer(&asked)
			}
		}}}
	for name, cfg := range map[string]aws.Config{"config.WithRetryer": loaded, "cfg.Retryer": byHand, "cfg.ServiceOptions": byService} {
		t.Run(name, func(t *testing.T) {
			asked.Store(0)
			s := &scripted{answers: [][2]string{{"400", throttled}, {"400", throttled}, {"400", throttled}, {"200", `{"repositories":[]}`}}}
			c := ecrtarget.NewClient(cfg, func(o *ecr.Options) { o.HTTPClient = s })
			if n := c.Options().Retryer.MaxAttempts(); n != 2 {
				t.Errorf("the client's retryer allows %d attempts, the caller's 2", n)
			}
			_, err := c.DescribeRepositories(context.Background(), &ecr.DescribeRepositoriesInput{})
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != "ThrottlingException" || s.n != 2 || asked.Load() == 0 {
				t.Fatalf("with the caller's retryer (2 attempts): %v after %d attempts, the caller's retryer asked %d times",
					err, s.n, asked.Load())
			}
		})
	}
}

// TestNewClientDefaultRetryer: without a retryer of the caller's, as from
// config.LoadDefaultConfig without WithRetryer (the CLI's case), the client has the batch
// retryer: DefaultMaxAttempts, ThrottlingException and a bare 429 retried.
func TestNewClientDefaultRetryer(t *testing.T) {
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	for _, k := range []string{"AWS_PROFILE", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"} {
		t.Setenv(k, "")
	}
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("eu-central-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("a", "b", "")))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Retryer != nil {
		t.Fatalf("config.LoadDefaultConfig set a retryer: NewClient would keep it, not the batch retryer")
	}
	s := &scripted{answers: [][2]string{{"400", throttled}, {"429", ""}, {"200", `{"repositories":[]}`}}}
	c := ecrtarget.NewClient(cfg, func(o *ecr.Options) { o.HTTPClient = s })
	if n := c.Options().Retryer.MaxAttempts(); n != ecrtarget.DefaultMaxAttempts {
		t.Errorf("the default retryer allows %d attempts, want %d", n, ecrtarget.DefaultMaxAttempts)
	}
	if _, err := c.DescribeRepositories(context.Background(), &ecr.DescribeRepositoriesInput{}); err != nil || s.n != 3 {
		t.Fatalf("after a ThrottlingException and a 429: %v after %d attempts, want success after 3", err, s.n)
	}
}
