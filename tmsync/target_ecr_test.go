package tmsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	"github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/ecrtarget"
)

// ecrScanAPI answers the SDK's ECR requests as ECR does for an image it has no scan of
// (DescribeImageScanFindings: ScanNotFoundException), StartImageScan with start, and
// counts the calls by operation, and by operation and repository. It stands in for ECR
// below the SDK, so that the SDK's own error decoding makes the errors the target sees.
// A repository in allowed takes a start (as IAM allows ecr:StartImageScan by repository
// ARN), and the image's scan is then complete with one LOW finding.
type ecrScanAPI struct {
	start   [2]any // StartImageScan's HTTP status and JSON body
	allowed map[string]bool
	mu      sync.Mutex
	calls   map[string]int // by operation, and by "operation repository"
	started map[string]bool
}

func (a *ecrScanAPI) Do(req *http.Request) (*http.Response, error) {
	op := strings.TrimPrefix(req.Header.Get("X-Amz-Target"), "AmazonEC2ContainerRegistry_V20150921.")
	var in struct {
		RepositoryName string `json:"repositoryName"`
		ImageID        struct {
			ImageDigest string `json:"imageDigest"`
		} `json:"imageId"`
	}
	if b, err := io.ReadAll(req.Body); err != nil || json.Unmarshal(b, &in) != nil {
		return nil, fmt.Errorf("reading the %s request: %v", op, err)
	}
	repo, image := in.RepositoryName, in.RepositoryName+"@"+in.ImageID.ImageDigest
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.calls == nil {
		a.calls, a.started = map[string]int{}, map[string]bool{}
	}
	a.calls[op]++
	a.calls[op+" "+repo]++
	status, body := 400, `{"__type":"ScanNotFoundException","message":"Image scan does not exist for the image"}`
	switch {
	case op == "DescribeImageScanFindings" && a.started[image]:
		status, body = 200, `{"imageScanStatus":{"status":"COMPLETE"},"imageScanFindings":{"findingSeverityCounts":{"LOW":1}}}`
	case op == "DescribeImageScanFindings":
	case op == "StartImageScan" && a.allowed[repo]:
		a.started[image] = true
		status, body = 200, `{"imageScanStatus":{"status":"IN_PROGRESS"}}`
	case op == "StartImageScan":
		status, body = a.start[0].(int), a.start[1].(string)
	default:
		status, body = 400, `{"__type":"ValidationException","message":"not in this fake: `+op+`"}`
	}
	return &http.Response{StatusCode: status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}}, Request: req,
		Body: io.NopCloser(strings.NewReader(body))}, nil
}

// count is the number of calls of op, in repo when one is given.
func (a *ecrScanAPI) count(op string, repo ...string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[strings.Join(append([]string{op}, repo...), " ")]
}

