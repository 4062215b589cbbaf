package ecrtarget_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/ecrtarget"
	"github.com/tmsync/tmsync/internal/testbed"
)

// motoCall is one request that reached moto.
type motoCall struct {
	op string
	at time.Time
}

// transport sits in front of moto: it records the calls that reach it and, when
// throttle > 0, answers that share of the mutating calls itself with a throttling error
// (half ThrottlingException with HTTP 400, half a bare HTTP 429), seeded.
type transport struct {
	throttle float64

	mu        sync.Mutex
	rng       *rand.Rand
	calls     []motoCall
	throttled map[int]int // status -> count
}

func newTransport(throttle float64, seed uint64) *transport {
	return &transport{throttle: throttle, rng: rand.New(rand.NewPCG(seed, seed)), throttled: map[int]int{}}
}

var mutating = map[string]bool{
	"CreateRepository": true, "TagResource": true, "UntagResource": true, "SetRepositoryPolicy": true,
	"PutLifecyclePolicy": true, "PutImageScanningConfiguration": true, "PutImageTagMutability": true,
	"DeleteRepository": true, "DeleteRepositoryPolicy": true, "DeleteLifecyclePolicy": true,
}

func (tr *transport) Do(req *http.Request) (*http.Response, error) {
	target := req.Header.Get("X-Amz-Target")
	op := target[strings.LastIndex(target, ".")+1:]
	tr.mu.Lock()
	if mutating[op] && tr.throttle > 0 && tr.rng.Float64() < tr.throttle {
		status, body := http.StatusBadRequest, `{"__type":"ThrottlingException","message":"Rate exceeded"}`
		if tr.rng.IntN(2) == 0 {
			status, body = http.StatusTooManyRequests, `{"message":"Too Many Requests"}`
		}
		tr.throttled[status]++
		tr.mu.Unlock()
		if req.Body != nil {
			_, _ = io.Copy(io.Discard, req.Body)
			req.Body.Close()
		}
		return &http.Response{StatusCode: status, Status: http.StatusText(status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:  http.Header{"Content-Type": {"application/x-amz-json-1.1"}},
			Body:    io.NopCloser(strings.NewReader(body)),
			Request: req, ContentLength: int64(len(body))}, nil
	}
	tr.calls = append(tr.calls, motoCall{op: op, at: time.Now()})
	tr.mu.Unlock()
	return http.DefaultClient.Do(req)
}

func (tr *transport) Calls() []motoCall {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]motoCall(nil), tr.calls...)
}

func (tr *transport) mutatingCalls() []motoCall {
	var m []motoCall
	for _, c := range tr.Calls() {
		if mutating[c.op] {
			m = append(m, c)
		}
	}
	return m
}

// client returns an ECR client for moto built the way the engine builds one, with short
// backoffs so that the test stays fast, and tr in front.
func client(m *testbed.Moto, tr *transport) *ecr.Client {
	return ecrtarget.NewClient(m.Config(), ecrtarget.RetryOptions(10, 2*time.Millisecond, 40*time.Millisecond),
		func(o *ecr.Options) {
			if tr != nil {
				o.HTTPClient = tr
			}
		})
}

func settings() ecrtarget.Settings {
	return ecrtarget.Settings{
		KMSKey:           "alias/tm-ecr",
		ScanOnPush:       true,
		Tags:             []ecrtarget.Tag{{Key: "owner", Value: "core-banking"}, {Key: "env", Value: "prod"}},
		PruneTags:        true,
		RepositoryPolicy: ecrtarget.CrossAccountPullPolicy([]string{"111111111111", "222222222222"}),
		LifecyclePolicy:  ecrtarget.DefaultLifecyclePolicy(2),
	}
}

func jsonEqual(t *testing.T, what, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("%s: %v: %q", what, err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got %s\nwant %s", what, got, want)
	}
}

