package ecrtarget_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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
