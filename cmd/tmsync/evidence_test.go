package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tmsync/tmsync/evidence"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/internal/testbed"
)

// findCosign finds cosign on PATH or in $(go env GOPATH)/bin (scripts/install-cosign.sh);
// without it the test skips, or fails when integration is required.
func findCosign(t *testing.T) string {
	t.Helper()
	if os.Getenv(testbed.EnvIntegration) == "skip" {
		t.Skip("integration tests are off")
	}
	if p, err := exec.LookPath("cosign"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "cosign")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "cosign is not installed (scripts/install-cosign.sh, run by scripts/deps.sh; it takes minutes)"
	if testbed.Required() {
		t.Fatalf("integration required (%s=require): %s", testbed.EnvIntegration, msg)
	}
	t.Skip(msg)
	return ""
}

// bankKey creates the bank's signing key in moto's KMS (ECC_NIST_P256, SIGN_VERIFY) under
// alias and writes its public key as PEM, as `aws kms get-public-key` exports it.
func (b *bed) bankKey(alias string) string {
	b.t.Helper()
	ctx := context.Background()
	api := kms.NewFromConfig(b.ecr.Moto.Config())
	out, err := api.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeSignVerify})
	must(b.t, err)
	_, err = api.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: out.KeyMetadata.KeyId})
	must(b.t, err)
	pub, err := api.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(alias)})
	must(b.t, err)
	pem := "-----BEGIN PUBLIC KEY-----\n" + base64.StdEncoding.EncodeToString(pub.PublicKey) + "\n-----END PUBLIC KEY-----\n"
	p := filepath.Join(b.dir, strings.ReplaceAll(alias, "/", "_")+".pem")
	must(b.t, os.WriteFile(p, []byte(pem), 0o600))
	return p
}

// cosignVerify runs the real `cosign verify --key pub` against the test bed's ECR, offline,
// with the registry credentials in a docker config file.
func (b *bed) cosignVerify(cosign, pub, image string) (string, error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	home := b.t.TempDir()
	auth := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, b.ecr.Host, base64.StdEncoding.EncodeToString([]byte(b.ecr.Username+":"+b.ecr.Password)))
	must(b.t, os.WriteFile(filepath.Join(home, "config.json"), []byte(auth), 0o600))
	cmd := exec.CommandContext(ctx, cosign, "verify", "--key", pub, "--insecure-ignore-tlog=true",
		"--allow-insecure-registry", "--allow-http-registry", image)
	cmd.Env = append(os.Environ(), "HOME="+home, "TUF_ROOT="+filepath.Join(home, "tuf"), "DOCKER_CONFIG="+home,
		// Nothing leaves the machine: cosign may try to refresh its TUF root even with --key.
		"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=127.0.0.1,localhost",
		"https_proxy=http://127.0.0.1:9", "http_proxy=http://127.0.0.1:9", "no_proxy=127.0.0.1,localhost")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (b *bed) ecrAuth() remote.Option {
	return remote.WithAuth(&authn.Basic{Username: b.ecr.Username, Password: b.ecr.Password})
}

