package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
)

// FolderDigest is the digest of a release folder that --release-sha256 pins: the hex
// SHA-256 of the lines "<file's sha256 hex>  <its path in the folder>\n", one per file,
// sorted by path. files maps each path (forward slashes, relative to the folder) to its
// file's SHA-256 in hex. tmsync computes it from the files it read, and an air-gap bundle
// from the release files it carries, so that the two agree.
func FolderDigest(files map[string]string) string {
	h := sha256.New()
	for _, p := range slices.Sorted(maps.Keys(files)) {
		h.Write([]byte(files[p] + "  " + p + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}
