package ecrtarget

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
	"github.com/opencontainers/go-digest"
)

const repoName = "3rdparty/tm/vault/core"

func existingRepo(kms string) *types.Repository {
	enc := &types.EncryptionConfiguration{EncryptionType: types.EncryptionTypeAes256}
	if kms != "" {
		enc = &types.EncryptionConfiguration{EncryptionType: types.EncryptionTypeKms, KmsKey: aws.String(kms)}
	}
	return &types.Repository{
		RepositoryName:             aws.String(repoName),
		RepositoryArn:              aws.String("arn:aws:ecr:us-east-1:123456789012:repository/" + repoName),
		RepositoryUri:              aws.String("123456789012.dkr.ecr.us-east-1.amazonaws.com/" + repoName),
		ImageTagMutability:         types.ImageTagMutabilityMutable,
		ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: false},
		EncryptionConfiguration:    enc,
	}
}

func wantedSettings() Settings {
	return Settings{
		KMSKey:           "alias/ecr",
		ScanOnPush:       true,
		Tags:             []Tag{{"owner", "core-banking"}, {"env", "prod"}},
		PruneTags:        true,
		RepositoryPolicy: CrossAccountPullPolicy([]string{"111111111111"}),
		LifecyclePolicy:  DefaultLifecyclePolicy(2),
	}
}

func TestPlanMakesNoMutatingCall(t *testing.T) {
	ctx := context.Background()
	t.Run("missing repository", func(t *testing.T) {
		f := &fakeAPI{}
		res, err := mustNew(t, f).Plan(ctx, repoName, wantedSettings())
		if err != nil {
			t.Fatal(err)
		}
		if m := f.mutating(); len(m) != 0 {
			t.Fatalf("plan made mutating calls %v", m)
		}
		if !res.Created || len(res.Changes) != 3 || res.Changes[0].Field != "repository" {
			t.Fatalf("plan of a new repository: %+v", res)
		}
	})
	t.Run("existing repository", func(t *testing.T) {
		f := &fakeAPI{repo: existingRepo("alias/ecr"), policy: `{"Statement":[]}`, lifecycle: DefaultLifecyclePolicy(9),
			tags: []types.Tag{{Key: aws.String("owner"), Value: aws.String("someone")}, {Key: aws.String("other"), Value: aws.String("x")}}}
		res, err := mustNew(t, f).Plan(ctx, repoName, wantedSettings())
		if err != nil {
			t.Fatal(err)
		}
		if m := f.mutating(); len(m) != 0 {
			t.Fatalf("plan made mutating calls %v", m)
		}
		var fields []string
		for _, c := range res.Changes {
			fields = append(fields, c.Field)
		}
		want := "scanOnPush mutability tag:owner tag:env tag:other repositoryPolicy lifecyclePolicy"
		if strings.Join(fields, " ") != want || res.Created || len(res.Drift) != 0 {
			t.Fatalf("plan changes %v, want %s; %+v", fields, want, res)
		}
		// The same against Ensure: exactly one call per change group.
		f2 := &fakeAPI{repo: f.repo, policy: f.policy, lifecycle: f.lifecycle, tags: f.tags}
		if _, err := mustNew(t, f2).Ensure(ctx, repoName, wantedSettings()); err != nil {
			t.Fatal(err)
		}
		got := strings.Join(f2.mutating(), " ")
		if got != "PutImageScanningConfiguration PutImageTagMutability TagResource UntagResource SetRepositoryPolicy PutLifecyclePolicy" {
			t.Fatalf("ensure calls: %s", got)
		}
	})
}

func TestEnsureNothingToDo(t *testing.T) {
	s := wantedSettings()
	repo := existingRepo("alias/ecr")
	repo.ImageTagMutability = types.ImageTagMutabilityImmutable
	repo.ImageScanningConfiguration.ScanOnPush = true
	// The same policies in another layout: no change.
	f := &fakeAPI{repo: repo, policy: "{\n " + s.RepositoryPolicy[1:], lifecycle: " " + s.LifecyclePolicy,
		tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}, {Key: aws.String("owner"), Value: aws.String("core-banking")}}}
	res, err := mustNew(t, f).Ensure(context.Background(), repoName, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 0 || len(f.mutating()) != 0 {
		t.Fatalf("changes %v, calls %v", res.Changes, f.mutating())
	}
}

