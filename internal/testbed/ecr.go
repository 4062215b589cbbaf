package testbed

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// ECR is moto's ECR control plane paired with a distribution registry as its data plane,
// behind a proxy that makes the pair behave as one ECR:
//
//   - a request for a repository that was never created is refused with NAME_UNKNOWN;
//   - a tag pushed again on an IMMUTABLE repository is refused with TAG_INVALID, even with
//     the same digest, as real ECR does;
//   - every manifest pushed is recorded in moto with PutImage (repository, tag, manifest,
//     media type, digest), so BatchGetImage and DescribeImages see it;
//   - cross-repository blob mounts follow ECR's rules (see MountRules): with the
//     account setting BLOB_MOUNTING off, or from a repository where no committed
//     manifest references the blob, or across encryption settings, a mount request
//     starts an ordinary upload session (202) instead.
//
// The proxy counts what a sync costs the target: blob upload bytes by repository and
// mounts asked and done (Traffic).
//
// BLOB_MOUNTING: moto (5.2.1 on the machines this was written on) implements neither
// GetAccountSetting nor PutAccountSetting, so the test bed owns the setting. APIURL is
// moto's API behind a second proxy that answers those two calls for BLOB_MOUNTING and
// forwards everything else to moto; Config, Env and Client use it. Tests may also flip
// the setting with SetBlobMounting. It starts DISABLED, as in a new AWS account.
//
// Refusals are also recorded as violations; unless AllowViolations is called, a violation
// fails the test at its end, because a tool that pushes what ECR refuses is wrong.
type ECR struct {
	Moto *Moto
	// Host is "127.0.0.1:PORT" of the proxy: push images here, with Username and Password.
	Host string
	// Username and Password are the registry credentials that moto's
	// GetAuthorizationToken hands out ("AWS" and moto's fixed token).
	Username, Password string
	// APIURL is the ECR API endpoint, "http://127.0.0.1:PORT": moto, with the account
	// settings answered by the test bed.
	APIURL string

	client  *ecr.Client
	moto    *ecr.Client // straight to moto, for the proxy's own calls
	backend *Registry
	proxy   *httputil.ReverseProxy

	mu         sync.Mutex
	violations []string
	allow      bool
	pushes     int
	mounting   bool
	committed  map[string]map[string]bool // repository -> blobs its committed manifests reference
	described  map[string]described       // recent DescribeRepositories answers, for blob requests
	traffic    Traffic
}

// StartECR starts a registry paired with m (a fresh SharedMoto(t) when m is nil) and the
// proxy in front of it.
func StartECR(t TB, m *Moto) *ECR {
	t.Helper()
	if m == nil {
		m = SharedMoto(t)
	}
	client := ecr.NewFromConfig(m.Config())
	out, err := client.GetAuthorizationToken(context.Background(), &ecr.GetAuthorizationTokenInput{})
	if err != nil || len(out.AuthorizationData) == 0 {
		t.Fatalf("asking moto for an ECR token: %v", err)
	}
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(out.AuthorizationData[0].AuthorizationToken))
	if err != nil {
		t.Fatalf("decoding moto's ECR token: %v", err)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		t.Fatalf("moto's ECR token is not user:password")
	}
	e := &ECR{Moto: m, Username: user, Password: pass, committed: map[string]map[string]bool{}}
	e.traffic = newTraffic()
	e.APIURL = e.startAPI(t)
	e.client = ecr.NewFromConfig(e.Config())
	e.moto = client
	e.described = map[string]described{}
	e.backend = StartRegistry(t, RegistryOptions{Username: user, Password: pass})
	target := &url.URL{Scheme: "http", Host: e.backend.Host}
	e.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // the registry builds Location headers from Host
		},
		ModifyResponse: e.recordPush,
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.Host = l.Addr().String()
	srv := &http.Server{Handler: e}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Close()
		e.mu.Lock()
		defer e.mu.Unlock()
		if !e.allow && len(e.violations) > 0 {
			t.Errorf("pushes that real ECR would refuse:\n  %s", strings.Join(e.violations, "\n  "))
		}
	})
	return e
}

// AllowViolations stops refusals from failing the test: for tests that provoke them.
func (e *ECR) AllowViolations() {
	e.mu.Lock()
	e.allow = true
	e.mu.Unlock()
}

// Violations returns what was refused so far.
func (e *ECR) Violations() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.violations...)
}

// ManifestPushes counts the manifests pushed through the proxy so far.
func (e *ECR) ManifestPushes() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pushes
}

// Client returns an ECR API client for APIURL.
func (e *ECR) Client() *ecr.Client { return e.client }

// Config returns an AWS configuration for APIURL with test credentials.
func (e *ECR) Config() aws.Config {
	cfg := e.Moto.Config()
	cfg.BaseEndpoint = aws.String(e.APIURL)
	return cfg
}

// Env points the AWS SDK's default configuration chain at APIURL for the rest of the
// test, as Moto.Env does at moto.
func (e *ECR) Env(t TB) {
	e.Moto.Env(t)
	t.Setenv("AWS_ENDPOINT_URL", e.APIURL)
}

func (e *ECR) violate(format string, a ...any) {
	e.mu.Lock()
	e.violations = append(e.violations, fmt.Sprintf(format, a...))
	e.mu.Unlock()
}

