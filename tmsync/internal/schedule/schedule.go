// Package schedule orders the copies of a release so that registries can mount shared
// blobs instead of receiving them again: for each blob carried by more than one image,
// one image that carries it (its owner) is copied and committed first, and the others
// start after it, so that their copies find the blob in the owner's repository and
// mount it (ECR mounts only from a repository whose committed image references the
// blob). It is a pure function of the images' blobs; it does no I/O.
//
// Owners are chosen by a greedy set cover: the image carrying the most bytes of shared
// blobs not yet owned leads, ties going to the smaller image (it commits sooner), then
// to the earlier one; and so on until every shared blob has an owner. So few images
// lead, they run in parallel, and everything else waits only for the owners of the
// blobs it carries.
//
// A leader may carry a blob owned by an earlier leader (two bases with a common tools
// layer on top). Waiting for it lengthens the serial part by a whole copy; not waiting
// uploads that blob twice. Leaders run in parallel while the bytes so uploaded twice
// stay within Options.DuplicateShare of the release's distinct bytes (smallest first);
// beyond that a leader waits. Owners are chosen in order and a leader waits only for
// earlier ones, so waits never form a cycle.
package schedule

import (
	"cmp"
	"slices"

	"github.com/opencontainers/go-digest"
)

// Blob is a blob of an image: a layer or a config.
type Blob struct {
	Digest digest.Digest
	Size   int64
}

// Image is one copy to schedule: every blob it pushes (for an index, the blobs of all
// its children) and its target repository (kept for the caller; the plan does not
// depend on it).
type Image struct {
	Repository string
	Blobs      []Blob
}

// Plan is the order of the copies. Indexes refer to the images given to Make.
type Plan struct {
	// After[i] is the images whose copies must end (committed, or failed: then i
	// uploads the blob itself) before image i starts. Sorted.
	After [][]int
	// Waves groups the images by depth in After: wave 0 has no wait, wave k waits only
	// for earlier waves. A runner that cannot follow After can run wave by wave.
	Waves [][]int
	// Leaders are the owners, in the order they were chosen.
	Leaders []int
	// Owner is the image that pushes each shared blob first.
	Owner map[digest.Digest]int
	// SharedBytes is the bytes of the shared blobs, each counted once; DistinctBytes
	// the bytes of all blobs, each counted once.
	SharedBytes, DistinctBytes int64
	// DuplicateBytes is what leaders running in parallel upload although another
	// leader owns it (see Options.DuplicateShare).
	DuplicateBytes int64
	// Blocks[i] is how many copies wait, directly or not, for image i to end; Own[i]
	// the bytes image i pushes itself: its blobs less the shared ones another image
	// owns and i waits for (those it mounts).
	Blocks []int
	Own    []int64
}

// Options tune MakeWith. The zero value is Make's.
type Options struct {
	// DuplicateShare is how much of the release's distinct bytes leaders may upload
	// twice to run in parallel instead of waiting for each other. Default (0) 0.02;
	// negative: none, a leader always waits for the owners of the blobs it carries.
	DuplicateShare float64
}

// Shared reports whether d is carried by more than one image (the blobs worth keeping
// in a local store).
func (p Plan) Shared(d digest.Digest) bool {
	_, ok := p.Owner[d]
	return ok
}

// Order is the order in which to start the copies that are ready: first those that
// others wait for (the more copies wait, the sooner), so that the waiting ends early;
// then the larger copies first, so that the run does not end on one long copy while the
// other slots are idle (longest processing time first). Ties go to the earlier image.
func (p Plan) Order() []int {
	out := make([]int, len(p.After))
	for i := range out {
		out[i] = i
	}
	slices.SortStableFunc(out, func(a, b int) int {
		return cmp.Or(cmp.Compare(p.Blocks[b], p.Blocks[a]), cmp.Compare(p.Own[b], p.Own[a]))
	})
	return out
}

// Rank is the position of every image in Order: lower starts first.
func (p Plan) Rank() []int {
	rank := make([]int, len(p.After))
	for pos, i := range p.Order() {
		rank[i] = pos
	}
	return rank
}

// Make plans the copies of images with the default Options.
func Make(images []Image) Plan { return MakeWith(images, Options{}) }