func TestEnsureLeavesOthersTagsWithoutPrune(t *testing.T) {
	s := wantedSettings()
	s.PruneTags = false
	f := &fakeAPI{repo: existingRepo("alias/ecr"), tags: []types.Tag{{Key: aws.String("other"), Value: aws.String("x")}}}
	if _, err := mustNew(t, f).Ensure(context.Background(), repoName, s); err != nil {
		t.Fatal(err)
	}
	for _, c := range f.mutating() {
		if c == "UntagResource" {
			t.Fatal("removed a tag without PruneTags")
		}
	}
}

func TestEncryptionDrift(t *testing.T) {
	keyARN := "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	for _, tc := range []struct {
		name, want, have string
		resolver         KeyResolver
		drift            string // field, "" for none
		unverified       bool
	}{
		{"AES256 both", "", "", nil, "", false},
		{"want KMS have AES256", "alias/ecr", "", nil, "encryptionType", false},
		{"want AES256 have KMS", "", keyARN, nil, "encryptionType", false},
		{"same alias", "alias/ecr", "alias/ecr", nil, "", false},
		{"alias and alias ARN", "alias/ecr", "arn:aws:kms:us-east-1:123456789012:alias/ecr", nil, "", false},
		{"key id and key ARN", "1234abcd-12ab-34cd-56ef-1234567890ab", keyARN, nil, "", false},
		{"other key id", "ffffffff-12ab-34cd-56ef-1234567890ab", keyARN, nil, "kmsKey", false},
		{"other alias", "alias/ecr", "alias/other", nil, "kmsKey", false},
		{"alias against key ARN, no resolver", "alias/ecr", keyARN, nil, "", true},
		{"alias resolved to the key", "alias/ecr", keyARN, func(context.Context, string) (string, error) { return keyARN, nil }, "", false},
		{"alias resolved to another key", "alias/ecr", keyARN, func(context.Context, string) (string, error) { return keyARN + "0", nil }, "kmsKey", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAPI{repo: existingRepo(tc.have)}
			s := wantedSettings()
			s.KMSKey = tc.want
			var opts []Option
			if tc.resolver != nil {
				opts = append(opts, WithKeyResolver(tc.resolver))
			}
			res, err := mustNew(t, f, opts...).Ensure(context.Background(), repoName, s)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			if len(res.Drift) > 0 {
				got = res.Drift[0].Field
			}
			if got != tc.drift || (len(res.Unverified) > 0) != tc.unverified {
				t.Fatalf("drift %+v, unverified %v; want drift %q, unverified %v", res.Drift, res.Unverified, tc.drift, tc.unverified)
			}
			for _, c := range f.Calls() {
				if c == "CreateRepository" {
					t.Fatal("recreated a repository")
				}
			}
		})
	}
}

func accessDenied(op string) error {
	return &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "User is not authorized to perform: ecr:" + op}
}

