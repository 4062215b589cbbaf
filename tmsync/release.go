package tmsync

import (
	"errors"

	"github.com/tmsync/tmsync/manifest"
)

// Release is the release folder a run works on: ReleaseDir reads it at the start of the
// run, ReleaseFolder takes one already read.
type Release struct {
	dir    string
	opts   []manifest.Option
	folder *manifest.Folder
}

// ReleaseDir is the release folder at path, read by each run with opts (postfixes, vendor
// registry, prefix; none reads the vendor's folders as the old pipeline did).
func ReleaseDir(path string, opts ...manifest.Option) Release {
	if path == "" {
		path = "."
	}
	return Release{dir: path, opts: opts}
}

// ReleaseFolder is a release folder already read (manifest.Load), used as it is.
func ReleaseFolder(f *manifest.Folder) Release { return Release{folder: f} }

// String is the folder's path.
func (r Release) String() string {
	if r.folder != nil {
		return r.folder.Dir
	}
	return r.dir
}

// load returns the folder.
func (r Release) load() (*manifest.Folder, error) {
	if r.folder != nil {
		return r.folder, nil
	}
	if r.dir == "" {
		return nil, errors.New("no release: use ReleaseDir or ReleaseFolder")
	}
	return manifest.Load(r.dir, r.opts...)
}
