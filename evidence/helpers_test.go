package evidence_test

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/evidence"
	"github.com/tmsync/tmsync/internal/testbed"
)

// vendorRepo is where the vendor's images come from; the occurrences are about it.
const vendorRepo = "docker.external.thoughtmachine.io/vault/xpl/xpl_payees"

// registryKind is a registry the evidence goes to.
type registryKind struct {
	name   string
	scheme evidence.Scheme // the attestation scheme expected
	start  func(t *testing.T) string
}

// referrersRegistry is go-containerregistry's in-process registry with the OCI 1.1
// referrers API, on 127.0.0.1.
func referrersRegistry(t *testing.T) string {
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(true), registry.Logger(discardLogger())))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// distributionRegistry is the CNCF distribution registry 2.8 (Debian's docker-registry):
// no referrers API.
func distributionRegistry(t *testing.T) string {
	return testbed.StartRegistry(t, testbed.RegistryOptions{}).Host
}

var registries = []registryKind{
	{"referrers-api", evidence.SchemeReferrersAPI, referrersRegistry},
	{"distribution-2.8", evidence.SchemeReferrersTag, distributionRegistry},
}

// pushImage pushes a random image (or a two-platform index) and returns it.
func pushImage(t *testing.T, repo string, index bool, opts ...remote.Option) evidence.Image {
	t.Helper()
	r, err := name.NewRepository(repo)
	if err != nil {
		t.Fatal(err)
	}
	var (
		d  v1.Hash
		mt string
	)
	if index {
		idx, err := random.Index(256, 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		d, _ = idx.Digest()
		m, _ := idx.MediaType()
		mt = string(m)
		if err := remote.WriteIndex(r.Digest(d.String()), idx, opts...); err != nil {
			t.Fatal(err)
		}
	} else {
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		d, _ = img.Digest()
		m, _ := img.MediaType()
		mt = string(m)
		if err := remote.Write(r.Digest(d.String()), img, opts...); err != nil {
			t.Fatal(err)
		}
	}
	return evidence.Image{Repository: repo, Digest: digest.Digest(d.String()), MediaType: mt}
}

// vendor is the vendor's attestor: it signs occurrences about images of vendorRepo.
type vendor struct {
	signer   *attesttest.Signer
	verifier *attest.Verifier
}

func newVendor(t *testing.T) *vendor {
	t.Helper()
	s, err := attesttest.NewSigner("vendor attestor")
	if err != nil {
		t.Fatal(err)
	}
	kr, err := s.Keyring()
	if err != nil {
		t.Fatal(err)
	}
	v, err := attest.NewVerifier(kr)
	if err != nil {
		t.Fatal(err)
	}
	return &vendor{signer: s, verifier: v}
}

// attestation verifies a fresh occurrence for d the way sync does and returns what Ensure
// stores.
func (v *vendor) attestation(t *testing.T, d digest.Digest) *evidence.VendorAttestation {
	t.Helper()
	sub := attest.Subject{Repository: vendorRepo, Digest: d}
	raw, err := v.signer.Occurrence(sub)
	if err != nil {
		t.Fatal(err)
	}
	occ, err := attest.ParseOccurrence(raw)
	if err != nil {
		t.Fatal(err)
	}
	ver, err := v.verifier.Verify(sub, []attest.Occurrence{occ})
	if err != nil {
		t.Fatal(err)
	}
	return &evidence.VendorAttestation{Occurrence: occ, Verification: *ver, Source: sub}
}

// kmsKey creates a KMS key in moto and returns a signer for it by alias.
func kmsKey(t *testing.T, m *testbed.Moto, spec kmstypes.KeySpec, alias string) (*evidence.KMSSigner, error) {
	t.Helper()
	ctx := context.Background()
	api := kms.NewFromConfig(m.Config())
	out, err := api.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: spec, KeyUsage: kmstypes.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatalf("creating a %s key in moto: %v", spec, err)
	}
	if _, err := api.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: out.KeyMetadata.KeyId}); err != nil {
		t.Fatalf("creating alias %s: %v", alias, err)
	}
	return evidence.NewKMSSigner(ctx, api, alias)
}

func newClient(t *testing.T, opts ...evidence.Option) *evidence.Client {
	t.Helper()
	c, err := evidence.NewClient(append([]evidence.Option{evidence.WithToolVersion("test")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
