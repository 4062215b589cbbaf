package evidence_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/tmsync/tmsync/evidence"
	"github.com/tmsync/tmsync/internal/testbed"
)

// TestImmutableECR runs Ensure against the test bed's ECR (moto + distribution behind a
// proxy that refuses what ECR refuses) with an IMMUTABLE repository: the first run
// creates the fallback tags, a re-run writes nothing, and a .sig that exists without the
// bank's signature is reported blocked without a refused push.
func TestImmutableECR(t *testing.T) {
	m := testbed.SharedMoto(t)
	e := testbed.StartECR(t, m)
	ctx := context.Background()
	if _, err := e.Client().CreateRepository(ctx, &ecr.CreateRepositoryInput{
		RepositoryName: aws.String("bank/xpl"), ImageTagMutability: ecrtypes.ImageTagMutabilityImmutable,
	}); err != nil {
		t.Fatal(err)
	}
	bank, err := kmsKey(t, m, kmstypes.KeySpecEccNistP256, "alias/bank")
	if err != nil {
		t.Fatal(err)
	}
	other, err := kmsKey(t, m, kmstypes.KeySpecEccNistP256, "alias/other")
	if err != nil {
		t.Fatal(err)
	}
	v := newVendor(t)
	auth := remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: e.Username, Password: e.Password}))
	c := newClient(t, evidence.WithCredentials(e.Host, e.Username, e.Password))
	checks := evidence.Checks{Vendor: v.verifier, VendorRepository: vendorRepo, BankKey: bank.PublicKey()}

	for _, index := range []bool{false, true} {
		img := pushImage(t, e.Host+"/bank/xpl", index, auth)
		img.ImmutableTags = true
		before := e.ManifestPushes()
		ev := evidence.Evidence{Attestation: v.attestation(t, img.Digest), Signer: bank}
		rec, err := c.Ensure(ctx, img, ev)
		if err != nil || !rec.OK() || rec.Attestation.Scheme != evidence.SchemeReferrersTag {
			t.Fatalf("Ensure on IMMUTABLE: %v %s", err, js(rec))
		}
		if got := e.ManifestPushes() - before; got != rec.ManifestPushes || got != 3 {
			t.Errorf("ECR saw %d manifest pushes, the record says %d, want 3", got, rec.ManifestPushes)
		}
		before = e.ManifestPushes()
		rec, err = c.Ensure(ctx, img, ev)
		if err != nil || rec.ManifestPushes != 0 || e.ManifestPushes() != before {
			t.Fatalf("re-run on IMMUTABLE: %v %s", err, js(rec))
		}
		if rec, err := c.Verify(ctx, img, checks); err != nil || !rec.OK() {
			t.Fatalf("Verify: %v %s", err, js(rec))
		}
	}

	// Someone else's signature got there first: the bank's cannot be appended.
	img := pushImage(t, e.Host+"/bank/xpl", false, auth)
	img.ImmutableTags = true
	if _, err := c.Ensure(ctx, img, evidence.Evidence{Signer: other}); err != nil {
		t.Fatal(err)
	}
	before := e.ManifestPushes()
	rec, err := c.Ensure(ctx, img, evidence.Evidence{Attestation: v.attestation(t, img.Digest), Signer: bank})
	if !errors.Is(err, evidence.ErrTagImmutable) || rec.Signature.Status != evidence.StatusBlocked || rec.Attestation.Status != evidence.StatusAdded {
		t.Fatalf("blocked signature: %v %s", err, js(rec))
	}
	if got := e.ManifestPushes() - before; got != 2 || rec.ManifestPushes != 2 {
		t.Errorf("pushes %d (record %d), want 2: the attestation only", got, rec.ManifestPushes)
	}
	if _, err := c.Verify(ctx, img, checks); !errors.Is(err, evidence.ErrInvalid) || !strings.Contains(err.Error(), img.String()) {
		t.Errorf("Verify of a blocked signature: %v", err)
	}

	// Without ImmutableTags the push is tried and ECR's refusal is reported the same way.
	e.AllowViolations()
	img.ImmutableTags = false
	rec, err = c.Ensure(ctx, img, evidence.Evidence{Signer: bank})
	if !errors.Is(err, evidence.ErrTagImmutable) || rec.Signature.Status != evidence.StatusBlocked || len(e.Violations()) != 1 {
		t.Fatalf("refused signature: %v %s %q", err, js(rec), e.Violations())
	}
}

// refuseIndexSubjects is a proxy in front of a referrers registry that refuses, with 405
// as ECR can, a manifest whose subject is an image index.
type refuseIndexSubjects struct {
	proxy   *httputil.ReverseProxy
	refused atomic.Int64
}

func (p *refuseIndexSubjects) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var m struct {
			Subject *struct {
				MediaType string `json:"mediaType"`
			} `json:"subject"`
		}
		if json.Unmarshal(body, &m) == nil && m.Subject != nil && strings.Contains(m.Subject.MediaType, "index") {
			p.refused.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMethodNotAllowed)
			_, _ = w.Write([]byte(`{"errors":[{"code":"UNSUPPORTED","message":"subject of type image index is not supported"}]}`))
			return
		}
	}
	p.proxy.ServeHTTP(w, r)
}

// TestIndexSubjectRefused: where the registry has the referrers API but refuses an index
// subject (405), the attestation goes to the referrers tag without a subject, verifies,
// and a re-run pushes nothing; the refusal is remembered for the next index.
func TestIndexSubjectRefused(t *testing.T) {
	m := testbed.SharedMoto(t)
	bank, err := kmsKey(t, m, kmstypes.KeySpecEccNistP256, "alias/bank")
	if err != nil {
		t.Fatal(err)
	}
	v := newVendor(t)
	backend := referrersRegistry(t)
	p := &refuseIndexSubjects{proxy: httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: backend})}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	c := newClient(t)
	ctx := context.Background()
	checks := evidence.Checks{Vendor: v.verifier, VendorRepository: vendorRepo, BankKey: bank.PublicKey()}

	for i, want := range []int{4, 3} { // the first index pays one refused push
		img := pushImage(t, host+"/bank/multi", true)
		ev := evidence.Evidence{Attestation: v.attestation(t, img.Digest), Signer: bank}
		rec, err := c.Ensure(ctx, img, ev)
		if err != nil || !rec.OK() || rec.Attestation.Scheme != evidence.SchemeReferrersTag {
			t.Fatalf("index %d: %v %s", i, err, js(rec))
		}
		if rec.ManifestPushes != want {
			t.Errorf("index %d: %d manifest pushes, want %d", i, rec.ManifestPushes, want)
		}
		if got, err := c.Verify(ctx, img, checks); err != nil || !got.OK() || got.Attestation.Scheme != evidence.SchemeReferrersTag {
			t.Fatalf("index %d: Verify: %v %s", i, err, js(got))
		}
		if again, err := newClient(t).Ensure(ctx, img, ev); err != nil || again.ManifestPushes != 0 {
			t.Fatalf("index %d: re-run: %v %s", i, err, js(again))
		}
	}
	if p.refused.Load() != 1 {
		t.Errorf("%d refused pushes, want 1", p.refused.Load())
	}
	// An image manifest still gets a real referrer.
	img := pushImage(t, host+"/bank/single", false)
	rec, err := c.Ensure(ctx, img, evidence.Evidence{Attestation: v.attestation(t, img.Digest), Signer: bank})
	if err != nil || rec.Attestation.Scheme != evidence.SchemeReferrersAPI || rec.ManifestPushes != 2 {
		t.Fatalf("image manifest behind the same proxy: %v %s", err, js(rec))
	}
}
