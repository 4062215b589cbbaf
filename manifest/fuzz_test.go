package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// seeds adds the files under testdata/good that end with suffix.
func seeds(f *testing.F, suffix string) {
	files, _ := filepath.Glob("testdata/good/*/*" + suffix)
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// checkProblems fails t unless err is nil or *Errors of located problems in file.
func checkProblems(t *testing.T, err error, file string) {
	t.Helper()
	if err == nil {
		return
	}
	var errs *Errors
	if !errors.As(err, &errs) || len(*errs) == 0 {
		t.Fatalf("error %v (%T) is not a non-empty *Errors", err, err)
	}
	for _, p := range *errs {
		if p.File != file || p.Msg == "" || (p.Line == 0 && p.Path == "" && p.Column != 0) {
			t.Fatalf("problem %#v is not located in %s", p, file)
		}
	}
}

func FuzzRelease(f *testing.F) {
	seeds(f, "release.json")
	f.Add([]byte(relJSON(good("a"), ent("b", src("busybox:1@"+dg2), dst("x/b:1"), `"digest": "`+dg2+`"`, `"layers": [{"digest": "`+dg1+`", "size": 3}]`))))
	f.Add([]byte("\ufeff{\"metadata\": {\"images\": {\"a\": {\"source\": \"a@sha256:abc\"}, \"a\": 1}}}"))
	f.Add([]byte("{\"version\": 5, \"metadata\": []}"))
	opts := Options{}.withDefaults()
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "5.0.3_release.json"
		rel, err := ParseRelease(name, data, Options{})
		checkProblems(t, err, name)
		if err == nil && len(rel.Images) == 0 {
			t.Fatal("no error and no image")
		}
		dests := map[string]bool{}
		for _, img := range rel.Images {
			checkImage(t, img, opts)
			if !img.Pinned() || img.Version != "5.0.3" || img.Origin.Path == "" {
				t.Fatalf("release image %+v: not pinned, or without version or JSON path", img)
			}
			if dests[img.Dest.String()] {
				t.Fatalf("dest %s twice", img.Dest)
			}
			dests[img.Dest.String()] = true
			for _, l := range img.Layers {
				if l.Digest.Validate() != nil && err == nil {
					t.Fatalf("layer digest %q accepted", l.Digest)
				}
			}
		}
	})
}

func FuzzImageList(f *testing.F) {
	seeds(f, "images.txt")
	f.Add([]byte("\ufeffvault/a:1\r\n# c\r\n  vault/b:2 docker.io/x/b@" + dg1 + " # c\r\nx y z\n\xff"))
	f.Add([]byte("a:1 localhost:5000/a\nlocalhost:5000/a:1\n"))
	opts := Options{}.withDefaults()
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "3.3.11_byo_images.txt"
		entries, err := ParseImageList(name, data, Options{})
		checkProblems(t, err, name)
		for _, e := range entries {
			checkImage(t, e.image("3.3.11", opts), opts)
			if e.Origin.Line < 1 || (!e.External && e.Source.Registry != opts.VendorRegistry) {
				t.Fatalf("entry %+v", e)
			}
		}
	})
}

// FuzzFolder loads a release JSON and an image list of the same version together, which
// exercises the pairing, the ignoring and the one-source-per-dest checks.
func FuzzFolder(f *testing.F) {
	f.Add([]byte(relJSON(good("a"), good("b"))), []byte("vault/a:5.0.3\n"))
	f.Add([]byte(relJSON(good("a"))), []byte("vault/a:5.0.3 docker.io/x/a@"+dg1+"\nvault/c:5.0.3\n"))
	opts := Options{}.withDefaults()
	f.Fuzz(func(t *testing.T, release, list []byte) {
		fsys := fstest.MapFS{
			"5.0.3_release.json":   {Data: release},
			"5.0.3_byo_images.txt": {Data: list},
			"4.0_images.txt":       {Data: list},
		}
		folder, err := LoadFS(fsys, Options{})
		if err != nil {
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %v is not *Errors", err)
			}
			return
		}
		dests := map[string]bool{}
		for _, img := range folder.Images() {
			checkImage(t, img, opts)
			if dests[img.Dest.String()] {
				t.Fatalf("dest %s twice", img.Dest)
			}
			dests[img.Dest.String()] = true
		}
	})
}