// readBack checks that moto holds repo with every setting of s.
func readBack(t *testing.T, c *ecr.Client, repo string, s ecrtarget.Settings) types.Repository {
	t.Helper()
	ctx := context.Background()
	d, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{repo}})
	if err != nil {
		t.Fatalf("describing %s: %v", repo, err)
	}
	r := d.Repositories[0]
	if r.EncryptionConfiguration.EncryptionType != types.EncryptionTypeKms || aws.ToString(r.EncryptionConfiguration.KmsKey) != s.KMSKey {
		t.Errorf("%s encryption %+v, want KMS %s", repo, *r.EncryptionConfiguration, s.KMSKey)
	}
	if r.ImageScanningConfiguration.ScanOnPush != s.ScanOnPush {
		t.Errorf("%s scanOnPush %v", repo, r.ImageScanningConfiguration.ScanOnPush)
	}
	want := s.Mutability
	if want == "" {
		want = ecrtarget.Immutable
	}
	if string(r.ImageTagMutability) != want {
		t.Errorf("%s mutability %s, want %s", repo, r.ImageTagMutability, want)
	}
	tags, err := c.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: r.RepositoryArn})
	if err != nil {
		t.Fatal(err)
	}
	var got, wantTags []string
	for _, tg := range tags.Tags {
		got = append(got, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
	}
	for _, tg := range s.Tags {
		wantTags = append(wantTags, tg.Key+"="+tg.Value)
	}
	sort.Strings(got)
	sort.Strings(wantTags)
	if s.PruneTags && !slices.Equal(got, wantTags) {
		t.Errorf("%s tags %v, want %v", repo, got, wantTags)
	}
	pol, err := c.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(repo)})
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, repo+" repository policy", aws.ToString(pol.PolicyText), s.RepositoryPolicy)
	lc, err := c.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String(repo)})
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, repo+" lifecycle policy", aws.ToString(lc.LifecyclePolicyText), s.LifecyclePolicy)
	return r
}

func TestMotoCreateWithAllSettings(t *testing.T) {
	m := testbed.SharedMoto(t)
	ctx := context.Background()
	c := client(m, nil)
	p := mustNew(t, c)
	name, err := ecrtarget.RepositoryName("/3rdparty/tm/", "vault/xpl/xpl_payees")
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Ensure(ctx, name, settings())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || res.URI != testbed.MotoAccount+".dkr.ecr.us-east-1.amazonaws.com/"+name || len(res.Changes) != 3 {
		t.Fatalf("%+v", res)
	}
	readBack(t, c, name, settings())

	// Once there, nothing more to do, by Plan or by Ensure.
	for _, f := range []func(context.Context, string, ecrtarget.Settings) (*ecrtarget.Result, error){p.Plan, p.Ensure} {
		res, err := f(ctx, name, settings())
		if err != nil {
			t.Fatal(err)
		}
		if res.Created || len(res.Changes) != 0 || len(res.Drift) != 0 || res.Found.EncryptionType != "KMS" || !res.Found.ScanOnPush {
			t.Fatalf("second pass: %+v", res)
		}
	}

	// AES256 and MUTABLE when asked.
	s := ecrtarget.Settings{Mutability: ecrtarget.Mutable}
	if _, err := p.Ensure(ctx, "3rdparty/tm/plain", s); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"3rdparty/tm/plain"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := d.Repositories[0]; r.EncryptionConfiguration.EncryptionType != types.EncryptionTypeAes256 || r.ImageTagMutability != types.ImageTagMutabilityMutable {
		t.Fatalf("%+v", r)
	}
}

// createOther makes a repository the way someone else did: other tags, policy,
// lifecycle, MUTABLE, no scanning.
func createOther(t *testing.T, c *ecr.Client, repo string, enc *types.EncryptionConfiguration) {
	t.Helper()
	ctx := context.Background()
	_, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{
		RepositoryName:          aws.String(repo),
		EncryptionConfiguration: enc,
		ImageTagMutability:      types.ImageTagMutabilityMutable,
		Tags: []types.Tag{{Key: aws.String("owner"), Value: aws.String("someone-else")},
			{Key: aws.String("team"), Value: aws.String("platform")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(repo),
		PolicyText: aws.String(ecrtarget.CrossAccountPullPolicy([]string{"999999999999"}))}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String(repo),
		LifecyclePolicyText: aws.String(ecrtarget.DefaultLifecyclePolicy(30))}); err != nil {
		t.Fatal(err)
	}
}