func ecrScanTarget(t *testing.T, api *ecrScanAPI) *ECRTarget {
	t.Helper()
	cfg := aws.Config{Region: "eu-central-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}
	client := ecrtarget.NewClient(cfg, ecrtarget.RetryOptions(3, time.Millisecond, 5*time.Millisecond),
		func(o *ecr.Options) { o.HTTPClient = api })
	prov, err := ecrtarget.New(client, ecrtarget.WithScanPollInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	target, err := NewECRTarget(prov, "mirror/", ecrtarget.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	return target
}

// deniedARN is what IAM's refusal says: the caller's ARN, with its account and role.
const deniedARN = "arn:aws:sts::123456789012:assumed-role/tm-sync-verify/AWSCodeBuild-1"

// TestECRScanStartDenied: an image ECR has no scan of, whose scan the role may not start
// (the pipeline's read-only verify role), fails at once, saying so and what to do, as
// CauseDenied and without the caller's ARN; another refusal of the start waits the whole
// wait as before, and says the start's error with the timeout.
func TestECRScanStartDenied(t *testing.T) {
	d := digest.FromString("image")
	denied := func(code string) string {
		return `{"__type":"` + code + `","message":"User: ` + deniedARN +
			` is not authorized to perform: ecr:StartImageScan on resource: arn:aws:ecr:eu-central-1:123456789012:repository/mirror/x because no identity-based policy allows the ecr:StartImageScan action"}`
	}
	const wait = 2 * time.Second
	for _, tc := range []struct {
		name   string
		start  [2]any
		denied string // the AWS error code said; "": not a denial, the wait is waited out
	}{
		{"AccessDeniedException", [2]any{400, denied("AccessDeniedException")}, "AccessDeniedException"},
		{"AccessDeniedException with 403", [2]any{403, denied("AccessDeniedException")}, "AccessDeniedException"},
		{"AccessDenied", [2]any{400, denied("AccessDenied")}, "AccessDenied"},
		{"prefixed code", [2]any{400, denied("com.amazonaws.ecr#AccessDeniedException")}, "AccessDeniedException"},
		{"unsupported image", [2]any{400, `{"__type":"UnsupportedImageTypeException","message":"no"}`}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &ecrScanAPI{start: tc.start}
			w := wait
			if tc.denied == "" {
				w = 300 * time.Millisecond // the old behaviour: waited out, kept short
			}
			began := time.Now()
			counts, status, err := ecrScanTarget(t, api).ScanFindings(context.Background(), "mirror/x", d, w)
			took := time.Since(began)
			if counts != nil || status != "NOT_STARTED" || err == nil {
				t.Fatalf("got %v %q %v, want no counts, NOT_STARTED and an error", counts, status, err)
			}
			if n := api.count("StartImageScan"); n != 1 {
				t.Errorf("StartImageScan called %d times, want once", n)
			}
			msg := err.Error()
			if tc.denied == "" {
				if took < w || !errors.Is(err, ecrtarget.ErrScanNotComplete) || !strings.Contains(msg, "UnsupportedImageTypeException") {
					t.Fatalf("after %s: %v; want the wait of %s waited out and the start's error said", took, err, w)
				}
				if ClassifyError(err) == CauseDenied || errors.As(err, new(*ScanStartDeniedError)) {
					t.Fatalf("%v read as a denial", err)
				}
				return
			}
			if took > wait/4 {
				t.Errorf("took %s with a wait of %s: a denied start is not waited for", took, wait)
			}
			if n := api.count("DescribeImageScanFindings"); n != 1 {
				t.Errorf("DescribeImageScanFindings called %d times, want one look", n)
			}
			var de *ScanStartDeniedError
			var ae smithy.APIError
			var ee *ecrtarget.Error
			if !errors.As(err, &de) || !errors.As(err, &ee) || ee.Op != "StartImageScan" || !errors.As(err, &ae) {
				t.Fatalf("%v (%T): want a *ScanStartDeniedError wrapping the ECR call's error", err, err)
			}
			if c := ClassifyError(err); c != CauseDenied {
				t.Errorf("cause %q, want %q", c, CauseDenied)
			}
			if errors.Is(err, ecrtarget.ErrScanNotComplete) {
				t.Errorf("%v: a denial is not a scan that did not complete in time", err)
			}
			for _, want := range []string{"no scan of the image", "refused", "ecr:StartImageScan: " + tc.denied + ")",
				"give the role ecr:StartImageScan", "scan gate in the sync stage", "docs/pipeline-gates.md"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
			for _, leak := range []string{"arn:", "123456789012", "tm-sync-verify", "not authorized", "#"} {
				if strings.Contains(msg, leak) {
					t.Errorf("message %q says %q of the AWS message", msg, leak)
				}
			}
		})
	}
}

// TestScanGateStartDenied: through the scan gate, every image a read-only role cannot
// start the scan of fails at once, in step "scan" with CauseDenied, the step and cause
// that the failure summary groups by, with one reason for all: a 15-minute --scan-wait is
// not waited once per image. ECR is asked to start a scan once a repository a run: after
// its refusal, each other image there still gets its one look (it may have a scan to
// read), and without a scan fails with the same refusal. Another repository is asked
// (IAM may allow ecr:StartImageScan on its ARN), and where it is allowed, its images'
// scans are started and read. The next run asks again (the role may have changed).
func TestScanGateStartDenied(t *testing.T) {
	type image struct{ repo, tag string }
	for _, tc := range []struct {
		name    string
		images  []image
		allowed map[string]bool
	}{
		{"one repository", []image{{"mirror/a", "1"}, {"mirror/a", "2"}, {"mirror/a", "3"}, {"mirror/a", "4"}}, nil},
		{"two repositories", []image{{"mirror/a", "1"}, {"mirror/b", "1"}, {"mirror/a", "2"}, {"mirror/b", "2"}, {"mirror/a", "3"}}, nil},
		{"one of two allowed", []image{{"mirror/a", "1"}, {"mirror/b", "1"}, {"mirror/a", "2"}, {"mirror/b", "2"}}, map[string]bool{"mirror/b": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &ecrScanAPI{start: [2]any{400, `{"__type":"AccessDeniedException","message":"User: ` + deniedARN + ` is not authorized"}`},
				allowed: tc.allowed}
			e, err := New(ecrScanTarget(t, api), fakeAttestorForRedact{}, WithScanGate(15*time.Minute, "CRITICAL"))
			if err != nil {
				t.Fatal(err)
			}
			perRepo := map[string]int{}
			for _, im := range tc.images {
				perRepo[im.repo]++
			}
			for runs := 1; runs <= 2; runs++ {
				rep := &Report{}
				for i, im := range tc.images {
					rep.Images = append(rep.Images, ImageRecord{Dest: im.repo + ":" + im.tag, Repository: im.repo,
						Digest: digest.FromString(im.repo + ":" + im.tag).String(), Outcome: []Outcome{OutcomeCopied, OutcomePresent}[i%2]})
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				began := time.Now()
				(&run{Engine: e, o: &e.opts, rep: rep}).scanGate(ctx)
				cancel()
				if took := time.Since(began); took > 10*time.Second {
					t.Fatalf("the gate took %s", took)
				}
				denial := ""
				for _, im := range rep.Images {
					if tc.allowed[im.Repository] {
						if im.Outcome == OutcomeFailed || im.ScanStatus != "COMPLETE" || im.Scan["LOW"] != 1 {
							t.Errorf("%s, in a repository where the role may start scans: %s %s %q %v (%s), want its scan started and read",
								im.Dest, im.Outcome, im.Step, im.ScanStatus, im.Scan, im.Reason)
						}
						continue
					}
					if im.Outcome != OutcomeFailed || im.Step != "scan" || im.Cause != CauseDenied || im.ScanStatus != "NOT_STARTED" {
						t.Errorf("%s: %s %s %s %q, want failed in scan, denied, NOT_STARTED", im.Dest, im.Outcome, im.Step, im.Cause, im.ScanStatus)
					}
					if denial == "" {
						denial = im.Reason
					}
					if im.Reason != denial || !strings.Contains(im.Reason, "starting one was refused") {
						t.Errorf("%s: reason %q, want the denial, as the others", im.Dest, im.Reason)
					}
					if !errors.As(im.err, new(*ScanStartDeniedError)) {
						t.Errorf("%s: %v (%T), want a *ScanStartDeniedError", im.Dest, im.err, im.err)
					}
				}
				for repo, n := range perRepo {
					// Denied: asked once a repository a run, one look an image. Allowed:
					// each image's scan started in the first run, and read after it.
					starts, looks := runs, runs*n
					if tc.allowed[repo] {
						starts, looks = n, runs*n+n
					}
					if got := api.count("StartImageScan", repo); got != starts {
						t.Errorf("after %d runs of %d images in %s: StartImageScan called there %d times, want %d", runs, n, repo, got, starts)
					}
					if got := api.count("DescribeImageScanFindings", repo); got != looks {
						t.Errorf("after %d runs of %d images in %s: DescribeImageScanFindings called there %d times, want %d", runs, n, repo, got, looks)
					}
				}
			}
		})
	}
}

// TestScanStartDeniedConcurrent: one run's scans read at once from many goroutines ask
// ECR to start a scan once a repository, and every image gets the refusal.
func TestScanStartDeniedConcurrent(t *testing.T) {
	api := &ecrScanAPI{start: [2]any{400, `{"__type":"AccessDeniedException","message":"no"}`}}
	scans := ecrScanTarget(t, api).scanRun()
	const n, repos = 16, 2
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			repo := "mirror/" + string(rune('a'+i%repos))
			_, _, errs[i] = scans.ScanFindings(context.Background(), repo, digest.FromString(fmt.Sprint(i)), time.Minute)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.As(err, new(*ScanStartDeniedError)) {
			t.Errorf("image %d: %v, want a *ScanStartDeniedError", i, err)
		}
	}
	for r := range repos {
		repo := "mirror/" + string(rune('a'+r))
		if c := api.count("StartImageScan", repo); c != 1 {
			t.Errorf("StartImageScan called %d times in %s for its %d images read at once, want once", c, repo, n/repos)
		}
	}
}
