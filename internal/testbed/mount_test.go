package testbed_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tmsync/tmsync/internal/faultproxy"
	"github.com/tmsync/tmsync/internal/testbed"
)

type ecrBed struct {
	t *testing.T
	e *testbed.ECR
}

func (b ecrBed) auth() remote.Option {
	return remote.WithAuth(&authn.Basic{Username: b.e.Username, Password: b.e.Password})
}

func (b ecrBed) create(repo string, enc *ecrtypes.EncryptionConfiguration) {
	b.t.Helper()
	_, err := b.e.Client().CreateRepository(context.Background(), &ecr.CreateRepositoryInput{
		RepositoryName: aws.String(repo), EncryptionConfiguration: enc})
	if err != nil {
		b.t.Fatal(err)
	}
}

func (b ecrBed) push(repo string, img v1.Image) {
	b.t.Helper()
	ref, err := name.ParseReference(b.e.Host+"/"+repo+":1.0", name.Insecure)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := remote.Write(ref, img, b.auth()); err != nil {
		b.t.Fatalf("pushing %s: %v", repo, err)
	}
}

// mount asks for a mount with the query given as is, and returns the status.
func (b ecrBed) mount(repo, query string) int {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+b.e.Host+"/v2/"+repo+"/blobs/uploads/?"+query, nil)
	req.SetBasicAuth(b.e.Username, b.e.Password)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// has reports whether repo serves blob.
func (b ecrBed) has(repo string, blob v1.Hash) bool {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodHead, "http://"+b.e.Host+"/v2/"+repo+"/blobs/"+blob.String(), nil)
	req.SetBasicAuth(b.e.Username, b.e.Password)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