func TestMotoReconcile(t *testing.T) {
	m := testbed.SharedMoto(t)
	ctx := context.Background()
	c := client(m, nil)
	kms := &types.EncryptionConfiguration{EncryptionType: types.EncryptionTypeKms, KmsKey: aws.String("alias/tm-ecr")}
	createOther(t, c, "3rdparty/tm/a", kms)
	createOther(t, c, "3rdparty/tm/b", kms)
	p := mustNew(t, c)

	res, err := p.Ensure(ctx, "3rdparty/tm/a", settings())
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, ch := range res.Changes {
		fields = append(fields, ch.Field)
	}
	if want := "scanOnPush mutability tag:owner tag:env tag:team repositoryPolicy lifecyclePolicy"; strings.Join(fields, " ") != want || res.Created || len(res.Drift) != 0 {
		t.Fatalf("changes %v, want %s (%+v)", fields, want, res)
	}
	if res.Found.Mutability != "MUTABLE" || res.Found.ScanOnPush || len(res.Found.Tags) != 2 || res.Found.RepositoryPolicySHA256 == "" {
		t.Fatalf("found %+v", res.Found)
	}
	readBack(t, c, "3rdparty/tm/a", settings())

	// Without PruneTags the other team's tag stays, ours are set.
	s := settings()
	s.PruneTags = false
	if _, err := p.Ensure(ctx, "3rdparty/tm/b", s); err != nil {
		t.Fatal(err)
	}
	readBack(t, c, "3rdparty/tm/b", s)
	r, _ := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"3rdparty/tm/b"}})
	tags, _ := c.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: r.Repositories[0].RepositoryArn})
	got := map[string]string{}
	for _, tg := range tags.Tags {
		got[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if !reflect.DeepEqual(got, map[string]string{"owner": "core-banking", "env": "prod", "team": "platform"}) {
		t.Fatalf("tags %v", got)
	}
}

func TestMotoEncryptionDrift(t *testing.T) {
	m := testbed.SharedMoto(t)
	ctx := context.Background()
	c := client(m, nil)
	createOther(t, c, "3rdparty/tm/aes", nil)
	createOther(t, c, "3rdparty/tm/otherkey", &types.EncryptionConfiguration{EncryptionType: types.EncryptionTypeKms, KmsKey: aws.String("alias/other")})
	before, _ := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{})
	p := mustNew(t, c)
	for repo, field := range map[string]string{"3rdparty/tm/aes": "encryptionType", "3rdparty/tm/otherkey": "kmsKey"} {
		res, err := p.Ensure(ctx, repo, settings())
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Drift) != 1 || res.Drift[0].Field != field {
			t.Fatalf("%s: drift %+v, want %s", repo, res.Drift, field)
		}
	}
	// Reported, never recreated: the same repositories, created at the same time,
	// with their encryption as it was (the other settings reconciled).
	after, _ := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{})
	if len(after.Repositories) != len(before.Repositories) {
		t.Fatal("repositories appeared or vanished")
	}
	for i, r := range after.Repositories {
		b := before.Repositories[i]
		if !aws.ToTime(r.CreatedAt).Equal(aws.ToTime(b.CreatedAt)) || !reflect.DeepEqual(r.EncryptionConfiguration, b.EncryptionConfiguration) {
			t.Fatalf("%s changed: %+v -> %+v", aws.ToString(r.RepositoryName), b, r)
		}
		if !r.ImageScanningConfiguration.ScanOnPush {
			t.Fatalf("%s: other settings not reconciled", aws.ToString(r.RepositoryName))
		}
	}
}

func TestMotoPlanChangesNothing(t *testing.T) {
	m := testbed.SharedMoto(t)
	ctx := context.Background()
	raw := client(m, nil)
	createOther(t, raw, "3rdparty/tm/exists", &types.EncryptionConfiguration{EncryptionType: types.EncryptionTypeKms, KmsKey: aws.String("alias/tm-ecr")})
	tr := newTransport(0, 1)
	p := mustNew(t, client(m, tr))
	res, err := p.Plan(ctx, "3rdparty/tm/exists", settings())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 7 {
		t.Fatalf("plan: %+v", res.Changes)
	}
	res, err = p.Plan(ctx, "3rdparty/tm/new", settings())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || len(res.Changes) != 3 {
		t.Fatalf("plan: %+v", res)
	}
	if mc := tr.mutatingCalls(); len(mc) != 0 {
		t.Fatalf("plan made mutating calls: %v", mc)
	}
	if _, err := raw.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"3rdparty/tm/new"}}); err == nil {
		t.Fatal("plan created a repository")
	}
	// And moto's state agrees: the existing repository is as it was.
	r, _ := raw.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"3rdparty/tm/exists"}})
	if r.Repositories[0].ImageTagMutability != types.ImageTagMutabilityMutable || r.Repositories[0].ImageScanningConfiguration.ScanOnPush {
		t.Fatal("plan changed the repository")
	}
}

