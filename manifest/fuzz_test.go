package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"unicode/utf8"
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
	f.Add([]byte("{\"metadata\": {\"images\": {\"a\\ud800\": {}, \"b\\u0000\": 1, \"c\\\\u0000\\ud83d\\ude00\": 2}}}"))
	f.Add([]byte("\xfe\xff\x00{\x00}"))
	f.Add([]byte(relJSON(ent("a", src("DOCKER.EXTERNAL.THOUGHTMACHINE.IO:443/vault/a@"+dg1), dst("vault/a:1")))))
	opts := options{}.withDefaults()
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "5.0.3_release.json"
		rel, err := ParseRelease(name, data)
		checkProblems(t, err, name)
		if err == nil && len(rel.Images) == 0 {
			t.Fatal("no error and no image")
		}
		dests := map[string]bool{}
		for _, img := range rel.Images {
			checkImage(t, img, opts)
			if img.Vendor != SameRegistry(img.Source.Registry, tmr) {
				t.Fatalf("release image %+v: Vendor %v", img, img.Vendor)
			}
			if err == nil && (!utf8.Valid(data) || strings.Contains(string(data), "\x00")) {
				t.Fatalf("%q read without a problem", data)
			}
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
	f.Add([]byte("vault/a:1\rgrafana/grafana:1\r"))
	f.Add([]byte("vault/a:1\r\nvault/b:1\x00\r\n"))
	f.Add([]byte("vault/a:1 DOCKER.EXTERNAL.THOUGHTMACHINE.IO:443/vault/a:1\n\xc3\x28\n"))
	f.Add([]byte("\xff\xfev\x00\n\x00"))
	f.Add([]byte("vault/a:1\u2028x/y:1 # \u202e\u00a0\u0085\x1b\n"))
	opts := options{}.withDefaults()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range []string{"3.3.11_byo_images.txt", "3.3.11_tm_registry_images.txt"} {
			entries, err := ParseImageList(name, data)
			checkProblems(t, err, name)
			for _, e := range entries {
				img := e.image("3.3.11", opts)
				checkImage(t, img, opts)
				if e.Origin.Line < 1 || (!e.External && e.Source.Registry != opts.VendorRegistry) {
					t.Fatalf("entry %+v", e)
				}
				if e.External && !isBYOList(name, opts) {
					t.Fatalf("%s: entry %+v has a second field in a vendor list", name, e)
				}
				if img.Vendor != SameRegistry(img.Source.Registry, tmr) {
					t.Fatalf("entry %+v: Vendor %v", e, img.Vendor)
				}
			}
			// A list that is read has one record per line of LF or CRLF text: no NUL, no
			// bare CR, nothing that is not UTF-8.
			if len(entries) > 0 && err == nil {
				text := strings.ReplaceAll(string(data), "\r\n", "\n")
				if !utf8.Valid(data) || strings.ContainsAny(text, "\x00\r\u2028\u2029\u0085") {
					t.Fatalf("%s: %q read without a problem", name, data)
				}
			}
		}
	})
}

// FuzzCanonicalRegistry: the canonical form is a fixed point, is lower case ASCII without
// trailing dot or :443, and every accepted host is the same registry as its canonical
// form and as its upper-case, trailing-dot and :443 spellings.
func FuzzCanonicalRegistry(f *testing.F) {
	for _, s := range []string{tmr, "DOCKER.EXTERNAL.THOUGHTMACHINE.IO.:443", "localhost:5000", "127.0.0.1", "[::1]:5000", "::1",
		"[::ffff:127.0.0.1]", "0.0.0.0:80", "127.1", "0x7f000001", "user@host", "host/path", "xn--bcher-kva.example",
		"docker.externаl.thoughtmachine.io", "host:0443", "[fe80::1%eth0]:1", "a..b", "-a.b", "1.2.3.4.5", "host:65536", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := CanonicalRegistry(s)
		if err != nil {
			if c != "" || SameRegistry(s, s) {
				t.Fatalf("CanonicalRegistry(%q) = %q, %v; SameRegistry with itself %v", s, c, err, SameRegistry(s, s))
			}
			return
		}
		again, err := CanonicalRegistry(c)
		if err != nil || again != c {
			t.Fatalf("CanonicalRegistry(%q) = %q, but that gives %q, %v", s, c, again, err)
		}
		if c != strings.ToLower(c) || strings.HasSuffix(c, ":443") || strings.Contains(c, ".:") || strings.HasSuffix(c, ".") ||
			strings.ContainsAny(c, "@/ \t") || strings.IndexFunc(c, func(r rune) bool { return r >= 0x80 }) >= 0 {
			t.Fatalf("CanonicalRegistry(%q) = %q, not canonical", s, c)
		}
		if !SameRegistry(s, c) || !SameRegistry(s, strings.ToUpper(s)) {
			t.Fatalf("%q is not the same registry as %q or its upper case", s, c)
		}
		if !strings.HasPrefix(s, "[") && strings.Count(s, ":") <= 1 {
			name, port, _ := strings.Cut(s, ":")
			if !strings.HasSuffix(name, ".") {
				dotted := name + "."
				if port != "" {
					dotted += ":" + port
				}
				if !SameRegistry(s, dotted) {
					t.Fatalf("%q is not the same registry as %q", s, dotted)
				}
			}
			if port == "" && !SameRegistry(s, s+":443") {
				t.Fatalf("%q is not the same registry as %q", s, s+":443")
			}
		}
	})
}

// FuzzFolder loads a release JSON and an image list of the same version together, which
// exercises the pairing, the ignoring and the one-source-per-dest checks.
func FuzzFolder(f *testing.F) {
	f.Add([]byte(relJSON(good("a"), good("b"))), []byte("vault/a:5.0.3\n"))
	f.Add([]byte(relJSON(good("a"))), []byte("vault/a:5.0.3 docker.io/x/a@"+dg1+"\nvault/c:5.0.3\n"))
	opts := options{}.withDefaults()
	f.Fuzz(func(t *testing.T, release, list []byte) {
		fsys := fstest.MapFS{
			"5.0.3_release.json":   {Data: release},
			"5.0.3_byo_images.txt": {Data: list},
			"4.0_images.txt":       {Data: list},
		}
		folder, err := LoadFS(fsys)
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
