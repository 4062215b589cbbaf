package schedule

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
)

func b(name string, size int64) Blob { return Blob{Digest: digest.FromString(name), Size: size} }

func img(blobs ...Blob) Image { return Image{Repository: "r", Blobs: blobs} }

func TestShapes(t *testing.T) {
	base, mid := b("base", 100<<20), b("mid", 30<<20)
	for _, tc := range []struct {
		name    string
		images  []Image
		leaders []int
		waves   [][]int
		after   map[int][]int // images with a wait; the others have none
	}{
		{
			name:   "empty",
			images: nil,
		},
		{
			name:   "disjoint: one wave, nobody waits",
			images: []Image{img(b("a", 5)), img(b("b", 9)), img(b("c", 7))},
			waves:  [][]int{{1, 2, 0}},
		},
		{
			name:   "a blob in only one image, twice in it, is not shared",
			images: []Image{img(b("a", 5), b("a", 5), b("x", 1)), img(b("y", 3))},
			waves:  [][]int{{0, 1}},
		},
		{
			name: "an index whose children share layers, and one other image with the base",
			// Image 0 is an index: both children carry base; that alone shares nothing.
			// Image 1 carries base too: the smaller of the two leads.
			images:  []Image{img(base, b("amd", 10), base, b("arm", 10)), img(base, b("own", 1))},
			leaders: []int{1},
			waves:   [][]int{{1}, {0}},
			after:   map[int][]int{0: {1}},
		},
		{
			name: "one image carries every shared blob: it alone leads",
			images: []Image{
				img(base, b("y", 1)), img(mid, b("z", 1)), img(base, mid, b("x", 1)), img(base, b("w", 1)),
			},
			leaders: []int{2},
			waves:   [][]int{{2}, {0, 1, 3}}, // each pushes 1 byte itself: ties by index
			after:   map[int][]int{0: {2}, 1: {2}, 3: {2}},
		},
		{
			name: "fewest leaders: one covering both groups beats one per group",
			images: []Image{
				img(b("p", 10), b("own1", 1)), img(b("q", 10), b("own2", 1)), img(b("p", 10), b("q", 10), b("big", 500)),
			},
			leaders: []int{2},
			waves:   [][]int{{2}, {0, 1}},
			after:   map[int][]int{0: {2}, 1: {2}},
		},
		{
			name: "two separate groups lead in parallel",
			images: []Image{
				img(b("p", 10), b("a", 50)), img(b("p", 10), b("b", 1)), img(b("q", 20), b("c", 1)), img(b("q", 20), b("d", 50)),
			},
			leaders: []int{2, 1},
			waves:   [][]int{{2, 1}, {0, 3}},
			after:   map[int][]int{0: {1}, 3: {2}},
		},
		{
			name: "a second leader that carries the first one's big blob waits for it",
			images: []Image{
				img(base, mid, b("a", 1)), // leads: most shared bytes
				img(base, b("s", 5), b("b", 1)),
				img(b("s", 5), b("c", 1)),
				img(mid, b("d", 1)),
			},
			leaders: []int{0, 2},
			waves:   [][]int{{0, 2}, {1, 3}},
			after:   map[int][]int{1: {0, 2}, 3: {0}},
		},
		{
			name: "a second leader carrying the first one's big base waits for it",
			images: []Image{
				img(base, b("m1", 50)), img(base, b("m2", 40)), img(base, b("m1", 50), b("z", 1)), img(base, b("m2", 40), b("w", 1)),
			},
			leaders: []int{0, 1},
			waves:   [][]int{{0}, {1, 2}, {3}}, // 1 leads 3: it starts first
			after:   map[int][]int{1: {0}, 2: {0}, 3: {0, 1}},
		},
		{
			name: "leaders sharing a small layer run in parallel",
			images: []Image{
				img(b("deb", 1000), b("tools", 5), b("a", 1)), img(b("ubi", 900), b("tools", 5), b("b", 1)),
				img(b("deb", 1000), b("c", 1)), img(b("ubi", 900), b("tools", 5), b("d", 1)),
			},
			leaders: []int{0, 1},
			waves:   [][]int{{0, 1}, {2, 3}},
			after:   map[int][]int{2: {0}, 3: {0, 1}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Make(tc.images)
			check(t, tc.images, p)
			if !reflect.DeepEqual(p.Leaders, tc.leaders) {
				t.Errorf("leaders %v, want %v", p.Leaders, tc.leaders)
			}
			if !reflect.DeepEqual(p.Waves, tc.waves) {
				t.Errorf("waves %v, want %v", p.Waves, tc.waves)
			}
			for i := range tc.images {
				want := tc.after[i]
				if len(want) == 0 && len(p.After[i]) == 0 {
					continue
				}
				if !reflect.DeepEqual(p.After[i], want) {
					t.Errorf("image %d waits for %v, want %v", i, p.After[i], want)
				}
			}
		})
	}
}