func TestMotoCredentials(t *testing.T) {
	m := testbed.SharedMoto(t)
	ctx := context.Background()
	raw, err := client(m, nil).GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	expires := aws.ToTime(raw.AuthorizationData[0].ExpiresAt)
	now := expires.Add(-12 * time.Hour)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	tr := newTransport(0, 1)
	p := mustNew(t, client(m, tr), ecrtarget.WithClock(clock))
	calls := func() int { return len(tr.Calls()) }

	c, err := p.Credentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Username != "AWS" || c.Password != testbed.MotoAccount+"-auth-token" ||
		c.Registry != testbed.MotoAccount+".dkr.ecr.us-east-1.amazonaws.com" || !c.ExpiresAt.Equal(expires) {
		t.Fatalf("credentials %#v (password %q)", c, c.Password)
	}
	set(expires.Add(-31 * time.Minute))
	if _, err := p.Credentials(ctx); err != nil || calls() != 1 {
		t.Fatalf("31 minutes before expiry: %d calls, %v; want the cached token", calls(), err)
	}
	set(expires.Add(-29 * time.Minute))
	if _, err := p.Credentials(ctx); err != nil || calls() != 2 {
		t.Fatalf("29 minutes before expiry: %d calls, %v; want a renewal", calls(), err)
	}
	p.Invalidate()
	if _, err := p.Credentials(ctx); err != nil || calls() != 3 {
		t.Fatalf("after Invalidate: %d calls, %v", calls(), err)
	}

	// By the real clock moto's token expired in 2015: handed out, never cached.
	tr2 := newTransport(0, 1)
	p2 := mustNew(t, client(m, tr2))
	for range 2 {
		if _, err := p2.Credentials(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(tr2.Calls()); n != 2 {
		t.Fatalf("expired token cached: %d calls", n)
	}
}

// TestMotoPushScanAndExisting pushes a real image into the test bed's ECR with the
// credentials, then reads what is there and its scan findings.
func TestMotoPushScanAndExisting(t *testing.T) {
	m := testbed.SharedMoto(t)
	ctx := context.Background()
	e := testbed.StartECR(t, m)
	c := client(m, nil)
	p := mustNew(t, c, ecrtarget.WithScanPollInterval(20*time.Millisecond))
	repo := "3rdparty/tm/vault/core"
	if _, err := p.Ensure(ctx, repo, settings()); err != nil {
		t.Fatal(err)
	}
	// The tags present in a repository that does not exist: none, and no error.
	if got, err := p.Existing(ctx, "3rdparty/tm/none", []string{"1.0"}); err != nil || len(got) != 0 {
		t.Fatalf("missing repository: %v, %v", got, err)
	}

	cred, err := p.Credentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(e.Host+"/"+repo+":5.0.3", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: cred.Username, Password: cred.Password})); err != nil {
		t.Fatalf("pushing with the credentials: %v", err)
	}
	want, _ := img.Digest()

	got, err := p.Existing(ctx, repo, []string{"5.0.3", "5.0.4", "5.0.3"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, map[string]digest.Digest{"5.0.3": digest.Digest(want.String())}) {
		t.Fatalf("existing %v, want 5.0.3 -> %s", got, want)
	}

	d := digest.Digest(want.String())
	// moto does not scan on push: until a scan starts the wait runs out.
	f, err := p.ScanFindings(ctx, repo, d, 50*time.Millisecond)
	if !errors.Is(err, ecrtarget.ErrScanNotComplete) || f.Status != "NOT_STARTED" {
		t.Fatalf("before a scan: %+v, %v", f, err)
	}
	// A scan started while we wait is picked up.
	go func() {
		time.Sleep(60 * time.Millisecond)
		_, _ = c.StartImageScan(context.Background(), &ecr.StartImageScanInput{RepositoryName: aws.String(repo),
			ImageId: &types.ImageIdentifier{ImageDigest: aws.String(d.String())}})
	}()
	f, err = p.ScanFindings(ctx, repo, d, 5*time.Second)
	if err != nil || f.Status != "COMPLETE" || !reflect.DeepEqual(f.Counts, map[string]int{"HIGH": 1}) {
		t.Fatalf("findings %+v, %v", f, err)
	}
}

// TestMotoThrottled provisions repositories from several workers while 30% of the
// mutating calls are throttled, and checks that all of them carry every setting and that
// the calls that reached moto were spaced.
func TestMotoThrottled(t *testing.T) {
	m := testbed.SharedMoto(t)
	ctx := context.Background()
	const spacing = 15 * time.Millisecond
	tr := newTransport(0.3, 20261128)
	p := mustNew(t, client(m, tr), ecrtarget.WithThrottle(spacing))
	var repos []string
	for i := range 12 {
		repos = append(repos, fmt.Sprintf("3rdparty/tm/vault/svc-%02d", i))
	}
	// Three of them exist with other settings, to be reconciled under throttling too.
	raw := client(m, nil)
	for _, r := range repos[:3] {
		createOther(t, raw, r, &types.EncryptionConfiguration{EncryptionType: types.EncryptionTypeKms, KmsKey: aws.String("alias/tm-ecr")})
	}
	work := make(chan string)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				if _, err := p.Ensure(ctx, r, settings()); err != nil {
					t.Errorf("%s: %v", r, err)
				}
			}
		}()
	}
	for _, r := range repos {
		work <- r
	}
	close(work)
	wg.Wait()
	for _, r := range repos {
		readBack(t, raw, r, settings())
	}
	tr.mu.Lock()
	throttled := tr.throttled[400] + tr.throttled[429]
	t.Logf("throttled: %d with ThrottlingException, %d with 429", tr.throttled[400], tr.throttled[429])
	if tr.throttled[400] == 0 || tr.throttled[429] == 0 {
		t.Errorf("the seed throttled too little to test both kinds: %v", tr.throttled)
	}
	tr.mu.Unlock()
	mc := tr.mutatingCalls()
	if want := 9*3 + 3*6; len(mc) != want {
		t.Errorf("%d mutating calls reached moto, want %d (throttled %d)", len(mc), want, throttled)
	}
	for i := 1; i < len(mc); i++ {
		if gap := mc[i].at.Sub(mc[i-1].at); gap < spacing {
			t.Errorf("%s and %s reached moto %s apart, want >= %s", mc[i-1].op, mc[i].op, gap, spacing)
		}
	}
}