func TestErrorsKeepTheAWSError(t *testing.T) {
	ctx := context.Background()
	for _, op := range []string{"DescribeRepositories", "CreateRepository", "SetRepositoryPolicy", "PutLifecyclePolicy"} {
		t.Run(op, func(t *testing.T) {
			f := &fakeAPI{errs: map[string]error{op: accessDenied(op)}}
			_, err := mustNew(t, f).Ensure(ctx, repoName, wantedSettings())
			var e *Error
			var api smithy.APIError
			if !errors.As(err, &e) || e.Op != op || e.Repository != repoName || !errors.As(err, &api) || api.ErrorCode() != "AccessDeniedException" {
				t.Fatalf("got %v", err)
			}
			if want := "ecr " + op + " " + repoName + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("message %q, want prefix %q", err, want)
			}
		})
	}
	for _, op := range []string{"ListTagsForResource", "GetRepositoryPolicy", "GetLifecyclePolicy", "TagResource", "UntagResource", "PutImageScanningConfiguration", "PutImageTagMutability"} {
		t.Run(op, func(t *testing.T) {
			f := &fakeAPI{repo: existingRepo("alias/ecr"), tags: []types.Tag{{Key: aws.String("x"), Value: aws.String("y")}}, errs: map[string]error{op: accessDenied(op)}}
			_, err := mustNew(t, f).Ensure(ctx, repoName, wantedSettings())
			var e *Error
			if !errors.As(err, &e) || e.Op != op {
				t.Fatalf("got %v", err)
			}
		})
	}
	t.Run("BatchGetImage", func(t *testing.T) {
		f := &fakeAPI{errs: map[string]error{"BatchGetImage": accessDenied("BatchGetImage")}}
		_, err := mustNew(t, f).Existing(ctx, repoName, []string{"1.0"})
		var api smithy.APIError
		if !errors.As(err, &api) || !strings.HasPrefix(err.Error(), "ecr BatchGetImage "+repoName) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("GetAuthorizationToken", func(t *testing.T) {
		f := &fakeAPI{errs: map[string]error{"GetAuthorizationToken": accessDenied("GetAuthorizationToken")}}
		_, err := mustNew(t, f).Credentials(ctx)
		var api smithy.APIError
		if !errors.As(err, &api) || !strings.HasPrefix(err.Error(), "ecr GetAuthorizationToken: ") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("invalid settings make no call", func(t *testing.T) {
		f := &fakeAPI{}
		_, err := mustNew(t, f).Ensure(ctx, repoName, Settings{Mutability: "SOMETIMES"})
		if !errors.Is(err, ErrInvalidSettings) || len(f.Calls()) != 0 {
			t.Fatalf("got %v, calls %v", err, f.Calls())
		}
		_, err = mustNew(t, f).Ensure(ctx, "Bad/Name", Settings{})
		if !errors.Is(err, ErrInvalidName) || len(f.Calls()) != 0 {
			t.Fatalf("got %v, calls %v", err, f.Calls())
		}
	})
}

// A repository created by another worker between our look and our create is reconciled,
// not reported as a failure.
func TestEnsureCreateRace(t *testing.T) {
	f := &fakeAPI{errs: map[string]error{"CreateRepository": &types.RepositoryAlreadyExistsException{Message: aws.String("exists")}}}
	var once sync.Once
	api := &raceAPI{fakeAPI: f, after: func() { once.Do(func() { f.repo = existingRepo("alias/ecr") }) }}
	res, err := mustNew(t, api).Ensure(context.Background(), repoName, wantedSettings())
	if err != nil {
		t.Fatal(err)
	}
	if res.Created || res.URI == "" {
		t.Fatalf("%+v", res)
	}
}

type raceAPI struct {
	*fakeAPI
	after func()
}

func (r *raceAPI) CreateRepository(ctx context.Context, in *ecr.CreateRepositoryInput, o ...func(*ecr.Options)) (*ecr.CreateRepositoryOutput, error) {
	defer r.after()
	return r.fakeAPI.CreateRepository(ctx, in, o...)
}

func TestThrottleSpacesMutatingCalls(t *testing.T) {
	const d = 30 * time.Millisecond
	f := &timingAPI{fakeAPI: &fakeAPI{}}
	p := mustNew(t, f, WithThrottle(d))
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Ensure(context.Background(), fmt.Sprintf("%s-%d", repoName, i), wantedSettings()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(f.at) != 12 {
		t.Fatalf("%d mutating calls, want 12", len(f.at))
	}
	for i := 1; i < len(f.at); i++ {
		if gap := f.at[i].Sub(f.at[i-1]); gap < d {
			t.Fatalf("mutating calls %d and %d %s apart, want >= %s", i-1, i, gap, d)
		}
	}
}

// timingAPI records when each mutating call starts.
type timingAPI struct {
	*fakeAPI
	mu sync.Mutex
	at []time.Time
}

func (a *timingAPI) mark() {
	a.mu.Lock()
	a.at = append(a.at, time.Now())
	a.mu.Unlock()
}

func (a *timingAPI) CreateRepository(ctx context.Context, in *ecr.CreateRepositoryInput, o ...func(*ecr.Options)) (*ecr.CreateRepositoryOutput, error) {
	a.mark()
	return a.fakeAPI.CreateRepository(ctx, in, o...)
}

func (a *timingAPI) SetRepositoryPolicy(ctx context.Context, in *ecr.SetRepositoryPolicyInput, o ...func(*ecr.Options)) (*ecr.SetRepositoryPolicyOutput, error) {
	a.mark()
	return a.fakeAPI.SetRepositoryPolicy(ctx, in, o...)
}

func (a *timingAPI) PutLifecyclePolicy(ctx context.Context, in *ecr.PutLifecyclePolicyInput, o ...func(*ecr.Options)) (*ecr.PutLifecyclePolicyOutput, error) {
	a.mark()
	return a.fakeAPI.PutLifecyclePolicy(ctx, in, o...)
}

func TestExistingBatchesOf100(t *testing.T) {
	var sizes []int
	f := &fakeAPI{batch: func(in *ecr.BatchGetImageInput) (*ecr.BatchGetImageOutput, error) {
		sizes = append(sizes, len(in.ImageIds))
		out := &ecr.BatchGetImageOutput{}
		for _, id := range in.ImageIds {
			tag := aws.ToString(id.ImageTag)
			if strings.HasSuffix(tag, "0") {
				out.Failures = append(out.Failures, types.ImageFailure{ImageId: &id, FailureCode: types.ImageFailureCodeImageNotFound})
				continue
			}
			out.Images = append(out.Images, types.Image{ImageId: &types.ImageIdentifier{ImageTag: id.ImageTag,
				ImageDigest: aws.String(digest.FromString(tag).String())}})
		}
		return out, nil
	}}
	var tags []string
	for i := range 250 {
		tags = append(tags, fmt.Sprintf("t%d", i))
	}
	tags = append(tags, "t1", "t2") // repeated: asked once
	got, err := mustNew(t, f).Existing(context.Background(), repoName, tags)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sizes, []int{100, 100, 50}) {
		t.Fatalf("batch sizes %v", sizes)
	}
	if len(got) != 225 || got["t1"] != digest.FromString("t1") {
		t.Fatalf("%d found", len(got))
	}
	f.batch = func(in *ecr.BatchGetImageInput) (*ecr.BatchGetImageOutput, error) {
		return &ecr.BatchGetImageOutput{Failures: []types.ImageFailure{{ImageId: &in.ImageIds[0], FailureCode: types.ImageFailureCodeKmsError, FailureReason: aws.String("key disabled")}}}, nil
	}
	if _, err := mustNew(t, f).Existing(context.Background(), repoName, []string{"x"}); err == nil || !strings.Contains(err.Error(), "key disabled") {
		t.Fatalf("a failure other than not found: %v", err)
	}
	if got, err := mustNew(t, &fakeAPI{}).Existing(context.Background(), repoName, nil); err != nil || len(got) != 0 {
		t.Fatalf("no tags: %v %v", got, err)
	}
}

func token(user, pass string, expires time.Time) func() (*ecr.GetAuthorizationTokenOutput, error) {
	return func() (*ecr.GetAuthorizationTokenOutput, error) {
		return &ecr.GetAuthorizationTokenOutput{AuthorizationData: []types.AuthorizationData{{
			AuthorizationToken: aws.String(base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))),
			ProxyEndpoint:      aws.String("https://111111111111.dkr.ecr.eu-central-1.amazonaws.com"),
			ExpiresAt:          aws.Time(expires),
		}}}, nil
	}
}

func TestCredentialsConcurrentAndBad(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := &fakeAPI{token: token("AWS", "pw", now.Add(12*time.Hour))}
	p := mustNew(t, f, WithClock(func() time.Time { return now }))
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := p.Credentials(context.Background())
			if err != nil || c.Registry != "111111111111.dkr.ecr.eu-central-1.amazonaws.com" || c.Password != "pw" {
				t.Errorf("%v %v", c, err)
			}
		}()
	}
	wg.Wait()
	if n := len(f.Calls()); n != 1 {
		t.Fatalf("%d GetAuthorizationToken calls for 20 concurrent callers, want 1", n)
	}
	for _, bad := range []func() (*ecr.GetAuthorizationTokenOutput, error){
		func() (*ecr.GetAuthorizationTokenOutput, error) { return &ecr.GetAuthorizationTokenOutput{}, nil },
		token("AWS", "", now.Add(time.Hour)),
		func() (*ecr.GetAuthorizationTokenOutput, error) {
			return &ecr.GetAuthorizationTokenOutput{AuthorizationData: []types.AuthorizationData{{AuthorizationToken: aws.String("%%%")}}}, nil
		},
	} {
		_, err := mustNew(t, &fakeAPI{token: bad}).Credentials(context.Background())
		if !errors.Is(err, ErrNoAuthorizationData) {
			t.Errorf("bad token: %v", err)
		}
	}
}

