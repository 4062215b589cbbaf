package manifest

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Release is one version of the folder: its release JSON and the image lists of the same
// version, or the image lists alone (v4).
type Release struct {
	// Version is the file names' version (up to the first '_').
	Version string
	// Files are the files read for this release, sorted by path.
	Files []File
	// Images are the images to sync, sorted by dest.
	Images []Image
	// Ignored are the release JSON's images that the version's image lists do not name.
	Ignored []Ignored
}

// Ignored is an image of a release JSON that is not synced, and why.
type Ignored struct {
	Image  Image
	Reason string
}

// Folder is a release folder as read.
type Folder struct {
	// Dir is the folder's path ("." for LoadFS).
	Dir string
	// Releases are sorted by version (numeric parts compared as numbers).
	Releases []Release
}

// Images returns the images of all releases, by version then dest, each dest once: the
// same dest from the same source in two releases is one image (Load rejects the same
// dest from different sources).
func (f *Folder) Images() []Image {
	var out []Image
	seen := map[string]bool{}
	for _, r := range f.Releases {
		for _, img := range r.Images {
			if k := img.Dest.String(); !seen[k] {
				seen[k] = true
				out = append(out, img)
			}
		}
	}
	return out
}

// Load reads the release folder dir (not its subfolders). Files whose names end with
// neither postfix, and hidden files (".…", such as macOS "._" files), are not read.
// The error, if any, is *Errors with every problem of the folder; the Folder then holds
// what could be read, and must not be synced.
func Load(dir string, opts ...Option) (*Folder, error) {
	return load(os.DirFS(dir), dir, func(name string) string { return filepath.Join(dir, name) }, opts)
}

// LoadFS reads a release folder at the root of fsys, as Load does. Paths in problems and
// origins are fsys names.
func LoadFS(fsys fs.FS, opts ...Option) (*Folder, error) {
	return load(fsys, ".", func(name string) string { return name }, opts)
}

type versionFiles struct {
	releases, lists []string // fsys names
}

func load(fsys fs.FS, dir string, display func(string) string, optFns []Option) (*Folder, error) {
	opts, oprobs := newOptions(optFns)
	folder := &Folder{Dir: dir}
	if len(oprobs) > 0 {
		return folder, oprobs.err()
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return folder, Errors{{File: dir, Msg: fmt.Sprintf("reading the release folder: %v", err), Err: err}}.err()
	}
	var probs Errors
	versions := map[string]*versionFiles{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		var isRelease bool
		switch {
		case strings.HasSuffix(name, opts.ReleasePostfix):
			isRelease = true
		case strings.HasSuffix(name, opts.ImagesPostfix):
		default:
			continue
		}
		v, vprobs := versionOf(display(name))
		if len(vprobs) > 0 {
			probs = append(probs, vprobs...)
			continue
		}
		vf := versions[v]
		if vf == nil {
			vf = &versionFiles{}
			versions[v] = vf
		}
		if isRelease {
			vf.releases = append(vf.releases, name)
		} else {
			vf.lists = append(vf.lists, name)
		}
	}
	if len(versions) == 0 && len(probs) == 0 {
		return folder, Errors{{File: dir, Err: ErrNoRelease,
			Msg: fmt.Sprintf("no release files: expected files named <version>_%s or <version>_..._%s", opts.ReleasePostfix, opts.ImagesPostfix)}}.err()
	}
	for _, v := range slices.SortedFunc(maps.Keys(versions), compareVersionsTotal) {
		rel, rprobs := loadRelease(fsys, display, v, versions[v], opts)
		probs = append(probs, rprobs...)
		folder.Releases = append(folder.Releases, rel)
	}
	checkAcrossReleases(folder, &probs)
	return folder, probs.err()
}

