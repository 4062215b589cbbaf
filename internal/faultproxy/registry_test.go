package faultproxy_test

import (
	"errors"
	"io"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tmsync/tmsync/internal/faultproxy"
	"github.com/tmsync/tmsync/internal/testbed"
)

// A push through a clean proxy to a real registry arrives whole (Host is kept, so the
// registry's upload Locations lead back through the proxy); a blob pulled through a
// cutting proxy arrives short; with the faults turned off it arrives whole.
func TestRealRegistryThroughProxy(t *testing.T) {
	reg := testbed.StartRegistry(t, testbed.RegistryOptions{Username: "_tm", Password: "s3cret"})
	auth := remote.WithAuth(&authn.Basic{Username: reg.Username, Password: reg.Password})
	p := faultproxy.Start(t, reg.Host, faultproxy.Config{Seed: 9})

	img, err := random.Image(256<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(p.Host+"/vault/core:1.0", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, auth); err != nil {
		t.Fatalf("push through a clean proxy: %v", err)
	}
	if st := p.Stats(); st.Faults() != 0 || st.Forwarded != st.Requests {
		t.Fatalf("clean proxy stats %+v", st)
	}

	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	digest, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	layerRef, err := name.NewDigest(p.Host+"/vault/core@"+digest.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	err = p.SetConfig(faultproxy.Config{Seed: 9, CutRate: 1, Match: faultproxy.IsBlobDownload})
	if err != nil {
		t.Fatal(err)
	}
	n, err := pullLayer(layerRef, auth)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("pull through a cutting proxy: %d bytes, error %v; want unexpected EOF", n, err)
	}
	faults := p.Faults()
	if len(faults) == 0 || faults[0].Kind != faultproxy.KindCut || faults[0].Status != 200 {
		t.Fatalf("faults %+v, want a cut of a 200", faults)
	}
	t.Logf("cut after %d of %d bytes; client read %d", faults[0].Sent, faults[0].Size, n)

	if err := p.SetConfig(faultproxy.Config{}); err != nil {
		t.Fatal(err)
	}
	size, _ := layers[0].Size()
	if n, err := pullLayer(layerRef, auth); err != nil || n != size {
		t.Fatalf("pull with faults off: %d bytes of %d, %v", n, size, err)
	}
}

// pullLayer reads a layer's compressed bytes through the registry API and returns how
// many arrived.
func pullLayer(ref name.Digest, opts ...remote.Option) (int64, error) {
	l, err := remote.Layer(ref, opts...)
	if err != nil {
		return 0, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.Copy(io.Discard, rc)
}