// MakeWith plans the copies of images.
func MakeWith(images []Image, opts Options) Plan {
	share := opts.DuplicateShare
	if share == 0 {
		share = 0.02
	}
	n := len(images)
	carried := make([]map[digest.Digest]int64, n) // per image, its distinct blobs
	carriers := map[digest.Digest]int{}
	size := map[digest.Digest]int64{}
	total := make([]int64, n)
	for i, im := range images {
		carried[i] = map[digest.Digest]int64{}
		for _, b := range im.Blobs {
			if _, dup := carried[i][b.Digest]; dup {
				continue
			}
			carried[i][b.Digest] = b.Size
			carriers[b.Digest]++
			size[b.Digest] = max(size[b.Digest], b.Size)
			total[i] += b.Size
		}
	}
	unowned := map[digest.Digest]bool{}
	p := Plan{After: make([][]int, n), Owner: map[digest.Digest]int{}}
	for d, c := range carriers {
		p.DistinctBytes += size[d]
		if c > 1 {
			unowned[d] = true
			p.SharedBytes += size[d]
		}
	}
	for len(unowned) > 0 {
		best, bestBytes := -1, int64(-1)
		for i := range images {
			var b int64
			covers := false
			for d := range carried[i] {
				if unowned[d] {
					b += size[d]
					covers = true
				}
			}
			if !covers {
				continue
			}
			if best < 0 || b > bestBytes || (b == bestBytes && total[i] < total[best]) {
				best, bestBytes = i, b
			}
		}
		p.Leaders = append(p.Leaders, best)
		for d := range carried[best] {
			if unowned[d] {
				p.Owner[d] = best
				delete(unowned, d)
			}
		}
	}
	// Leaders that would upload the fewest bytes twice run in parallel first.
	isLeader := map[int]bool{}
	for _, l := range p.Leaders {
		isLeader[l] = true
	}
	type edge struct {
		from, to int
		dup      int64
	}
	var edges []edge
	for i := range images {
		dup := map[int]int64{}
		for d := range carried[i] {
			if o, ok := p.Owner[d]; ok && o != i {
				dup[o] += size[d]
			}
		}
		for o, bytes := range dup {
			edges = append(edges, edge{i, o, bytes})
		}
	}
	slices.SortFunc(edges, func(a, b edge) int {
		return cmp.Or(cmp.Compare(a.dup, b.dup), cmp.Compare(a.from, b.from), cmp.Compare(a.to, b.to))
	})
	budget := int64(share * float64(p.DistinctBytes))
	for _, e := range edges {
		if isLeader[e.from] && share > 0 && p.DuplicateBytes+e.dup <= budget {
			p.DuplicateBytes += e.dup
			continue
		}
		p.After[e.from] = append(p.After[e.from], e.to)
	}
	for i := range p.After {
		slices.Sort(p.After[i])
	}
	depth := make([]int, n)
	done := make([]bool, n)
	var walk func(int) int
	walk = func(i int) int {
		if done[i] {
			return depth[i]
		}
		d := 0
		for _, j := range p.After[i] {
			d = max(d, walk(j)+1)
		}
		depth[i], done[i] = d, true
		return d
	}
	for i := range images {
		k := walk(i)
		for len(p.Waves) <= k {
			p.Waves = append(p.Waves, nil)
		}
		p.Waves[k] = append(p.Waves[k], i)
	}
	// What each copy pushes itself, and how many copies wait for it.
	p.Own = make([]int64, n)
	p.Blocks = make([]int, n)
	for i := range images {
		waits := map[int]bool{}
		for _, j := range p.After[i] {
			waits[j] = true
		}
		for d, sz := range carried[i] {
			if o, ok := p.Owner[d]; ok && o != i && waits[o] {
				continue
			}
			p.Own[i] += sz
		}
	}
	for i := range images {
		// Every image that i waits for, directly or not, counts i once.
		seen := map[int]bool{}
		var up func(int)
		up = func(k int) {
			for _, j := range p.After[k] {
				if !seen[j] {
					seen[j] = true
					p.Blocks[j]++
					up(j)
				}
			}
		}
		up(i)
	}
	// Within a wave, in start order.
	rank := p.Rank()
	for _, w := range p.Waves {
		slices.SortFunc(w, func(a, b int) int { return cmp.Compare(rank[a], rank[b]) })
	}
	return p
}