func firstLayer(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	d, err := ls[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mountQuery(blob v1.Hash, from string) string {
	return url.Values{"mount": {blob.String()}, "from": {from}}.Encode()
}

func TestECRMountRules(t *testing.T) {
	b := ecrBed{t: t, e: testbed.StartECR(t, nil)}
	ctx := context.Background()
	kms := &ecrtypes.EncryptionConfiguration{EncryptionType: ecrtypes.EncryptionTypeKms, KmsKey: aws.String("arn:aws:kms:us-east-1:123456789012:key/one")}
	for _, r := range []string{"vault/a", "vault/b", "vault/uncommitted", "vault/idx"} {
		b.create(r, nil)
	}
	b.create("vault/kms", kms)
	img, _ := random.Image(4096, 2)
	layer := firstLayer(t, img)
	b.push("vault/a", img)
	b.push("vault/kms", img)
	if !b.e.Committed("vault/a", layer.String()) {
		t.Fatal("the pushed manifest's layer is not recorded as committed")
	}
	// The blob alone, with no manifest, in another repository: the registry holds it
	// there, but ECR would not mount it.
	ref, _ := name.NewRepository(b.e.Host+"/vault/uncommitted", name.Insecure)
	ls, _ := img.Layers()
	if err := remote.WriteLayer(ref, ls[0], b.auth()); err != nil {
		t.Fatal(err)
	}
	if !b.has("vault/uncommitted", layer) || b.e.Committed("vault/uncommitted", layer.String()) {
		t.Fatal("setup: the uncommitted blob")
	}

	// A new account: mounting is off. The mount is an upload session; nothing mounted.
	got, err := b.e.Client().GetAccountSetting(ctx, &ecr.GetAccountSettingInput{Name: aws.String("BLOB_MOUNTING")})
	if err != nil || aws.ToString(got.Value) != "DISABLED" {
		t.Fatalf("GetAccountSetting: %+v, %v", got, err)
	}
	if s := b.mount("vault/b", mountQuery(layer, "vault/a")); s != http.StatusAccepted {
		t.Fatalf("mount with mounting off: %d, want 202", s)
	}
	if b.has("vault/b", layer) {
		t.Fatal("mounted with mounting off")
	}

	// PutAccountSetting through the SDK turns it on.
	if _, err := b.e.Client().PutAccountSetting(ctx, &ecr.PutAccountSettingInput{Name: aws.String("BLOB_MOUNTING"), Value: aws.String("ENABLED")}); err != nil {
		t.Fatal(err)
	}
	if !b.e.BlobMounting() {
		t.Fatal("PutAccountSetting ENABLED did not turn mounting on")
	}
	_, err = b.e.Client().PutAccountSetting(ctx, &ecr.PutAccountSettingInput{Name: aws.String("BLOB_MOUNTING"), Value: aws.String("on")})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ValidationException" || !b.e.BlobMounting() {
		t.Fatalf("PutAccountSetting on: %v", err)
	}

	for _, tc := range []struct{ from, query, want string }{
		{"uncommitted", mountQuery(layer, "vault/uncommitted"), testbed.MountNotCommitted},
		{"other encryption", mountQuery(layer, "vault/kms"), testbed.MountOtherEncrypt},
		{"missing repository", mountQuery(layer, "vault/none"), testbed.MountNoSource},
		{"no from", url.Values{"mount": {layer.String()}}.Encode(), testbed.MountNoSource},
	} {
		before := len(b.e.Traffic().Mounts)
		if s := b.mount("vault/b", tc.query); s != http.StatusAccepted {
			t.Errorf("%s: %d, want 202", tc.from, s)
		}
		if b.has("vault/b", layer) {
			t.Fatalf("%s: mounted", tc.from)
		}
		m := b.e.Traffic().Mounts
		if len(m) != before+1 || m[before].Outcome != tc.want {
			t.Errorf("%s: mounts %+v, want outcome %q", tc.from, m[before:], tc.want)
		}
	}

	// From a committed image: mounted. The parameters in the other order too.
	if s := b.mount("vault/b", "from=vault%2Fa&mount="+url.QueryEscape(layer.String())); s != http.StatusCreated {
		t.Fatalf("mount from a committed manifest: %d, want 201", s)
	}
	if !b.has("vault/b", layer) {
		t.Fatal("201 but the blob is not there")
	}

	// An index: the children pushed into the repository make their layers mountable.
	idx, _ := random.Index(2048, 1, 2)
	ir, _ := name.ParseReference(b.e.Host+"/vault/idx:1.0", name.Insecure)
	if err := remote.WriteIndex(ir, idx, b.auth()); err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	child, _ := idx.Image(im.Manifests[1].Digest)
	childLayer := firstLayer(t, child)
	b.create("vault/c", nil)
	if s := b.mount("vault/c", mountQuery(childLayer, "vault/idx")); s != http.StatusCreated || !b.has("vault/c", childLayer) {
		t.Fatalf("mount of an index child's layer: %d", s)
	}

	// Off again: no more mounts, those made stay.
	b.e.SetBlobMounting(false)
	b.create("vault/d", nil)
	if s := b.mount("vault/d", mountQuery(layer, "vault/a")); s != http.StatusAccepted || b.has("vault/d", layer) {
		t.Fatalf("mount after turning it off: %d", s)
	}
	if !b.has("vault/b", layer) {
		t.Fatal("turning mounting off removed a mounted blob")
	}
	tr := b.e.Traffic()
	if len(tr.Mounts) != 8 || tr.MountsDone() != 2 {
		t.Fatalf("mounts %+v", tr.Mounts)
	}
	if tr.Mounts[0].Outcome != testbed.MountOff || tr.Mounts[7].Outcome != testbed.MountOff {
		t.Fatalf("mounts %+v", tr.Mounts)
	}
}

func blobSizes(t *testing.T, img v1.Image) (total int64, n int) {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	total = m.Config.Size
	for _, l := range m.Layers {
		total += l.Size
	}
	return total, 1 + len(m.Layers)
}

// The counters are exact for known pushes and pulls.
func TestTrafficCounters(t *testing.T) {
	b := ecrBed{t: t, e: testbed.StartECR(t, nil)}
	b.create("vault/a", nil)
	b.create("vault/b", nil)
	img, _ := random.Image(100_000, 3)
	size, n := blobSizes(t, img)
	b.push("vault/a", img)
	tr := b.e.Traffic()
	if tr.UploadedBytes != size || tr.Uploaded["vault/a"] != size {
		t.Fatalf("uploaded %d (%v), pushed %d bytes of blobs", tr.UploadedBytes, tr.Uploaded, size)
	}
	b.push("vault/a", img) // all there: nothing uploaded
	b.push("vault/b", img) // mounting off, no mount asked: all again
	tr = b.e.Traffic()
	if tr.UploadedBytes != 2*size || tr.Uploaded["vault/b"] != size || len(tr.Mounts) != 0 {
		t.Fatalf("after the second repository: %+v, want %d", tr, 2*size)
	}
	b.e.ResetTraffic()
	if tr := b.e.Traffic(); tr.UploadedBytes != 0 || len(tr.Uploaded) != 0 {
		t.Fatalf("after ResetTraffic: %+v", tr)
	}

	// The vendor side: what is pulled through the proxy, exactly; pushes straight to
	// the registry are not counted.
	v := testbed.StartVendor(t, testbed.RegistryOptions{}, faultproxy.Config{})
	direct, _ := name.ParseReference(v.Registry.Ref("vault/core:1.0"), name.Insecure)
	if err := remote.Write(direct, img); err != nil {
		t.Fatal(err)
	}
	if v.Egress() != 0 {
		t.Fatalf("egress %d after a direct push", v.Egress())
	}
	for range 2 {
		ref, _ := name.ParseReference(v.Ref("vault/core:1.0"), name.Insecure)
		pulled, err := remote.Image(ref)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pulled.ConfigFile(); err != nil {
			t.Fatal(err)
		}
		ls, _ := pulled.Layers()
		for _, l := range ls {
			rc, err := l.Compressed()
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, rc)
			rc.Close()
		}
	}
	// The proxy counts a body when its copy to the client ends, which can be a moment
	// after the client has read the last byte: wait for it (bounded) before comparing.
	for deadline := time.Now().Add(5 * time.Second); v.Egress() < 2*size && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	st := v.Proxy.Stats()
	if v.Egress() != 2*size || len(st.Blobs) != n {
		t.Fatalf("egress %d over %d blobs, want %d over %d", v.Egress(), len(st.Blobs), 2*size, n)
	}
	for k, c := range st.Blobs {
		if k.Repository != "vault/core" || c.Gets != 2 {
			t.Fatalf("blob %+v: %+v", k, c)
		}
	}
}