// TestEvidenceEndToEnd: sync with --sign-kms-key (moto's KMS) puts the vendor's attestation
// and the bank's cosign signature next to every image of the release in the test bed's
// ECR (IMMUTABLE repositories, a registry without the referrers API: the tag schemes);
// the real cosign verifies every image under the exported public key; a re-run pushes
// nothing; verify passes, then fails naming the one image whose signature was deleted,
// and a sync restores it.
func TestEvidenceEndToEnd(t *testing.T) {
	cosign := findCosign(t)
	b := newBed(t)
	ctx := context.Background()
	t.Setenv("TM_TOKEN", b.token)
	images := []releasetest.Image{
		{Repository: "vault/core", Tag: "5.1.0", Layers: 2, LayerSize: 16 << 10},
		{Repository: "vault/ledger", Tag: "5.1.0", Layers: 1, LayerSize: 8 << 10},
		{Repository: "vault/postings", Tag: "5.1.0", Layers: 1, LayerSize: 8 << 10, Index: true},
	}
	b.push(images, 900, true)
	byo := releasetest.Image{Repository: "grafana/grafana", Tag: "10.1", Layers: 1, LayerSize: 8 << 10}
	must(t, releasetest.Push(ctx, releasetest.Registry{Host: b.upstream.Host}, &byo, 77))
	rel := filepath.Join(b.dir, "release")
	must(t, os.Mkdir(rel, 0o755))
	writeRelease(t, rel, "5.1.0", b.vendor.Host, images, map[string]string{
		"grafana": b.upstream.Host + "/grafana/grafana@" + byo.Digest + "|restricted/third_party/docker.io/grafana/grafana:vault-5.1.0",
	})
	pub := b.bankKey("alias/tmsync-bank")
	t.Setenv("TMSYNC_SIGN_KMS_KEY", "alias/tmsync-bank") // the environment variable, not the flag
	args := b.args(rel)

	// Every image of the release, by its digest in the target.
	type dest struct{ repo, digest string }
	var dests []dest
	for _, im := range images {
		dests = append(dests, dest{"3rdparty/tm/" + im.Repository, im.Digest})
	}
	dests = append(dests, dest{"3rdparty/tm/restricted/third_party/docker.io/grafana/grafana", byo.Digest})

	start := time.Now()
	if code, _ := b.run(args); code != 0 {
		t.Fatalf("sync with --sign-kms-key: exit %d; error log:\n%s", code, b.errorLog())
	}
	first := time.Since(start)
	rep := b.report()
	fingerprint := ""
	evidencePushes := 0
	for _, im := range rep.Images {
		ev := im.Evidence
		if ev == nil || ev.Signature == nil || ev.Signature.Status != evidence.StatusAdded || ev.Signature.Scheme != evidence.SchemeCosignTag {
			t.Errorf("%s: evidence %+v, want a bank signature added", im.Dest, ev)
			continue
		}
		if fingerprint == "" {
			fingerprint = ev.Signature.Key
		} else if ev.Signature.Key != fingerprint {
			t.Errorf("%s: signed by %s, the others by %s", im.Dest, ev.Signature.Key, fingerprint)
		}
		switch {
		case im.Vendor && (ev.Attestation == nil || ev.Attestation.Status != evidence.StatusAdded ||
			ev.Attestation.Scheme != evidence.SchemeReferrersTag || ev.Attestation.Fingerprint != b.signer.Fingerprint()):
			t.Errorf("%s: attestation evidence %+v, want one added by %s with the referrers tag", im.Dest, ev.Attestation, b.signer.Fingerprint())
		case !im.Vendor && ev.Attestation != nil:
			t.Errorf("%s: an upstream image without a vendor attestation got attestation evidence %+v", im.Dest, ev.Attestation)
		}
		if !strings.HasSuffix(ev.Image, "@"+im.Digest) {
			t.Errorf("%s: evidence names %s, want the image's digest %s", im.Dest, ev.Image, im.Digest)
		}
		// ≤ 2 pushes on ECR with the referrers API; here, without it: artifact + tag index + .sig.
		if want := map[bool]int{true: 3, false: 1}[im.Vendor]; ev.ManifestPushes != want {
			t.Errorf("%s: %d evidence pushes, want %d", im.Dest, ev.ManifestPushes, want)
		}
		evidencePushes += ev.ManifestPushes
	}
	t.Logf("first sync with evidence: %d images, %d evidence pushes, %s", len(rep.Images), evidencePushes, first.Round(time.Millisecond))

	// The real cosign, with the exported public key, accepts every image; the tag names
	// nothing: the signature is bound to the digest.
	for _, d := range dests {
		img := b.ecr.Host + "/" + d.repo + "@" + d.digest
		out, err := b.cosignVerify(cosign, pub, img)
		if err != nil {
			t.Errorf("cosign verify --key bank.pem %s: %v\n%s", img, err, out)
		} else if !strings.Contains(out, d.digest) {
			t.Errorf("cosign verify %s: output names another digest:\n%s", img, out)
		}
	}

	// A re-run pushes nothing and keeps every piece of evidence as valid.
	pushes := b.ecr.ManifestPushes()
	start = time.Now()
	if code, _ := b.run(args); code != 0 {
		t.Fatalf("second sync: exit %d; error log:\n%s", code, b.errorLog())
	}
	t.Logf("re-sync with evidence: %s", time.Since(start).Round(time.Millisecond))
	if n := b.ecr.ManifestPushes() - pushes; n != 0 {
		t.Errorf("second sync pushed %d manifests, want none", n)
	}
	for _, im := range b.report().Images {
		if im.Evidence == nil || im.Evidence.Signature == nil || im.Evidence.Signature.Status != evidence.StatusValid || im.Evidence.ManifestPushes != 0 {
			t.Errorf("second sync: %s: evidence %+v, want valid, nothing pushed", im.Dest, im.Evidence)
		}
	}

	// verify checks the evidence, under the KMS key (GetPublicKey) and under a PEM file.
	verifyArgs := withMode(args, "verify")
	if code, _ := b.run(verifyArgs); code != 0 {
		t.Fatalf("verify of complete evidence: exit %d; error log:\n%s", code, b.errorLog())
	}
	for _, im := range b.report().Images {
		ev := im.Evidence
		if ev == nil || ev.Signature == nil || ev.Signature.Status != evidence.StatusValid ||
			(im.Vendor && (ev.Attestation == nil || ev.Attestation.Status != evidence.StatusValid)) {
			t.Errorf("verify: %s: evidence %+v, want valid", im.Dest, ev)
		}
	}
	t.Setenv("TMSYNC_SIGN_KMS_KEY", "")
	if code, _ := b.run(append(withMode(args, "verify"), "--bank-public-key", pub)); code != 0 {
		t.Fatalf("verify --bank-public-key: exit %d; error log:\n%s", code, b.errorLog())
	}
	// Under another key, every image fails.
	other := b.bankKey("alias/someone-else")
	if code, _ := b.run(append(withMode(args, "verify"), "--bank-public-key", other)); code != 1 {
		t.Errorf("verify under another key: exit %d, want 1", code)
	}
	if n := len(strings.Split(strings.TrimSpace(b.errorLog()), "\n")); n != len(dests) {
		t.Errorf("verify under another key: %d error lines, want %d:\n%s", n, len(dests), b.errorLog())
	}
	t.Setenv("TMSYNC_SIGN_KMS_KEY", "alias/tmsync-bank")

	// Delete vault/ledger's signature (its .sig tag, in the registry and in ECR's view).
	victim := dests[1]
	sigTag := strings.Replace(victim.digest, ":", "-", 1) + ".sig"
	sigRef, err := name.ParseReference(b.ecr.Host+"/"+victim.repo+":"+sigTag, name.Insecure)
	must(t, err)
	sigDesc, err := remote.Head(sigRef, b.ecrAuth())
	must(t, err)
	must(t, remote.Delete(sigRef.Context().Digest(sigDesc.Digest.String()), b.ecrAuth()))
	_, err = b.ecr.Client().BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String(victim.repo),
		ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String(sigTag)}}})
	must(t, err)
	pushes = b.ecr.ManifestPushes()
	code, _ := b.run(verifyArgs)
	if code != 1 {
		t.Fatalf("verify with a deleted signature: exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(b.errorLog()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "vault/ledger:5.1.0") || !strings.Contains(lines[0], "bank signature missing") {
		t.Errorf("verify with a deleted signature: error log %q, want one line naming vault/ledger:5.1.0 and its missing bank signature", lines)
	}
	if n := b.ecr.ManifestPushes() - pushes; n != 0 {
		t.Errorf("verify pushed %d manifests", n)
	}
	if out, err := b.cosignVerify(cosign, pub, b.ecr.Host+"/"+victim.repo+"@"+victim.digest); err == nil {
		t.Errorf("cosign verify accepted an image whose signature was deleted:\n%s", out)
	}
	// sync restores it, with one push, and verify passes again.
	if code, _ := b.run(args); code != 0 {
		t.Fatalf("sync after the deletion: exit %d; error log:\n%s", code, b.errorLog())
	}
	if n := b.ecr.ManifestPushes() - pushes; n != 1 {
		t.Errorf("restoring one signature pushed %d manifests, want 1", n)
	}
	if code, _ := b.run(verifyArgs); code != 0 {
		t.Fatalf("verify after the restore: exit %d; error log:\n%s", code, b.errorLog())
	}
	if out, err := b.cosignVerify(cosign, pub, b.ecr.Host+"/"+victim.repo+"@"+victim.digest); err != nil {
		t.Errorf("cosign verify after the restore: %v\n%s", err, out)
	}
	assertNoSecrets(t, b.dir, b.token, b.ecr.Password)
}

