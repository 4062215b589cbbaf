package evidence_test

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
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/tmsync/tmsync/evidence"
	"github.com/tmsync/tmsync/internal/testbed"
)

// findCosign looks for cosign on PATH, then in $(go env GOPATH)/bin, where
// scripts/install-cosign.sh (run by scripts/deps.sh) puts it. COSIGN_REQUIRED=1 or
// TMSYNC_INTEGRATION=require turns its absence into a failure.
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
	msg := "cosign is not installed (scripts/install-cosign.sh; it takes minutes)"
	if os.Getenv("COSIGN_REQUIRED") == "1" || testbed.Required() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// cosignVerify runs `cosign verify` offline against a loopback registry. auth, when set,
// is a docker config.json for the registry's credentials (never argv).
func cosignVerify(t *testing.T, cosign, key, image string, env ...string) (string, error) {
	return cosignVerifyAuth(t, cosign, key, image, "", env...)
}

func cosignVerifyAuth(t *testing.T, cosign, key, image, auth string, env ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cosign, "verify", "--key", key, "--insecure-ignore-tlog=true",
		"--allow-insecure-registry", "--allow-http-registry", image)
	home := t.TempDir()
	if auth != "" {
		if err := os.WriteFile(filepath.Join(home, "config.json"), []byte(auth), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd.Env = append(os.Environ(), "HOME="+home, "TUF_ROOT="+filepath.Join(home, "tuf"), "DOCKER_CONFIG="+home,
		// cosign tries to refresh its TUF root from the internet even with --key; send
		// everything that is not loopback to a closed loopback port so that nothing
		// leaves the machine (not even a DNS lookup).
		"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=127.0.0.1,localhost",
		"https_proxy=http://127.0.0.1:9", "http_proxy=http://127.0.0.1:9", "no_proxy=127.0.0.1,localhost")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestCosignVerify: the real cosign accepts the bank's signature with the exported public
// key and with the KMS key itself (awskms:///alias/..., moto), on a registry with the
// referrers API, on distribution 2.8 and on the test bed's IMMUTABLE ECR, for an image and
// an index; and refuses it under another key.
func TestCosignVerify(t *testing.T) {
	cosign := findCosign(t)
	m := testbed.SharedMoto(t)
	bank, err := kmsKey(t, m, kmstypes.KeySpecEccNistP256, "alias/bank-cosign")
	if err != nil {
		t.Fatal(err)
	}
	other, err := kmsKey(t, m, kmstypes.KeySpecEccNistP256, "alias/other")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writePEM := func(name string, s *evidence.KMSSigner) string {
		b, err := evidence.PublicKeyPEM(s.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bankPEM, otherPEM := writePEM("bank.pem", bank), writePEM("other.pem", other)
	v := newVendor(t)
	ctx := context.Background()
	for _, rk := range registries {
		host := rk.start(t)
		for _, index := range []bool{false, true} {
			img := pushImage(t, host+"/bank/app", index)
			if rec, err := newClient(t).Ensure(ctx, img, evidence.Evidence{Attestation: v.attestation(t, img.Digest), Signer: bank}); err != nil || !rec.OK() {
				t.Fatalf("Ensure: %v %s", err, js(rec))
			}
			out, err := cosignVerify(t, cosign, bankPEM, img.String())
			if err != nil {
				t.Fatalf("%s: cosign verify --key bank.pem %s: %v\n%s", rk.name, img, err, out)
			}
			if !strings.Contains(out, string(img.Digest)) {
				t.Errorf("cosign verify output does not name the digest:\n%s", out)
			}
			if out, err := cosignVerify(t, cosign, otherPEM, img.String()); err == nil {
				t.Errorf("%s: cosign verify accepted the signature under another key:\n%s", rk.name, out)
			}
		}
	}
	// The test bed's ECR (IMMUTABLE, basic auth), credentials from a docker config file.
	e := testbed.StartECR(t, m)
	if _, err := e.Client().CreateRepository(ctx, &ecr.CreateRepositoryInput{
		RepositoryName: aws.String("bank/app"), ImageTagMutability: ecrtypes.ImageTagMutabilityImmutable,
	}); err != nil {
		t.Fatal(err)
	}
	ecrImg := pushImage(t, e.Host+"/bank/app", true, remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: e.Username, Password: e.Password})))
	ecrImg.ImmutableTags = true
	c := newClient(t, evidence.WithCredentials(e.Host, e.Username, e.Password))
	if rec, err := c.Ensure(ctx, ecrImg, evidence.Evidence{Attestation: v.attestation(t, ecrImg.Digest), Signer: bank}); err != nil || !rec.OK() {
		t.Fatalf("Ensure on the test-bed ECR: %v %s", err, js(rec))
	}
	cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, e.Host, base64.StdEncoding.EncodeToString([]byte(e.Username+":"+e.Password)))
	if out, err := cosignVerifyAuth(t, cosign, bankPEM, ecrImg.String(), cfg); err != nil {
		t.Fatalf("cosign verify on the test-bed ECR: %v\n%s", err, out)
	}

	// The KMS key itself, as a Kyverno or cosign user names it.
	host := referrersRegistry(t)
	img := pushImage(t, host+"/bank/kms", false)
	if _, err := newClient(t).Ensure(ctx, img, evidence.Evidence{Signer: bank}); err != nil {
		t.Fatal(err)
	}
	out, err := cosignVerify(t, cosign, "awskms:///alias/bank-cosign", img.String(),
		"AWS_ENDPOINT_URL="+m.URL, "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing",
		"AWS_REGION="+testbed.MotoRegion, "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE="+os.DevNull, "AWS_SHARED_CREDENTIALS_FILE="+os.DevNull)
	if err != nil {
		t.Fatalf("cosign verify --key awskms:///alias/bank-cosign: %v\n%s", err, out)
	}
	t.Logf("cosign verify --key awskms:///alias/bank-cosign %s:\n%s", img, out)
}
