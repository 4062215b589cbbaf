package ecrtarget_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/smithy-go"

	"github.com/tmsync/tmsync/ecrtarget"
)

// scripted answers each request with the next of its responses (status, body).
type scripted struct {
	mu      sync.Mutex
	answers [][2]string
	n       int
}

func (s *scripted) Do(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	a := s.answers[min(s.n, len(s.answers)-1)]
	s.n++
	s.mu.Unlock()
	status := map[string]int{"200": 200, "400": 400, "429": 429, "503": 503}[a[0]]
	return &http.Response{StatusCode: status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}}, Request: req,
		Body: io.NopCloser(strings.NewReader(a[1]))}, nil
}

func sdkClient(s *scripted) *ecr.Client {
	cfg := aws.Config{Region: "eu-central-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}
	return ecrtarget.NewClient(cfg, ecrtarget.RetryOptions(5, time.Millisecond, 5*time.Millisecond),
		func(o *ecr.Options) { o.HTTPClient = s })
}

const throttled = `{"__type":"ThrottlingException","message":"Rate exceeded"}`

func TestRetryerThrough(t *testing.T) {
	ok := `{"repositories":[{"repositoryName":"x1","repositoryArn":"arn:aws:ecr:eu-central-1:1:repository/x1","imageTagMutability":"IMMUTABLE"}]}`
	s := &scripted{answers: [][2]string{{"400", throttled}, {"429", `{"message":"slow down"}`}, {"429", ""}, {"200", ok}}}
	out, err := sdkClient(s).DescribeRepositories(context.Background(), &ecr.DescribeRepositoriesInput{})
	if err != nil || len(out.Repositories) != 1 || s.n != 4 {
		t.Fatalf("after 3 throttles: %v, %d attempts", err, s.n)
	}
}

func TestRetryerGivesUp(t *testing.T) {
	s := &scripted{answers: [][2]string{{"400", throttled}}}
	_, err := mustNew(t, sdkClient(s)).Ensure(context.Background(), "3rdparty/tm/x", ecrtarget.Settings{})
	var api smithy.APIError
	var e *ecrtarget.Error
	if !errors.As(err, &e) || !errors.As(err, &api) || api.ErrorCode() != "ThrottlingException" || s.n != 5 {
		t.Fatalf("got %v after %d attempts, want ThrottlingException after 5", err, s.n)
	}
}

func TestRetryerDoesNotRetryAccessDenied(t *testing.T) {
	s := &scripted{answers: [][2]string{{"400", `{"__type":"AccessDeniedException","message":"User: arn:aws:sts::1:assumed-role/sync is not authorized to perform: ecr:DescribeRepositories"}`}}}
	_, err := mustNew(t, sdkClient(s)).Ensure(context.Background(), "3rdparty/tm/x", ecrtarget.Settings{})
	var api smithy.APIError
	var e *ecrtarget.Error
	if !errors.As(err, &e) || e.Op != "DescribeRepositories" || e.Repository != "3rdparty/tm/x" ||
		!errors.As(err, &api) || api.ErrorCode() != "AccessDeniedException" || s.n != 1 {
		t.Fatalf("got %v after %d attempts", err, s.n)
	}
	if !strings.HasPrefix(err.Error(), "ecr DescribeRepositories 3rdparty/tm/x: ") {
		t.Fatalf("message %q", err)
	}
}

// TestAPITimeout: an ECR endpoint that takes a request and never answers (a half-open
// connection, a proxy that swallowed it) does not hold the run: each try is cut at the API
// timeout and retried, and the call fails as a timeout.
func TestAPITimeout(t *testing.T) {
	hang := make(chan struct{})
	var mu sync.Mutex
	tries := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tries++
		mu.Unlock()
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(hang)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")}
	c := ecrtarget.NewClient(cfg, ecrtarget.RetryOptions(2, time.Millisecond, time.Millisecond), ecrtarget.APITimeout(200*time.Millisecond),
		func(o *ecr.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	start := time.Now()
	_, err := c.DescribeRepositories(context.Background(), &ecr.DescribeRepositoriesInput{})
	took := time.Since(start)
	mu.Lock()
	n := tries
	mu.Unlock()
	t.Logf("%v after %s, %d tries", err, took.Round(time.Millisecond), n)
	if err == nil || took > 5*time.Second {
		t.Fatalf("a call to an endpoint that never answers: %v after %s", err, took)
	}
	if n != 2 {
		t.Errorf("%d tries, want 2 (the cut try retried)", n)
	}
	// By default, DefaultAPITimeout, on cfg's client as on the SDK's own.
	for _, hc := range []aws.HTTPClient{nil, awshttp.NewBuildableClient()} {
		cfg.HTTPClient = hc
		bc, ok := ecrtarget.NewClient(cfg).Options().HTTPClient.(*awshttp.BuildableClient)
		if !ok || bc.GetTimeout() != ecrtarget.DefaultAPITimeout {
			t.Errorf("NewClient with HTTP client %T: %T, want the SDK's client with a %s timeout", hc, bc, ecrtarget.DefaultAPITimeout)
		}
	}
}

// countingTransport counts the requests that reach it.
type countingTransport struct {
	mu sync.Mutex
	n  int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// TestNewClientKeepsCallersTimeout: a timeout the caller set on cfg's HTTP client is the
// one each try is cut at, not DefaultAPITimeout, and the client's other settings stay; a
// client of the caller's own type is used as it is.
func TestNewClientKeepsCallersTimeout(t *testing.T) {
	hang := make(chan struct{})
	var mu sync.Mutex
	tries := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tries++
		mu.Unlock()
		<-hang // not r.Context(): with the body unread, a client's hang-up goes unseen
	}))
	defer srv.Close()
	defer close(hang)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient: awshttp.NewBuildableClient().
			WithTransportOptions(func(tr *http.Transport) { tr.MaxIdleConnsPerHost = 7 }).
			WithTimeout(200 * time.Millisecond)}
	c := ecrtarget.NewClient(cfg, ecrtarget.RetryOptions(2, time.Millisecond, time.Millisecond),
		func(o *ecr.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	bc, ok := c.Options().HTTPClient.(*awshttp.BuildableClient)
	if !ok {
		t.Fatalf("NewClient with the caller's BuildableClient: %T", c.Options().HTTPClient)
	}
	if bc.GetTimeout() != 200*time.Millisecond || bc.GetTransport().MaxIdleConnsPerHost != 7 {
		t.Fatalf("NewClient with the caller's client (200ms timeout, 7 idle connections per host): timeout %s, %d idle connections per host",
			bc.GetTimeout(), bc.GetTransport().MaxIdleConnsPerHost)
	}
	// The 200ms are what cut a try: the context's 10 s would cut an unanswered call
	// long before DefaultAPITimeout.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{})
	took := time.Since(start)
	mu.Lock()
	n := tries
	mu.Unlock()
	if err == nil || ctx.Err() != nil || took > 5*time.Second || n != 2 {
		t.Fatalf("a call to an endpoint that never answers, with the caller's 200ms timeout: %v after %s, %d tries", err, took, n)
	}

	// An explicit APITimeout still wins over cfg's.
	if bc, _ := ecrtarget.NewClient(cfg, ecrtarget.APITimeout(3*time.Second)).Options().HTTPClient.(*awshttp.BuildableClient); bc == nil || bc.GetTimeout() != 3*time.Second {
		t.Errorf("APITimeout(3s) over cfg's 200ms: %v", bc)
	}

	// A client of the caller's own type: requests go through it, its timeout untouched.
	own := &countingTransport{}
	hc := &http.Client{Transport: own, Timeout: 200 * time.Millisecond}
	cfg.HTTPClient = hc
	c = ecrtarget.NewClient(cfg, ecrtarget.RetryOptions(1, time.Millisecond, time.Millisecond),
		func(o *ecr.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	if _, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{}); err == nil || ctx.Err() != nil {
		t.Fatalf("through the caller's http.Client: %v", err)
	}
	if c.Options().HTTPClient != hc || hc.Timeout != 200*time.Millisecond || own.n != 1 {
		t.Errorf("the caller's http.Client: %T, timeout %s, %d requests through its transport", c.Options().HTTPClient, hc.Timeout, own.n)
	}
}