func TestCredentialsRedacted(t *testing.T) {
	c := Credentials{Username: "AWS", Password: "s3cret-token", Registry: "r", ExpiresAt: time.Now()}
	var logged strings.Builder
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v %#v %s %v", c, c, c, &c)} {
		logged.WriteString(s)
	}
	b, _ := c.MarshalJSON()
	logged.Write(b)
	logged.WriteString(c.LogValue().String())
	if strings.Contains(logged.String(), "s3cret") {
		t.Fatalf("password leaked: %s", logged.String())
	}
}

func TestScanFindingsPolls(t *testing.T) {
	d := digest.FromString("image")
	f := &fakeAPI{scan: func(n int) (*ecr.DescribeImageScanFindingsOutput, error) {
		switch {
		case n == 1:
			return nil, &types.ScanNotFoundException{Message: aws.String("not yet")}
		case n < 4:
			return &ecr.DescribeImageScanFindingsOutput{ImageScanStatus: &types.ImageScanStatus{Status: types.ScanStatusInProgress}}, nil
		}
		return &ecr.DescribeImageScanFindingsOutput{ImageScanStatus: &types.ImageScanStatus{Status: types.ScanStatusComplete},
			ImageScanFindings: &types.ImageScanFindings{FindingSeverityCounts: map[string]int32{"CRITICAL": 2, "LOW": 5}}}, nil
	}}
	p := mustNew(t, f, WithScanPollInterval(5*time.Millisecond))
	got, err := p.ScanFindings(context.Background(), repoName, d, time.Second)
	if err != nil || got.Status != "COMPLETE" || got.Counts["CRITICAL"] != 2 || got.Counts["LOW"] != 5 {
		t.Fatalf("%+v %v", got, err)
	}
	f = &fakeAPI{scan: func(int) (*ecr.DescribeImageScanFindingsOutput, error) {
		return &ecr.DescribeImageScanFindingsOutput{ImageScanStatus: &types.ImageScanStatus{Status: types.ScanStatusInProgress}}, nil
	}}
	got, err = mustNew(t, f, WithScanPollInterval(5*time.Millisecond)).ScanFindings(context.Background(), repoName, d, 30*time.Millisecond)
	if !errors.Is(err, ErrScanNotComplete) || got == nil || got.Status != "IN_PROGRESS" {
		t.Fatalf("timeout: %+v %v", got, err)
	}
	f = &fakeAPI{scan: func(int) (*ecr.DescribeImageScanFindingsOutput, error) {
		return &ecr.DescribeImageScanFindingsOutput{ImageScanStatus: &types.ImageScanStatus{Status: types.ScanStatusUnsupportedImage}}, nil
	}}
	got, err = mustNew(t, f).ScanFindings(context.Background(), repoName, d, time.Minute)
	if err != nil || got.Status != "UNSUPPORTED_IMAGE" {
		t.Fatalf("unsupported: %+v %v", got, err)
	}
}

