package bundle_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/internal/testbed"
	"github.com/tmsync/tmsync/tmsync/bundle"
)

// registryHas asks a registry whether a repository holds a blob (HEAD), as the engine
// asks the target.
type registryHas struct {
	host  string
	calls int
}

func (r *registryHas) Has(ctx context.Context, repo string, d digest.Digest) (bool, error) {
	r.calls++
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, fmt.Sprintf("http://%s/v2/%s/blobs/%s", r.host, repo, d), nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, nil
}

type hasNothing struct{ asked []string }

func (h *hasNothing) Has(_ context.Context, repo string, d digest.Digest) (bool, error) {
	h.asked = append(h.asked, repo+"@"+string(d))
	return false, nil
}

func TestIncremental(t *testing.T) {
	signer, err := attesttest.NewSigner("vendor attestor")
	if err != nil {
		t.Fatal(err)
	}
	op := operatorVerifier(t, signer)
	root := t.TempDir()
	dir1, dir2, dir3 := filepath.Join(root, "b1"), filepath.Join(root, "b2"), filepath.Join(root, "b3")
	// Per image the bundle carries about 6 KB of metadata (attestation 2.7 KB, bundle.json,
	// manifest, config): the 1% target holds for layers of a realistic size, not tiny ones.
	const n, layer = 10, 8 << 20
	var changedBytes int64
	var m2, m3 *bundle.Manifest
	withVendor(t, signer, func(t *testing.T, v *vendor) {
		ctx := context.Background()
		r1 := make([]releasetest.Image, n)
		for i := range r1 {
			r1[i] = releasetest.Image{Repository: fmt.Sprintf("vault/svc%02d", i), Tag: "5.0.3", Layers: 1, LayerSize: layer}
			if err := releasetest.Push(ctx, v.registry(), &r1[i], int64(100+i)); err != nil {
				t.Fatal(err)
			}
		}
		// Release 5.1.0 changes one image of ten: 10% of the layers.
		r2 := slices.Clone(r1)
		for i := range r2 {
			r2[i].Tag = "5.1.0"
			seed := int64(100 + i)
			if i == 4 {
				seed = 9999
			}
			if err := releasetest.Push(ctx, v.registry(), &r2[i], seed); err != nil {
				t.Fatal(err)
			}
		}
		changedBytes = layer
		v.attestAll(t, r1)
		v.attestAll(t, r2)
		v.export(t, "5.0.3", r1, dir1, nil)
		prev, err := bundle.ReadPrevious(dir1)
		if err != nil {
			t.Fatal(err)
		}
		var st bundle.ExportStats
		m2, st, _ = v.export(t, "5.1.0", r2, dir2, prev)
		if st.Fetched != n+1 || st.External != n-1 {
			t.Errorf("incremental export fetched %d blobs, left out %d; want %d (the configs and a layer), %d", st.Fetched, st.External, n+1, n-1)
		}
		// --since a release folder: the blobs are listed from the vendor's manifests.
		var refs []types.ImageReference
		for _, im := range r1 {
			refs = append(refs, dockerRef(t, v.reg.Ref(im.Repository)+"@"+im.Digest))
		}
		prevRel, err := bundle.PreviousFromImages(ctx, []string{"5.0.3"}, "", refs, insecure)
		if err != nil {
			t.Fatal(err)
		}
		m3, _, _ = v.export(t, "5.1.0", r2, dir3, prevRel)
	})
	if !slices.Equal(m2.External, m3.External) || len(m2.External) != n-1 {
		t.Errorf("external blobs since a bundle (%d) and since a release folder (%d) differ", len(m2.External), len(m3.External))
	}
	if m2.Since == nil || m2.Since.Bundle == "" || m3.Since == nil || !slices.Equal(m3.Since.Releases, []string{"5.0.3"}) {
		t.Errorf("since records: %+v, %+v", m2.Since, m3.Since)
	}
	size := dirBytes(t, dir2)
	for _, f := range m2.Files {
		if !strings.HasPrefix(f.Path, "blobs/") || f.Size < 64<<10 {
			t.Logf("  %s %d", f.Path, f.Size)
		}
	}
	t.Logf("  bundle.json %d, SHA256SUMS %d", fileSize(t, filepath.Join(dir2, bundle.ManifestFile)), fileSize(t, filepath.Join(dir2, bundle.SumsFile)))
	over := float64(size-changedBytes) / float64(changedBytes)
	t.Logf("incremental bundle %d bytes for %d bytes of changed layers: +%.3f%%", size, changedBytes, over*100)
	if over > 0.01 {
		t.Errorf("incremental bundle is %.2f%% over the changed layers (target ≤ 1%%)", over*100)
	}

	b1, s1 := openVerify(t, dir1, op)
	b2, s2 := openVerify(t, dir2, op)
	if s1.ExitCode() != 0 || s2.ExitCode() != 0 || !s2.Incremental || s2.External != n-1 {
		t.Fatalf("verify: %v; %v; incremental %v, external %d", s1.Err(), s2.Err(), s2.Incremental, s2.External)
	}
	ctx := context.Background()
	none := &hasNothing{}
	missing, err := b2.CheckExternal(ctx, none)
	if err != nil || len(missing) != n-1 || len(none.asked) != n-1 {
		t.Fatalf("CheckExternal against an empty target: %d missing, %d asked, %v", len(missing), len(none.asked), err)
	}
	if !strings.Contains(missing[0].String(), string(missing[0].Digest)) || !strings.HasPrefix(none.asked[0], "vault/svc") {
		t.Errorf("missing: %s; asked %s", missing[0], none.asked[0])
	}
	if missing, err := b2.CheckExternal(ctx, nil, b1); err != nil || len(missing) != 0 {
		t.Errorf("CheckExternal with the earlier bundle: %v %v", missing, err)
	}

	// Import 5.0.3, then 5.1.0 from the incremental bundle: the target has the rest.
	target := testbed.StartRegistry(t, testbed.RegistryOptions{})
	has := &registryHas{host: target.Host}
	if missing, _ := b2.CheckExternal(ctx, has); len(missing) != n-1 {
		t.Errorf("before 5.0.3 is imported: %d missing", len(missing))
	}
	importAll(t, b1, s1, target)
	if missing, err := b2.CheckExternal(ctx, has); err != nil || len(missing) != 0 {
		t.Fatalf("after 5.0.3 is imported: %v %v", missing, err)
	}
	importAll(t, b2, s2, target)

	// Into an empty target, with the earlier bundle supplying what was left out.
	target2 := testbed.StartRegistry(t, testbed.RegistryOptions{})
	importAll(t, b2, s2, target2, b1)
}

func fileSize(t testing.TB, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
