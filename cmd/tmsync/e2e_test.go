package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	digest "github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/internal/testbed"
	"github.com/tmsync/tmsync/tmsync"
)

// bed is a whole world for an end-to-end run: the vendor's registry (user _tm and a
// token), an upstream registry for a BYO image, moto as ECR's control plane paired with
// a registry that takes moto's token, and an attestation server with real signatures.
type bed struct {
	t        *testing.T
	token    string
	vendor   *testbed.Registry
	upstream *testbed.Registry
	ecr      *testbed.ECR
	att      *attesttest.Server
	signer   *attesttest.Signer
	dir      string
	keyFile  string
}

const testToken = "tm-vendor-token-5f2a9c81d7e34b60"

func newBed(t *testing.T) *bed {
	t.Helper()
	return newBedToken(t, testToken)
}

// newBedToken is newBed with another vendor token.
func newBedToken(t *testing.T, token string) *bed {
	t.Helper()
	b := &bed{t: t, token: token, dir: t.TempDir()}
	b.vendor = testbed.StartRegistry(t, testbed.RegistryOptions{Username: "_tm", Password: b.token})
	b.upstream = testbed.StartRegistry(t, testbed.RegistryOptions{})
	b.ecr = testbed.StartECR(t, nil)
	// The API proxy answers what moto lacks (the BLOB_MOUNTING account setting), as ECR does.
	b.ecr.Env(t)
	t.Setenv("TM_TOKEN", "")
	createKMSAlias(t, b.ecr.Moto.Config(), "alias/tmsync-ecr")
	var err error
	if b.signer, err = attesttest.NewSigner("Vault Release Attestor"); err != nil {
		t.Fatal(err)
	}
	b.att = attesttest.NewServer(b.token)
	t.Cleanup(b.att.Close)
	pub, err := b.signer.ArmoredPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	b.keyFile = filepath.Join(b.dir, "src_attestor.pgp")
	must(t, os.WriteFile(b.keyFile, pub, 0o644))
	return b
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// push pushes images to the vendor registry and attests each (unless attest is false).
func (b *bed) push(images []releasetest.Image, seed int64, attestThem bool) {
	b.t.Helper()
	reg := releasetest.Registry{Host: b.vendor.Host, Auth: &authn.Basic{Username: "_tm", Password: b.token}}
	for i := range images {
		must(b.t, releasetest.Push(context.Background(), reg, &images[i], seed+int64(i)*31))
		if attestThem {
			b.attest(images[i].Repository, images[i].Digest)
		}
	}
}

func (b *bed) attest(repo, dgst string, opts ...attesttest.OccurrenceOption) {
	b.t.Helper()
	occ, err := b.signer.Occurrence(attest.Subject{Repository: b.vendor.Host + "/" + repo, Digest: digest.Digest(dgst)}, opts...)
	must(b.t, err)
	b.att.Add(occ)
}

// args are the old buildspec's flags, pointed at the test bed.
func (b *bed) args(releaseDir string, extra ...string) []string {
	a := []string{"tmsync", "sync",
		"--trgprefix=/3rdparty/tm/", "--trgregion=us-east-1", "--src_packages_postfix=images.txt",
		"--src_release=release.json", "--trg_kms_key_alias=alias/tmsync-ecr", "--throttle_ecr_creation_ms=5",
		"--srcdomain", b.vendor.Host, "--src_attestions_address", b.att.URL, "--src_attestor", b.keyFile,
		"--trg-registry", b.ecr.Host,
		"--insecure-registry", b.vendor.Host, "--insecure-registry", b.upstream.Host, "--insecure-registry", b.ecr.Host,
		"--release-dir", releaseDir,
		"--error-log", filepath.Join(b.dir, "sync-error.log"), "--report", filepath.Join(b.dir, "report.json"),
		"--retries", "1",
	}
	return append(a, extra...)
}

func (b *bed) run(args []string) (int, string) {
	b.t.Helper()
	var out bytes.Buffer
	code := run(context.Background(), args, &out, &out)
	b.t.Logf("tmsync %s: exit %d\n%s", args[1], code, out.String())
	for _, s := range b.secretForms() {
		if s != "" && strings.Contains(out.String(), s) {
			b.t.Errorf("tmsync printed a secret")
		}
	}
	return code, out.String()
}

func (b *bed) errorLog() string {
	b.t.Helper()
	data, err := os.ReadFile(filepath.Join(b.dir, "sync-error.log"))
	must(b.t, err)
	return string(data)
}

func (b *bed) report() *tmsync.Report {
	b.t.Helper()
	r, err := tmsync.ReadReport(filepath.Join(b.dir, "report.json"))
	must(b.t, err)
	return r
}

// targetDigest is the digest the target registry serves for repo:tag.
func (b *bed) targetDigest(repo, tag string) string {
	b.t.Helper()
	ref, err := name.ParseReference(b.ecr.Host+"/"+repo+":"+tag, name.Insecure)
	must(b.t, err)
	d, err := remote.Head(ref, remote.WithAuth(&authn.Basic{Username: b.ecr.Username, Password: b.ecr.Password}))
	if err != nil {
		b.t.Fatalf("target has no %s:%s: %v", repo, tag, err)
	}
	return d.Digest.String()
}

func TestSyncEndToEndECR(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	cfg := b.ecr.Moto.Config()

	// The token lives in Secrets Manager, as in CodeBuild without TM_TOKEN.
	_, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("tm-sync-token"), SecretString: aws.String(`{"TM_TOKEN":"` + b.token + `"}`)})
	must(t, err)

	images := []releasetest.Image{
		{Repository: "vault/core", Tag: "5.0.3", Layers: 2, LayerSize: 32 << 10},
		{Repository: "vault/xpl/xpl_payees", Tag: "5.0.3", Layers: 1, LayerSize: 16 << 10},
		{Repository: "vault/postings", Tag: "5.0.3", Layers: 1, LayerSize: 16 << 10, Index: true},
	}
	b.push(images, 1, true)
	// A BYO image upstream, pinned by digest, with no vendor attestation.
	byo := releasetest.Image{Repository: "grafana/grafana", Tag: "10.0", Layers: 1, LayerSize: 8 << 10}
	must(t, releasetest.Push(ctx, releasetest.Registry{Host: b.upstream.Host}, &byo, 99))

	rel := filepath.Join(b.dir, "release")
	must(t, os.Mkdir(rel, 0o755))
	writeRelease(t, rel, "5.0.3", b.vendor.Host, images, map[string]string{
		"grafana": b.upstream.Host + "/grafana/grafana@" + byo.Digest + "|restricted/third_party/docker.io/grafana/grafana:vault-5.0.3",
	})
	tags := filepath.Join(b.dir, "resource_tags.json")
	must(t, os.WriteFile(tags, []byte(`[{"Key":"owner","Value":"platform"},{"Key":"app","Value":"vault"}]`), 0o644))
	accounts := filepath.Join(b.dir, "awsaccounts_read_binaries.txt")
	must(t, os.WriteFile(accounts, []byte("111122223333\n444455556666\n"), 0o644))
	args := b.args(rel, "--trg_resource_tags_file_path", tags, "--trg_ecr_policy_file_path", accounts,
		"--trg_dst_security_scan_enabled=true")

	code, out := b.run(args)
	if code != 0 {
		t.Fatalf("first sync: exit %d, want 0; error log:\n%s", code, b.errorLog())
	}
	if log := b.errorLog(); log != "" {
		t.Fatalf("error log not empty after a good run:\n%s", log)
	}
	if !strings.Contains(out, "INFO: START: vault/core:5.0.3") {
		t.Errorf("console does not keep the old 'INFO: START: <dest>' lines:\n%s", out)
	}

	// Every repository, with every setting, in moto.
	ecrc := ecr.NewFromConfig(cfg)
	for _, repo := range []string{"vault/core", "vault/xpl/xpl_payees", "vault/postings", "restricted/third_party/docker.io/grafana/grafana"} {
		assertRepositorySettings(t, ecrc, "3rdparty/tm/"+repo)
	}
	// Every tag with the release's digest, the index among them.
	for _, im := range images {
		if got := b.targetDigest("3rdparty/tm/"+im.Repository, im.Tag); got != im.Digest {
			t.Errorf("%s:%s is %s in the target, release says %s", im.Repository, im.Tag, got, im.Digest)
		}
	}
	if got := b.targetDigest("3rdparty/tm/restricted/third_party/docker.io/grafana/grafana", "vault-5.0.3"); got != byo.Digest {
		t.Errorf("BYO image digest %s, want %s", got, byo.Digest)
	}
	rep := b.report()
	if rep.Summary.Copied != 4 || rep.Summary.NotAttested != 1 {
		t.Errorf("summary %+v, want 4 copied, 1 not attested", rep.Summary)
	}
	for _, im := range rep.Images {
		if im.Dest == "vault/postings:5.0.3" && len(im.Children) != 2 {
			t.Errorf("index children %v, want 2", im.Children)
		}
		if im.Vendor && (im.Attestation == nil || im.Attestation.Fingerprint != b.signer.Fingerprint()) {
			t.Errorf("%s: attestation %+v, want one by %s", im.Dest, im.Attestation, b.signer.Fingerprint())
		}
	}

	// A second run copies nothing.
	pushes := b.ecr.ManifestPushes()
	if code, _ := b.run(args); code != 0 {
		t.Fatalf("second sync: exit %d; error log:\n%s", code, b.errorLog())
	}
	if n := b.ecr.ManifestPushes(); n != pushes {
		t.Errorf("second sync pushed %d manifests, want none", n-pushes)
	}
	if s := b.report().Summary; s.Present != 4 || s.Copied != 0 {
		t.Errorf("second sync summary %+v, want 4 present", s)
	}

	// A release with one tampered attestation: a valid signature by the vendor's key over
	// another image's digest. That image is not copied, one error line names it, the
	// others are copied, exit 1.
	next := []releasetest.Image{
		{Repository: "vault/ledger", Tag: "5.0.4", Layers: 1, LayerSize: 8 << 10},
		{Repository: "vault/accounts", Tag: "5.0.4", Layers: 1, LayerSize: 8 << 10},
	}
	b.push(next, 500, false)
	b.attest(next[0].Repository, next[0].Digest)
	// Filed under this image, but the signed payload names vault/core's digest.
	b.attest(next[1].Repository, next[1].Digest, attesttest.SignDigest(digest.Digest(images[0].Digest)))
	rel2 := filepath.Join(b.dir, "release2")
	must(t, os.Mkdir(rel2, 0o755))
	writeRelease(t, rel2, "5.0.4", b.vendor.Host, next, nil)
	code, _ = b.run(b.args(rel2, "--trg_resource_tags_file_path", tags, "--trg_ecr_policy_file_path", accounts))
	if code != 1 {
		t.Fatalf("tampered release: exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(b.errorLog()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "vault/accounts:5.0.4") || !strings.HasPrefix(lines[0], "ERROR: attestation failed: ") ||
		!strings.Contains(lines[0], images[0].Digest) {
		t.Fatalf("error log %q, want one ERROR line naming vault/accounts:5.0.4", lines)
	}
	if got := b.targetDigest("3rdparty/tm/vault/ledger", "5.0.4"); got != next[0].Digest {
		t.Errorf("the good image of the tampered release: %s, want %s", got, next[0].Digest)
	}
	ref, _ := name.ParseReference(b.ecr.Host+"/3rdparty/tm/vault/accounts:5.0.4", name.Insecure)
	if _, err := remote.Head(ref, remote.WithAuth(&authn.Basic{Username: b.ecr.Username, Password: b.ecr.Password})); err == nil {
		t.Error("the image with a tampered attestation was copied")
	}
	if _, err := ecrc.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"3rdparty/tm/vault/accounts"}}); err == nil {
		t.Error("a repository was created for an image whose attestation was rejected")
	}
	assertNoSecrets(t, b.dir, b.token, b.ecr.Password)
}