// TestEvidenceVendorReferrers: a vendor image with its own referrer (an SBOM, on a
// registry without the referrers API: the referrers tag) arrives in ECR with it, same
// digest, next to the bank's evidence; without --sign-kms-key the referrer is still
// copied (--copy-referrers defaults on) and no evidence is added.
func TestEvidenceVendorReferrers(t *testing.T) {
	b := newBed(t)
	t.Setenv("TM_TOKEN", b.token)
	images := []releasetest.Image{
		{Repository: "vault/core", Tag: "5.2.0", Layers: 1, LayerSize: 8 << 10},
		{Repository: "vault/ledger", Tag: "5.2.0", Layers: 1, LayerSize: 8 << 10},
	}
	b.push(images, 1200, true)
	// The vendor's SBOM of vault/core: an OCI artifact whose subject is the image.
	vendorAuth := remote.WithAuth(&authn.Basic{Username: "_tm", Password: b.token})
	subjectRef, err := name.NewDigest(b.vendor.Host+"/vault/core@"+images[0].Digest, name.Insecure)
	must(t, err)
	subject, err := remote.Head(subjectRef, vendorAuth)
	must(t, err)
	sbomLayer := static.NewLayer([]byte(`{"spdxVersion":"SPDX-2.3","name":"vault/core"}`), "application/spdx+json")
	sbom, err := mutate.Append(empty.Image, mutate.Addendum{Layer: sbomLayer})
	must(t, err)
	sbom = mutate.MediaType(sbom, types.OCIManifestSchema1)
	sbom = mutate.ConfigMediaType(sbom, "application/vnd.example.sbom.v1")
	sbom = mutate.Subject(sbom, *subject).(v1.Image)
	sbomDigest, err := sbom.Digest()
	must(t, err)
	must(t, remote.Write(subjectRef.Context().Digest(sbomDigest.String()), sbom, vendorAuth))

	rel := filepath.Join(b.dir, "release")
	must(t, os.Mkdir(rel, 0o755))
	writeRelease(t, rel, "5.2.0", b.vendor.Host, images, nil)
	// MUTABLE repositories: the referrers tag lists the SBOM first, then the attestation.
	args := b.args(rel, "--trg-tag-mutability", "MUTABLE")
	pushes := b.ecr.ManifestPushes()
	if code, _ := b.run(args); code != 0 {
		t.Fatalf("sync without --sign-kms-key: exit %d; error log:\n%s", code, b.errorLog())
	}
	// Images 2 + SBOM 1 + its referrers tag index 1.
	if n := b.ecr.ManifestPushes() - pushes; n != 4 {
		t.Errorf("sync with a vendor referrer pushed %d manifests, want 4", n)
	}
	for _, im := range b.report().Images {
		if im.Evidence != nil {
			t.Errorf("%s: evidence %+v without --sign-kms-key", im.Dest, im.Evidence)
		}
		switch im.Dest {
		case "vault/core:5.2.0":
			if im.Referrers == nil || len(im.Referrers.Referrers) != 1 || im.Referrers.Referrers[0].Digest != sbomDigest.String() ||
				im.Referrers.Referrers[0].Status != "copied" {
				t.Errorf("vault/core: referrers %+v, want the SBOM %s copied", im.Referrers, sbomDigest)
			}
		default:
			if im.Referrers != nil {
				t.Errorf("%s: referrers %+v, want none", im.Dest, im.Referrers)
			}
		}
	}
	dstRef, err := name.NewDigest(b.ecr.Host+"/3rdparty/tm/vault/core@"+images[0].Digest, name.Insecure)
	must(t, err)
	got, err := remote.Get(dstRef.Context().Digest(sbomDigest.String()), b.ecrAuth())
	if err != nil || got.Digest != sbomDigest {
		t.Fatalf("the SBOM in ECR: %v (%v), want %s", got, err, sbomDigest)
	}

	// With the bank's key: the attestation joins the SBOM in the referrers tag; the SBOM
	// is not pushed again.
	b.bankKey("alias/tmsync-bank")
	pushes = b.ecr.ManifestPushes()
	if code, _ := b.run(append(args, "--sign-kms-key", "alias/tmsync-bank")); code != 0 {
		t.Fatalf("sync with --sign-kms-key: exit %d; error log:\n%s", code, b.errorLog())
	}
	if n := b.ecr.ManifestPushes() - pushes; n != 6 {
		t.Errorf("evidence for 2 images pushed %d manifests, want 6 (artifact, referrers tag, .sig each)", n)
	}
	idx, err := remote.Referrers(dstRef, b.ecrAuth())
	must(t, err)
	im, err := idx.IndexManifest()
	must(t, err)
	kinds := map[string]bool{}
	for _, d := range im.Manifests {
		kinds[d.ArtifactType] = true
	}
	if len(im.Manifests) != 2 || !kinds[evidence.AttestationArtifactType] || !kinds["application/vnd.example.sbom.v1"] {
		t.Errorf("referrers of vault/core in ECR: %+v, want the SBOM and the attestation", im.Manifests)
	}
	if code, _ := b.run(withMode(append(args, "--sign-kms-key", "alias/tmsync-bank"), "verify")); code != 0 {
		t.Errorf("verify: exit %d; error log:\n%s", code, b.errorLog())
	}
}
