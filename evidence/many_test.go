package evidence_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/tmsync/tmsync/evidence"
	"github.com/tmsync/tmsync/internal/testbed"
	"golang.org/x/sync/errgroup"
)

type countingLimiter struct{ n atomic.Int64 }

func (l *countingLimiter) Wait(context.Context) error { l.n.Add(1); return nil }

// TestEnsureMany: a small release through the test bed's ECR, four images at a time with
// one client: every image gets both pieces of evidence, the pushes add up (and all pass
// the limiter), a re-run pushes nothing, Verify passes for all.
func TestEnsureMany(t *testing.T) {
	const n = 12
	m := testbed.SharedMoto(t)
	e := testbed.StartECR(t, m)
	ctx := context.Background()
	if _, err := e.Client().CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("bank/rel")}); err != nil {
		t.Fatal(err)
	}
	bank, err := kmsKey(t, m, kmstypes.KeySpecEccNistP256, "alias/bank")
	if err != nil {
		t.Fatal(err)
	}
	v := newVendor(t)
	auth := remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: e.Username, Password: e.Password}))
	lim := &countingLimiter{}
	c := newClient(t, evidence.WithCredentials(e.Host, e.Username, e.Password), evidence.WithPushLimiter(lim))
	imgs := make([]evidence.Image, n)
	evs := make([]evidence.Evidence, n)
	for i := range imgs {
		imgs[i] = pushImage(t, e.Host+"/bank/rel", i%3 == 0, auth)
		evs[i] = evidence.Evidence{Attestation: v.attestation(t, imgs[i].Digest), Signer: bank, Vendor: v.verifier}
	}
	run := func() (pushes int64) {
		var total atomic.Int64
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(4)
		for i := range imgs {
			g.Go(func() error {
				rec, err := c.Ensure(gctx, imgs[i], evs[i])
				if err == nil && !rec.OK() {
					t.Errorf("%s: %s", imgs[i], js(rec))
				}
				total.Add(int64(rec.ManifestPushes))
				return err
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		return total.Load()
	}
	before := e.ManifestPushes()
	start := time.Now()
	first := run()
	firstTook := time.Since(start)
	if first != 3*n || int64(e.ManifestPushes()-before) != first || lim.n.Load() != first {
		t.Fatalf("first run: %d pushes recorded, ECR saw %d, limiter %d; want %d", first, e.ManifestPushes()-before, lim.n.Load(), 3*n)
	}
	start = time.Now()
	if again := run(); again != 0 {
		t.Fatalf("re-run pushed %d manifests", again)
	}
	t.Logf("%d images: first run %v (%d manifest pushes), re-run %v (0 pushes)", n, firstTook, first, time.Since(start))
	checks := evidence.Checks{Vendor: v.verifier, VendorRepository: vendorRepo, BankKey: bank.PublicKey()}
	for _, img := range imgs {
		if rec, err := c.Verify(ctx, img, checks); err != nil || !rec.OK() {
			t.Errorf("Verify %s: %v", img, err)
		}
	}
}
