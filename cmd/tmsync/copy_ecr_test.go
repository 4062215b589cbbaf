package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/tmsync/tmsync/internal/releasetest"
)

// TestCopyLogsInToECR: tmsync copy to an ECR registry logs in itself with
// GetAuthorizationToken (moto behind the test ECR registry), no docker login or auth file;
// without the login the same copy is refused, and the ECR password is never printed.
func TestCopyLogsInToECR(t *testing.T) {
	b := newBed(t)
	im := releasetest.Image{Repository: "grafana/grafana", Tag: "10.0", Layers: 1, LayerSize: 2048}
	// The image is on the upstream registry, which needs no login.
	must(t, releasetest.Push(context.Background(), releasetest.Registry{Host: b.upstream.Host}, &im, 11))
	_, err := ecr.NewFromConfig(b.ecr.Moto.Config()).CreateRepository(context.Background(),
		&ecr.CreateRepositoryInput{RepositoryName: aws.String("3rdparty/tm/restricted/grafana")})
	must(t, err)
	dest := b.ecr.Host + "/3rdparty/tm/restricted/grafana:vault-5.0.3"
	base := []string{"tmsync", "copy", "--insecure-registry", b.upstream.Host, "--insecure-registry", b.ecr.Host}
	var out bytes.Buffer
	code := run(context.Background(), append(base, b.upstream.Host+"/grafana/grafana@"+im.Digest, dest), &out, &out)
	if code == 0 || !strings.Contains(out.String(), "authentication required") {
		t.Fatalf("copy without an ECR login: exit %d: the registry does not check logins\n%s", code, out.String())
	}
	out.Reset()
	code = run(context.Background(), append(base, "--ecr-registry", b.ecr.Host, b.upstream.Host+"/grafana/grafana@"+im.Digest, dest), &out, &out)
	t.Logf("copy: exit %d\n%s", code, out.String())
	if code != 0 {
		t.Fatalf("copy with the ECR login: exit %d", code)
	}
	if got := b.targetDigest("3rdparty/tm/restricted/grafana", "vault-5.0.3"); got != im.Digest {
		t.Errorf("target digest %s, want %s", got, im.Digest)
	}
	if strings.Contains(out.String(), b.ecr.Password) {
		t.Errorf("the ECR password was printed")
	}
}