type pushKey struct{}

type pushInfo struct {
	repo, ref, mediaType string
	body                 []byte
}

// ServeHTTP checks a request as ECR would, then forwards it to the registry.
func (e *ECR) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	repo, kind, ref := splitV2Path(r.URL.Path)
	if repo == "" {
		e.proxy.ServeHTTP(w, r)
		return
	}
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	// Blob requests, the bulk of a push, may use a description a moment old: they need
	// only existence and encryption, which ECR cannot change on a repository.
	desc, err := e.describe(r.Context(), repo, kind == "blobs")
	var nf *ecrtypes.RepositoryNotFoundException
	switch {
	case errors.As(err, &nf):
		if write {
			e.violate("%s %s: repository %q does not exist", r.Method, r.URL.Path, repo)
		}
		registryError(w, http.StatusNotFound, "NAME_UNKNOWN",
			fmt.Sprintf("The repository with name '%s' does not exist in the registry with id '%s'", repo, MotoAccount))
		return
	case err != nil:
		registryError(w, http.StatusInternalServerError, "UNKNOWN", "describing repository: "+err.Error())
		return
	}
	if kind == "blobs" && (ref == "uploads" || strings.HasPrefix(ref, "uploads/")) {
		e.serveUpload(w, r, repo, desc)
		return
	}
	if kind != "manifests" || r.Method != http.MethodPut {
		e.proxy.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20+1))
	if err != nil {
		registryError(w, http.StatusBadRequest, "MANIFEST_INVALID", err.Error())
		return
	}
	isTag := !strings.Contains(ref, ":")
	if isTag && desc.ImageTagMutability == ecrtypes.ImageTagMutabilityImmutable {
		got, err := e.moto.BatchGetImage(r.Context(), &ecr.BatchGetImageInput{
			RepositoryName: aws.String(repo), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String(ref)}},
		})
		if err == nil && len(got.Images) > 0 {
			e.violate("PUT %s:%s: tag already exists on an IMMUTABLE repository", repo, ref)
			registryError(w, http.StatusBadRequest, "TAG_INVALID",
				fmt.Sprintf("The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable.", ref, repo))
			return
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	info := &pushInfo{repo: repo, ref: ref, mediaType: r.Header.Get("Content-Type"), body: body}
	e.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), pushKey{}, info)))
}

type described struct {
	repo ecrtypes.Repository
	at   time.Time
}

// describeTTL is how long a repository's description serves blob requests.
const describeTTL = 2 * time.Second

// describe returns repo as DescribeRepositories does; with recent set, an answer up to
// describeTTL old will do. Only found repositories are remembered: a repository created
// right after a NAME_UNKNOWN is seen at once.
func (e *ECR) describe(ctx context.Context, repo string, recent bool) (ecrtypes.Repository, error) {
	if recent {
		e.mu.Lock()
		d, ok := e.described[repo]
		e.mu.Unlock()
		if ok && time.Since(d.at) < describeTTL {
			return d.repo, nil
		}
	}
	out, err := e.moto.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{repo}})
	if err != nil {
		return ecrtypes.Repository{}, err
	}
	if len(out.Repositories) == 0 {
		return ecrtypes.Repository{}, &ecrtypes.RepositoryNotFoundException{Message: aws.String(repo)}
	}
	e.mu.Lock()
	e.described[repo] = described{repo: out.Repositories[0], at: time.Now()}
	e.mu.Unlock()
	return out.Repositories[0], nil
}

// recordPush tells moto about a manifest the registry accepted.
func (e *ECR) recordPush(resp *http.Response) error {
	info, _ := resp.Request.Context().Value(pushKey{}).(*pushInfo)
	if info == nil || resp.StatusCode != http.StatusCreated {
		return nil
	}
	in := &ecr.PutImageInput{
		RepositoryName:         aws.String(info.repo),
		ImageManifest:          aws.String(string(info.body)),
		ImageManifestMediaType: aws.String(info.mediaType),
		ImageDigest:            aws.String(resp.Header.Get("Docker-Content-Digest")),
	}
	if !strings.Contains(info.ref, ":") {
		in.ImageTag = aws.String(info.ref)
	}
	blobs := referencedBlobs(info.body)
	e.mu.Lock()
	e.pushes++
	if e.committed[info.repo] == nil {
		e.committed[info.repo] = map[string]bool{}
	}
	for _, b := range blobs {
		e.committed[info.repo][b] = true
	}
	e.mu.Unlock()
	if _, err := e.moto.PutImage(resp.Request.Context(), in); err != nil {
		var exists *ecrtypes.ImageAlreadyExistsException
		if errors.As(err, &exists) {
			return nil // the same manifest pushed again by digest: ECR accepts it
		}
		e.violate("recording %s:%s in moto: %v", info.repo, info.ref, err)
	}
	return nil
}

// splitV2Path splits "/v2/<repo>/<kind>/<ref>" where kind is manifests, blobs or tags.
func splitV2Path(p string) (repo, kind, ref string) {
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return "", "", ""
	}
	for _, k := range []string{"/manifests/", "/blobs/", "/tags/"} {
		if i := strings.LastIndex(rest, k); i > 0 {
			return rest[:i], strings.Trim(k, "/"), rest[i+len(k):]
		}
	}
	return "", "", ""
}

func registryError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}