// loadRelease reads the files of one version and applies its lists.
func loadRelease(fsys fs.FS, display func(string) string, version string, vf *versionFiles, opts options) (Release, Errors) {
	var probs Errors
	rel := Release{Version: version}
	read := func(name, kind string) ([]byte, bool) {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			probs = append(probs, Problem{File: display(name), Msg: fmt.Sprintf("reading: %v", err), Err: err})
			return nil, false
		}
		rel.Files = append(rel.Files, newFile(display(name), data, kind))
		return data, true
	}
	slices.Sort(vf.releases)
	slices.Sort(vf.lists)
	var fromJSON []Image
	hasJSON, jsonOK := false, false
	for i, name := range vf.releases {
		if i > 0 {
			probs = append(probs, Problem{File: display(name),
				Msg: fmt.Sprintf("a second release file for version %s (the first is %s); expected one per version", version, display(vf.releases[0]))})
			continue
		}
		if data, ok := read(name, KindRelease); ok {
			r, rprobs := parseRelease(display(name), data, opts)
			probs = append(probs, rprobs...)
			fromJSON, hasJSON, jsonOK = r.Images, true, len(rprobs) == 0
		}
	}
	var entries []ListEntry
	var listNames []string
	for _, name := range vf.lists {
		listNames = append(listNames, display(name))
		if data, ok := read(name, KindImages); ok {
			es, lprobs := parseImageList(display(name), data, opts)
			probs = append(probs, lprobs...)
			entries = append(entries, es...)
		}
	}
	switch {
	case hasJSON && len(vf.lists) == 0:
		rel.Images = fromJSON
	case hasJSON:
		rel.Images, rel.Ignored = applyLists(fromJSON, entries, listNames, jsonOK, &probs)
	case len(vf.releases) == 0:
		rel.Images = fromLists(entries, version, opts, &probs)
	}
	if len(probs) == 0 && len(rel.Images) == 0 {
		file := rel.Files[0].Path
		probs = append(probs, Problem{File: file,
			Msg: fmt.Sprintf("release %s has no image to sync: its image lists name none; expected at least one image", version)})
	}
	sortImages(rel.Images)
	slices.SortFunc(rel.Ignored, func(a, b Ignored) int { return strings.Compare(a.Image.Dest.String(), b.Image.Dest.String()) })
	slices.SortFunc(rel.Files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return rel, probs
}

// applyLists keeps the release images whose dest the lists name. A dest the lists name
// that the release lacks is a problem (unless the release had problems of its own, which
// would make every such report noise), as is an external location (second field) that
// names another image than the release's source: the release JSON, being pinned, is the
// authority, and the list may only agree with it.
func applyLists(images []Image, entries []ListEntry, listNames []string, releaseOK bool, probs *Errors) (kept []Image, ignored []Ignored) {
	byDest := map[string]Image{}
	for _, img := range images {
		byDest[img.Dest.String()] = img
	}
	named := map[string]bool{}
	for _, e := range entries {
		k := e.Dest.String()
		img, ok := byDest[k]
		if !ok && releaseOK {
			*probs = append(*probs, Problem{File: e.Origin.File, Line: e.Origin.Line,
				Msg: fmt.Sprintf("dest %s is not in the release JSON of this version; expected an image the release lists", k)})
		}
		if !ok {
			continue
		}
		if e.External && !sameImage(e.Source, img.Source) {
			*probs = append(*probs, Problem{File: e.Origin.File, Line: e.Origin.Line,
				Msg: fmt.Sprintf("dest %s: external location %s disagrees with the release's source %s (%s)", k, e.Source, img.Source, img.Origin)})
		}
		named[k] = true
	}
	reason := "not named by " + strings.Join(listNames, ", ")
	for _, img := range images {
		if named[img.Dest.String()] {
			kept = append(kept, img)
		} else {
			ignored = append(ignored, Ignored{Image: img, Reason: reason})
		}
	}
	return kept, ignored
}

// sameImage reports whether a list's external location can be the release's pinned
// source: same repository, and the same digest and tag where the list gives them.
func sameImage(list, release Source) bool {
	return SameRegistry(list.Registry, release.Registry) && list.Repository == release.Repository &&
		(list.Digest == "" || list.Digest == release.Digest) &&
		(list.Tag == "" || release.Tag == "" || list.Tag == release.Tag)
}

