package testbed_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tmsync/tmsync/internal/testbed"
)

func TestRegistryBasicAuth(t *testing.T) {
	reg := testbed.StartRegistry(t, testbed.RegistryOptions{Username: "_tm", Password: "s3cret-token"})
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(reg.Ref("vault/core:1.0"), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("push without credentials: got %v, want 401", err)
	}
	bad := remote.WithAuth(&authn.Basic{Username: "_tm", Password: "wrong"})
	if err := remote.Write(ref, img, bad); err == nil {
		t.Fatal("push with a wrong password succeeded")
	}
	auth := remote.WithAuth(&authn.Basic{Username: "_tm", Password: "s3cret-token"})
	if err := remote.Write(ref, img, auth); err != nil {
		t.Fatalf("push with credentials: %v", err)
	}
	want, _ := img.Digest()
	desc, err := remote.Head(ref, auth)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != want {
		t.Fatalf("registry holds %s, pushed %s", desc.Digest, want)
	}
}

func TestMotoECRAPI(t *testing.T) {
	m := testbed.SharedMoto(t)
	ctx := context.Background()
	c := ecr.NewFromConfig(m.Config())
	_, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("3rdparty/tm/vault/core")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("3rdparty/tm/vault/core")})
	var exists *ecrtypes.RepositoryAlreadyExistsException
	if !errors_As(err, &exists) {
		t.Fatalf("second create: got %v, want RepositoryAlreadyExistsException", err)
	}
	// Reset between tests: the next SharedMoto user sees nothing.
	m.Reset(t)
	out, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Repositories) != 0 {
		t.Fatalf("after reset: %d repositories", len(out.Repositories))
	}
}

func TestECRPairBehavesLikeECR(t *testing.T) {
	e := testbed.StartECR(t, nil)
	e.AllowViolations() // this test provokes them
	ctx := context.Background()
	c := e.Client()
	img, _ := random.Image(512, 1)
	dgst, _ := img.Digest()
	auth := remote.WithAuth(&authn.Basic{Username: e.Username, Password: e.Password})
	ref, _ := name.ParseReference(e.Host+"/app/web:1.0", name.Insecure)

	// A push to a repository that was never created is refused.
	if err := remote.Write(ref, img, auth); err == nil || !strings.Contains(err.Error(), "NAME_UNKNOWN") {
		t.Fatalf("push to a missing repository: got %v, want NAME_UNKNOWN", err)
	}
	if len(e.Violations()) == 0 {
		t.Fatal("the refused push was not recorded as a violation")
	}

	_, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{
		RepositoryName: aws.String("app/web"), ImageTagMutability: ecrtypes.ImageTagMutabilityImmutable,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, auth); err != nil {
		t.Fatalf("push: %v", err)
	}
	got, err := c.BatchGetImage(ctx, &ecr.BatchGetImageInput{
		RepositoryName: aws.String("app/web"), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("1.0")}},
	})
	if err != nil || len(got.Images) != 1 {
		t.Fatalf("BatchGetImage after push: %v %+v", err, got)
	}
	if d := aws.ToString(got.Images[0].ImageId.ImageDigest); d != dgst.String() {
		t.Fatalf("ECR API sees digest %s, pushed %s", d, dgst)
	}

	// Pushing the same tag again on an IMMUTABLE repository is refused, same digest or not.
	// (go-containerregistry skips a manifest the registry already has, so PUT it by hand.)
	before := len(e.Violations())
	raw, _ := img.RawManifest()
	mt, _ := img.MediaType()
	req, _ := http.NewRequest(http.MethodPut, "http://"+e.Host+"/v2/app/web/manifests/1.0", bytes.NewReader(raw))
	req.Header.Set("Content-Type", string(mt))
	req.SetBasicAuth(e.Username, e.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "TAG_INVALID") {
		t.Fatalf("push of an existing tag: got %d %s, want 400 TAG_INVALID", resp.StatusCode, body)
	}
	if len(e.Violations()) != before+1 {
		t.Fatalf("violations: %v", e.Violations())
	}
}