// A fault proxy in front of the ECR stand-in (target-side faults) keeps Host, so upload
// Locations lead back through it; what it lets through is counted by the stand-in once.
func TestFaultProxyInFrontOfECR(t *testing.T) {
	b := ecrBed{t: t, e: testbed.StartECR(t, nil)}
	b.create("vault/a", nil)
	p := faultproxy.Start(t, b.e.Host, faultproxy.Config{Seed: 1, ErrorRate: 1, MaxFaults: 1,
		Match: func(r *http.Request) bool { return r.Method == http.MethodPatch || r.Method == http.MethodPut }})
	img, _ := random.Image(50_000, 2)
	size, _ := blobSizes(t, img)
	ref, _ := name.ParseReference(p.Host+"/vault/a:1.0", name.Insecure)
	// go-containerregistry retries the failed upload request itself.
	if err := remote.Write(ref, img, b.auth()); err != nil {
		t.Fatalf("push through the fault proxy: %v", err)
	}
	if st := p.Stats(); st.Faults() != 1 {
		t.Fatalf("faults %+v", p.Faults())
	}
	if got := b.e.Traffic().UploadedBytes; got != size {
		t.Fatalf("uploaded %d, want %d: the failed request never reached the stand-in", got, size)
	}
	if !b.e.Committed("vault/a", firstLayer(t, img).String()) {
		t.Fatal("not committed")
	}
}
