package testbed

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Listing is every path under dir with its kind and, for files, their contents, for
// symbolic links, where they point, one per line in order: two listings are equal when
// nothing under dir was made, removed, changed or pointed elsewhere (for "a refused folder
// is left as it was" checks).
func Listing(t TB, dir string) string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		line := rel + " " + d.Type().String()
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += " " + string(b)
		}
		if d.Type()&os.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			line += " -> " + target
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}