// IAMActions must list exactly the calls of API: the role gets this list and nothing more.
func TestIAMActionsMatchAPI(t *testing.T) {
	typ := reflect.TypeFor[API]()
	var fromAPI []string
	for i := range typ.NumMethod() {
		fromAPI = append(fromAPI, "ecr:"+typ.Method(i).Name)
	}
	if got := IAMActions(); !reflect.DeepEqual(got, fromAPI) {
		t.Fatalf("IAMActions() = %v\nAPI methods  = %v", got, fromAPI)
	}
}

// mustNew is New for a test that gives valid options.
func mustNew(t testing.TB, api API, opts ...Option) *Provisioner {
	t.Helper()
	p, err := New(api, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestNewReportsEveryBadOption: New checks its options and says what is wrong with each.
func TestNewReportsEveryBadOption(t *testing.T) {
	_, err := New(nil, WithThrottle(-time.Second), WithScanPollInterval(0), WithClock(nil))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"no ECR API client", "throttle -1s", "scan poll interval 0s", "nil clock"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := New(&fakeAPI{}, WithThrottle(0), WithLogger(nil)); err != nil {
		t.Errorf("valid options: %v", err)
	}
}

// TestKeyResolvedOncePerProvisioner: the repositories of a release share one KMS key;
// its ARN is resolved once for all of them, and a failed resolution is asked again.
func TestKeyResolvedOncePerProvisioner(t *testing.T) {
	keyARN := "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	calls := 0
	fail := true
	p := mustNew(t, &fakeAPI{repo: existingRepo(keyARN)}, WithKeyResolver(func(context.Context, string) (string, error) {
		calls++
		if fail {
			fail = false
			return "", errors.New("throttled")
		}
		return keyARN, nil
	}))
	s := wantedSettings()
	s.KMSKey = "alias/ecr"
	for i := range 4 {
		res, err := p.Ensure(context.Background(), repoName, s)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && (len(res.Drift) > 0 || len(res.Unverified) > 0) {
			t.Fatalf("run %d: drift %+v, unverified %v", i, res.Drift, res.Unverified)
		}
	}
	if calls != 2 {
		t.Fatalf("the resolver was called %d times for 4 repositories, want 2 (a failure, then once)", calls)
	}
}
