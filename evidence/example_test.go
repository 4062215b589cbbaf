package evidence_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/tmsync/tmsync/evidence"
)

// Example signs an image in a registry with the referrers API, checks it, and shows that
// a second Ensure pushes nothing. In tmsync the signer is a KMSSigner
// (evidence.NewKMSSigner(ctx, kms.NewFromConfig(cfg), "alias/...")) and Evidence also
// carries the vendor's verified occurrence.
func Example() {
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(true), registry.Logger(discardLogger())))
	defer srv.Close()
	repo := strings.TrimPrefix(srv.URL, "http://") + "/bank/app"
	img, _ := random.Image(128, 1)
	d, _ := img.Digest()
	ref, _ := name.NewDigest(repo + "@" + d.String())
	_ = remote.Write(ref, img)

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sv, _ := signature.LoadECDSASignerVerifier(key, crypto.SHA256)
	signer := evidence.SigstoreSigner{SignerVerifier: sv}

	c, _ := evidence.NewClient(evidence.WithToolVersion("v1.2.3"))
	ctx := context.Background()
	target := evidence.Image{Repository: repo, Digest: digest.Digest(d.String())}
	rec, err := c.Ensure(ctx, target, evidence.Evidence{Signer: signer})
	fmt.Println(rec.Signature.Status, rec.Signature.Scheme, rec.ManifestPushes, err)
	rec, _ = c.Ensure(ctx, target, evidence.Evidence{Signer: signer})
	fmt.Println(rec.Signature.Status, rec.ManifestPushes)
	rec, err = c.Verify(ctx, target, evidence.Checks{BankKey: signer.PublicKey()})
	fmt.Println(rec.OK(), err)
	// Output:
	// added cosign-tag 1 <nil>
	// valid 0
	// true <nil>
}