// check holds the plan's invariants for any input.
func check(t *testing.T, images []Image, p Plan) {
	t.Helper()
	carriers := map[digest.Digest]map[int]bool{}
	for i, im := range images {
		for _, bl := range im.Blobs {
			if carriers[bl.Digest] == nil {
				carriers[bl.Digest] = map[int]bool{}
			}
			carriers[bl.Digest][i] = true
		}
	}
	for d, c := range carriers {
		o, owned := p.Owner[d]
		if len(c) > 1 != owned {
			t.Fatalf("blob in %d images: owned %v", len(c), owned)
		}
		if owned && !c[o] {
			t.Fatalf("blob owned by image %d that does not carry it", o)
		}
		if owned && !slices.Contains(p.Leaders, o) {
			t.Fatalf("owner %d is not a leader", o)
		}
	}
	// Every image waits for the owners of the blobs it carries, except leaders that
	// upload them again within the duplicate budget.
	var dup int64
	for i, im := range images {
		seen := map[digest.Digest]bool{}
		for _, bl := range im.Blobs {
			o, owned := p.Owner[bl.Digest]
			if !owned || o == i || seen[bl.Digest] || slices.Contains(p.After[i], o) {
				continue
			}
			seen[bl.Digest] = true
			if !slices.Contains(p.Leaders, i) {
				t.Fatalf("image %d carries a blob of %d but does not wait for it", i, o)
			}
			dup += bl.Size
		}
	}
	if dup != p.DuplicateBytes || float64(dup) > 0.02*float64(p.DistinctBytes) {
		t.Fatalf("duplicate bytes %d, plan says %d, budget %v", dup, p.DuplicateBytes, 0.02*float64(p.DistinctBytes))
	}
	for i, deps := range p.After {
		for _, j := range deps {
			shares := false
			for d, o := range p.Owner {
				if o == j && carriers[d][i] {
					shares = true
				}
			}
			if !shares || j == i {
				t.Fatalf("image %d waits for %d without a reason", i, j)
			}
		}
	}
	wave := map[int]int{}
	for k, w := range p.Waves {
		for _, i := range w {
			if _, dup := wave[i]; dup {
				t.Fatalf("image %d in two waves", i)
			}
			wave[i] = k
		}
	}
	if len(wave) != len(images) {
		t.Fatalf("waves hold %d of %d images", len(wave), len(images))
	}
	for i, deps := range p.After {
		for _, j := range deps {
			if wave[j] >= wave[i] {
				t.Fatalf("image %d (wave %d) waits for %d (wave %d)", i, wave[i], j, wave[j])
			}
		}
	}
	if len(p.Order()) != len(images) {
		t.Fatal("order misses images")
	}
}

// Random releases: the invariants hold, and a release built like a vendor's (every
// image on one of a few bases) needs no more leaders than bases and two waves.
func TestRandomShapes(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for n := range 300 {
		var images []Image
		pool := 1 + r.IntN(12)
		for range r.IntN(25) {
			var im Image
			for range r.IntN(6) {
				k := r.IntN(pool)
				im.Blobs = append(im.Blobs, b(fmt.Sprint("pool", k), int64(1+k*k)))
			}
			im.Blobs = append(im.Blobs, b(fmt.Sprint("own", n, len(images)), int64(1+r.IntN(100))))
			images = append(images, im)
		}
		check(t, images, Make(images))
	}
	bases := []Blob{b("deb", 80), b("ubi", 120), b("alpine", 5)}
	var images []Image
	for i := range 100 {
		images = append(images, img(bases[i%3], b("tools", 7), b(fmt.Sprint("app", i), int64(10+i))))
	}
	p := Make(images)
	check(t, images, p)
	if len(p.Leaders) > 3 || len(p.Waves) != 2 || p.DuplicateBytes != 14 {
		t.Fatalf("vendor-like release: %d leaders, %d waves, %d duplicate bytes", len(p.Leaders), len(p.Waves), p.DuplicateBytes)
	}
	// With no duplicates allowed, the leaders wait for each other.
	if s := MakeWith(images, Options{DuplicateShare: -1}); len(s.Waves) != 3 || s.DuplicateBytes != 0 {
		t.Fatalf("strict: %d waves, %d duplicate bytes", len(s.Waves), s.DuplicateBytes)
	}
}

// TestOrder: the copies others wait for start first (the more waiting, the sooner), then
// the larger ones by the bytes they push themselves (not counting what they mount).
func TestOrder(t *testing.T) {
	base := b("base", 100)
	images := []Image{
		img(b("big", 900)),                   // 0: alone, the largest
		img(base, b("own1", 500)),            // 1: waits for the leader; pushes 500 itself
		img(base, b("tools", 10), b("x", 1)), // 2: leads base and tools: 2 wait for it
		img(base, b("tools", 10), b("y", 5)), // 3: pushes 5 itself
		img(b("small", 3)),                   // 4: alone, small
	}
	p := Make(images)
	if !reflect.DeepEqual(p.Leaders, []int{2}) {
		t.Fatalf("leaders %v", p.Leaders)
	}
	if want := []int{0, 0, 2, 0, 0}; !reflect.DeepEqual(p.Blocks, want) {
		t.Fatalf("blocks %v, want %v", p.Blocks, want)
	}
	if want := []int64{900, 500, 111, 5, 3}; !reflect.DeepEqual(p.Own, want) {
		t.Fatalf("own %v, want %v", p.Own, want)
	}
	if got, want := p.Order(), []int{2, 0, 1, 3, 4}; !reflect.DeepEqual(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	if got, want := p.Rank(), []int{1, 2, 0, 3, 4}; !reflect.DeepEqual(got, want) {
		t.Fatalf("rank %v, want %v", got, want)
	}
	// Waits in a chain: 1, 2 and 3 wait for 0, and 3 for 1 too: 0 blocks three
	// copies, 1 one (counted once each, however many paths lead there).
	base = b("base", 100<<20)
	chain := []Image{img(base, b("m1", 50)), img(base, b("m2", 40)), img(base, b("m1", 50), b("z", 1)), img(base, b("m2", 40), b("w", 1))}
	q := Make(chain)
	if want := []int{3, 1, 0, 0}; !reflect.DeepEqual(q.Blocks, want) {
		t.Fatalf("chain: blocks %v, want %v (after %v)", q.Blocks, want, q.After)
	}
	if got, want := q.Order(), []int{0, 1, 2, 3}; !reflect.DeepEqual(got, want) {
		t.Fatalf("chain: order %v, want %v", got, want)
	}
}