// fromLists turns the entries of a v4 release (lists, no JSON) into images. The same dest
// may be listed twice: in tm_registry_images.txt without a second field and in
// byo_images.txt with one; the second field says more, so it wins. Two different sources
// given explicitly, or twice the same kind, are a problem.
func fromLists(entries []ListEntry, version string, opts options, probs *Errors) []Image {
	var kept []ListEntry
	at := map[string]int{}
	for _, e := range entries {
		k := e.Dest.String()
		i, seen := at[k]
		if !seen {
			at[k] = len(kept)
			kept = append(kept, e)
			continue
		}
		prev := kept[i]
		switch {
		case prev.Source == e.Source:
		case e.External && !prev.External:
			kept[i] = e
		case !e.External && prev.External:
		default:
			*probs = append(*probs, Problem{File: e.Origin.File, Line: e.Origin.Line,
				Msg: fmt.Sprintf("dest %s has source %s here but %s at %s; expected one source per dest", k, e.Source, prev.Source, prev.Origin)})
		}
	}
	images := make([]Image, len(kept))
	for i, e := range kept {
		images[i] = e.image(version, opts)
	}
	return images
}

// dedupe drops images with the dest of an earlier image and the same source, and reports
// those with another source.
func dedupe(images []Image, probs *Errors) []Image {
	var out []Image
	first := map[string]Image{}
	for _, img := range images {
		k := img.Dest.String()
		prev, seen := first[k]
		switch {
		case !seen:
			first[k] = img
			out = append(out, img)
		case prev.Source != img.Source:
			*probs = append(*probs, conflict(img, prev))
		}
	}
	return out
}

func conflict(img, prev Image) Problem {
	return Problem{File: img.Origin.File, Line: img.Origin.Line, Path: img.Origin.Path,
		Msg: fmt.Sprintf("dest %s has source %s here but %s at %s; expected one source per dest", img.Dest, img.Source, prev.Source, prev.Origin)}
}

// checkAcrossReleases reports a dest given two sources by two releases.
func checkAcrossReleases(f *Folder, probs *Errors) {
	first := map[string]Image{}
	for _, r := range f.Releases {
		for _, img := range r.Images {
			k := img.Dest.String()
			if prev, seen := first[k]; !seen {
				first[k] = img
			} else if prev.Source != img.Source {
				*probs = append(*probs, conflict(img, prev))
			}
		}
	}
}

// versionOf returns the version of a file: its base name up to the first '_'.
func versionOf(name string) (string, Errors) {
	base := path.Base(filepath.ToSlash(name))
	v, _, found := strings.Cut(base, "_")
	if !found || v == "" {
		return "", Errors{{File: name, Msg: "the file name has no version: expected <version>_<name>, like 5.0.3_release.json"}}
	}
	return v, nil
}

func newFile(name string, data []byte, kind string) File {
	sum := sha256.Sum256(data)
	return File{Path: name, SHA256: hex.EncodeToString(sum[:]), Kind: kind}
}

func sortImages(images []Image) {
	slices.SortStableFunc(images, func(a, b Image) int {
		return cmp.Or(compareVersionsTotal(a.Version, b.Version), strings.Compare(a.Dest.String(), b.Dest.String()))
	})
}

// compareVersions orders versions with their digit runs compared as numbers, so that
// 5.0.9 comes before 5.0.10.
func compareVersions(a, b string) int {
	for a != "" && b != "" {
		ra, rb := leadingRun(a), leadingRun(b)
		da, db := isDigit(ra[0]), isDigit(rb[0])
		var c int
		switch {
		case da && db:
			na, nb := strings.TrimLeft(ra, "0"), strings.TrimLeft(rb, "0")
			c = cmp.Or(cmp.Compare(len(na), len(nb)), strings.Compare(na, nb))
		default:
			c = strings.Compare(ra, rb)
		}
		if c != 0 {
			return c
		}
		a, b = a[len(ra):], b[len(rb):]
	}
	return cmp.Compare(len(a), len(b))
}

// compareVersionsTotal breaks the ties of compareVersions ("5.0.3" and "5.0.03").
func compareVersionsTotal(a, b string) int {
	return cmp.Or(compareVersions(a, b), strings.Compare(a, b))
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// leadingRun returns the leading run of digits, or of non-digits, of a non-empty s.
func leadingRun(s string) string {
	d := isDigit(s[0])
	i := 1
	for i < len(s) && isDigit(s[i]) == d {
		i++
	}
	return s[:i]
}
