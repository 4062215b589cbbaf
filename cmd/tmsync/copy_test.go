package main

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tmsync/tmsync/internal/releasetest"
)

func TestCopyCommandKeepsIndexDigest(t *testing.T) {
	quiet := registry.Logger(log.New(io.Discard, "", 0))
	src, dst := httptest.NewServer(registry.New(quiet)), httptest.NewServer(registry.New(quiet))
	defer src.Close()
	defer dst.Close()
	sh, dh := strings.TrimPrefix(src.URL, "http://"), strings.TrimPrefix(dst.URL, "http://")
	im := releasetest.Image{Repository: "grafana/grafana", Tag: "10.0", Layers: 1, LayerSize: 2048, Index: true}
	if err := releasetest.Push(context.Background(), releasetest.Registry{Host: sh}, &im, 3); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code := run(context.Background(), []string{"tmsync", "copy", "--insecure-registry", sh, "--insecure-registry", dh,
		sh + "/grafana/grafana@" + im.Digest, dh + "/3rdparty/tm/restricted/grafana:vault-5.0.3"}, &out, &out)
	if code != 0 {
		t.Fatalf("copy: exit %d\n%s", code, out.String())
	}
	ref, _ := name.ParseReference(dh+"/3rdparty/tm/restricted/grafana:vault-5.0.3", name.Insecure)
	d, err := remote.Head(ref)
	if err != nil || d.Digest.String() != im.Digest {
		t.Fatalf("target digest %v %v, want %s", d, err, im.Digest)
	}
	// Copying by a digest the source does not have fails with status 1.
	code = run(context.Background(), []string{"tmsync", "copy", "--insecure-registry", sh, "--insecure-registry", dh,
		sh + "/grafana/grafana@sha256:" + strings.Repeat("0", 64), dh + "/x:1"}, &out, &out)
	if code != 1 {
		t.Fatalf("copy of a missing image: exit %d, want 1", code)
	}
	if code := run(context.Background(), []string{"tmsync", "copy", "only-one"}, &out, &out); code != 2 {
		t.Fatalf("copy with one argument: exit %d, want 2", code)
	}
}
