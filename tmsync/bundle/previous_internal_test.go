package bundle

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
)

// countingHas holds what it is given and counts the questions, by repository and blob.
type countingHas struct {
	holds map[string]bool // "repo@digest"
	asked map[string]int
	err   error
}

func (c *countingHas) Has(_ context.Context, repo string, d digest.Digest) (bool, error) {
	k := repo + "@" + d.String()
	c.asked[k]++
	return c.holds[k], c.err
}

// TestCheckExternalAsksOncePerRepository: tags of one repository share their external
// blobs, and the target is asked once per repository and blob (not per tag); another
// repository with the same blob is asked on its own, since a blob held in one ECR
// repository is not in another. The answer, held or not, is the same for every tag.
func TestCheckExternalAsksOncePerRepository(t *testing.T) {
	base, own, gone := digest.FromString("base"), digest.FromString("own"), digest.FromString("gone")
	ext := func(ds ...digest.Digest) []Blob {
		var out []Blob
		for _, d := range ds {
			out = append(out, Blob{Digest: d, Size: 10, External: true})
		}
		return append(out, Blob{Digest: digest.FromString("in the bundle"), Size: 1})
	}
	b := &Bundle{m: &Manifest{Images: []ImageRecord{
		{Name: "vault/core:5.0", Blobs: ext(base, own, gone)},
		{Name: "vault/core:5.0-debug", Blobs: ext(base, own, gone)},
		{Name: "vault/core:latest", Blobs: ext(base, gone)},
		{Name: "vault/api:5.0", Blobs: ext(base)},
	}}}
	target := &countingHas{holds: map[string]bool{
		"vault/core@" + base.String(): true, "vault/core@" + own.String(): true,
		// vault/api does not hold base: a mount from vault/core is not a blob in vault/api.
	}, asked: map[string]int{}}
	missing, err := b.CheckExternal(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	for k, n := range target.asked {
		if n != 1 {
			t.Errorf("the target was asked %d times for %s, want once", n, k)
		}
	}
	if len(target.asked) != 4 {
		t.Errorf("the target was asked about %d repository blobs, want 4: %v", len(target.asked), target.asked)
	}
	var got []string
	for _, m := range missing {
		got = append(got, m.Image+" "+m.Digest.String())
	}
	want := []string{"vault/core:5.0 " + gone.String(), "vault/core:5.0-debug " + gone.String(),
		"vault/core:latest " + gone.String(), "vault/api:5.0 " + base.String()}
	if !slices.Equal(got, want) {
		t.Errorf("missing %v, want %v", got, want)
	}
	// An error of the target is returned as it is, naming the blob and repository.
	boom := errors.New("registry down")
	if _, err := b.CheckExternal(context.Background(), &countingHas{asked: map[string]int{}, err: boom}); !errors.Is(err, boom) {
		t.Errorf("the target's error: %v, want it wrapped", err)
	}
}