// writeRelease writes a release JSON; extra maps a key to "source|dest".
func writeRelease(t *testing.T, dir, version, host string, images []releasetest.Image, extra map[string]string) {
	t.Helper()
	entries := map[string]map[string]string{}
	for _, im := range images {
		entries[im.Repository] = map[string]string{
			"source": host + "/" + im.Repository + ":" + im.Tag + "@" + im.Digest,
			"dest":   im.Repository + ":" + im.Tag,
			"digest": im.Digest,
		}
	}
	for k, v := range extra {
		src, dst, _ := strings.Cut(v, "|")
		entries[k] = map[string]string{"source": src, "dest": dst}
	}
	data, err := json.MarshalIndent(map[string]any{"version": version, "metadata": map[string]any{"images": entries}}, "", "  ")
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, version+"_release.json"), data, 0o644))
}

// assertNoSecrets fails if any file under dir holds one of the secrets.
func assertNoSecrets(t *testing.T, dir string, secrets ...string) {
	t.Helper()
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		data, _ := os.ReadFile(p)
		for _, s := range secrets {
			if s != "" && bytes.Contains(data, []byte(s)) {
				t.Errorf("%s contains a secret", p)
			}
		}
		return nil
	})
}

// assertRepositorySettings checks, in moto, that a repository carries every setting the
// end-to-end runs ask for: KMS, scan on push, IMMUTABLE, two resource tags, the
// cross-account policy of the test's account list, and the default lifecycle rule.
func assertRepositorySettings(t *testing.T, ecrc *ecr.Client, full string) {
	t.Helper()
	ctx := context.Background()
	d, err := ecrc.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{full}})
	if err != nil {
		t.Errorf("repository %s: %v", full, err)
		return
	}
	r := d.Repositories[0]
	if r.EncryptionConfiguration == nil || string(r.EncryptionConfiguration.EncryptionType) != "KMS" || aws.ToString(r.EncryptionConfiguration.KmsKey) == "" {
		t.Errorf("%s: encryption %+v, want KMS", full, r.EncryptionConfiguration)
	}
	if r.ImageScanningConfiguration == nil || !r.ImageScanningConfiguration.ScanOnPush {
		t.Errorf("%s: scan on push off", full)
	}
	if string(r.ImageTagMutability) != "IMMUTABLE" {
		t.Errorf("%s: mutability %s", full, r.ImageTagMutability)
	}
	tl, err := ecrc.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: r.RepositoryArn})
	if err != nil || len(tl.Tags) != 2 {
		t.Errorf("%s: tags %+v %v, want owner and app", full, tl, err)
	}
	pol, err := ecrc.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(full)})
	if err != nil || !strings.Contains(aws.ToString(pol.PolicyText), "444455556666") {
		t.Errorf("%s: repository policy %v", full, err)
	}
	lc, err := ecrc.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String(full)})
	if err != nil || !strings.Contains(aws.ToString(lc.LifecyclePolicyText), "untagged") {
		t.Errorf("%s: lifecycle policy %v", full, err)
	}
}

