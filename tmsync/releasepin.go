package tmsync

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/tmsync/tmsync/manifest"
)

// The attestation binds a digest to a repository on the vendor registry; the tag and the
// destination of each image come from the release folder, which nobody signs. A change
// board that approves a release can pin the folder it approved: ReleaseDigest is one
// SHA-256 over the files tmsync reads from it, printed by every run (plan first) and
// recorded in the report as releaseSha256; --release-sha256 (WithReleaseSHA256)
// refuses to start, exit 2, when the folder is not that one.
//
// It is the SHA-256 of the lines "<sha256 of the file>  <path in the folder>\n", sorted by
// path: what `sha256sum` prints, so that it can be recomputed without tmsync:
//
//	cd RELEASE_DIR && sha256sum FILES... | LC_ALL=C sort -k2 | sha256sum
//
// where FILES are the release JSON and image list files the report lists.
func ReleaseDigest(dir string, releases []ReleaseRecord) string {
	files := map[string]string{}
	for _, r := range releases {
		for _, f := range r.Files {
			files[releaseRelPath(dir, f.Path)] = f.SHA256
		}
	}
	return manifest.FolderDigest(files)
}

// releaseRelPath is a file's path inside the release folder, with forward slashes.
func releaseRelPath(dir, p string) string {
	if rel, err := filepath.Rel(dir, p); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	if rel, err := filepath.Rel(".", p); err == nil && !filepath.IsAbs(p) && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return filepath.Base(p)
}

var sha256HexRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// checkReleasePin compares the folder's digest with the pinned one, if any.
func (r *run) checkReleasePin(dir string) error {
	rep := r.rep
	rep.ReleaseSHA256 = ReleaseDigest(dir, rep.Releases)
	n := 0
	for _, rel := range rep.Releases {
		n += len(rel.Files)
	}
	files := "files"
	if n == 1 {
		files = "file"
	}
	r.event(EventInfo, nil, fmt.Sprintf("release folder sha256 %s (%d %s; pin it with --release-sha256)", rep.ReleaseSHA256, n, files))
	pin := normalPin(r.o.releaseSHA256)
	if pin == "" || pin == rep.ReleaseSHA256 {
		return nil
	}
	return startErr("checking --release-sha256", fmt.Errorf(
		"the release folder %s is not the one pinned: its files hash to %s, --release-sha256 is %s (nothing was done)",
		dir, rep.ReleaseSHA256, pin))
}