// mustNew is ecrtarget.New for a test that gives valid options.
func mustNew(t testing.TB, api ecrtarget.API, opts ...ecrtarget.Option) *ecrtarget.Provisioner {
	t.Helper()
	p, err := ecrtarget.New(api, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMotoBlobMountingUnimplemented: moto does not implement GetAccountSetting, as an
// endpoint may not: reading the setting fails within a few seconds (two tries), not after
// the SDK's full backoff (the run waited 15 s for it, printing nothing).
func TestMotoBlobMountingUnimplemented(t *testing.T) {
	m := testbed.SharedMoto(t)
	tr := newTransport(0, 1)
	p := mustNew(t, client(m, tr))
	start := time.Now()
	_, err := p.BlobMounting(context.Background())
	took := time.Since(start)
	tr.mu.Lock()
	n := 0
	for _, c := range tr.calls {
		if c.op == "GetAccountSetting" {
			n++
		}
	}
	tr.mu.Unlock()
	t.Logf("GetAccountSetting against moto: %v after %s, %d calls", err, took.Round(time.Millisecond), n)
	if err == nil {
		t.Skip("this moto implements GetAccountSetting")
	}
	if n > 2 || took > 5*time.Second {
		t.Errorf("%d calls in %s: want at most 2 tries, in a few seconds", n, took)
	}
}