// TestBadLifecycleFileCreatesNothing: a lifecycle policy ECR would refuse (a rule priority
// spelled as a word) stops the run before any repository is made: exit 2, the file and
// the JSON path named in the error log; it used to create every repository and then fail
// each one's PutLifecyclePolicy, exit 1.
func TestBadLifecycleFileCreatesNothing(t *testing.T) {
	b := newBed(t)
	images := []releasetest.Image{{Repository: "vault/core", Tag: "5.0.3", Layers: 1, LayerSize: 8 << 10}}
	b.push(images, 1, true)
	rel := filepath.Join(b.dir, "release")
	must(t, os.Mkdir(rel, 0o755))
	writeRelease(t, rel, "5.0.3", b.vendor.Host, images, nil)
	lc := filepath.Join(b.dir, "ecr_lifecycle_policy.json")
	must(t, os.WriteFile(lc, []byte(`{"rules":[{"rulePriority":"one"}]}`), 0o644))
	t.Setenv("TM_TOKEN", b.token)
	code, _ := b.run(b.args(rel, "--trg_ecr_lifecycle_file_path", lc))
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if log := b.errorLog(); !strings.Contains(log, lc) || !strings.Contains(log, "$.rules[0].rulePriority") {
		t.Errorf("error log %q: want the file and the JSON path", log)
	}
	out, err := ecr.NewFromConfig(b.ecr.Moto.Config()).DescribeRepositories(context.Background(), &ecr.DescribeRepositoriesInput{})
	must(t, err)
	if len(out.Repositories) != 0 {
		t.Errorf("%d repositories created by a run whose lifecycle file ECR would refuse", len(out.Repositories))
	}
}
