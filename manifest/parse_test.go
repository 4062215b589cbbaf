package manifest

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

func TestParseSource(t *testing.T) {
	hex := strings.TrimPrefix(dg1, "sha256:")
	tests := []struct {
		in   string
		want Source
	}{
		{"registry.example.com:5000/team/app:1.2", Source{Registry: "registry.example.com:5000", Repository: "team/app", Tag: "1.2"}},
		{"localhost:5000/app@" + dg1, Source{Registry: "localhost:5000", Repository: "app", Digest: dg1}},
		{tmr + "/vault/xpl/xpl_payees:5.0.3@" + dg1, Source{Registry: tmr, Repository: "vault/xpl/xpl_payees", Tag: "5.0.3", Digest: dg1}},
		{"grafana/grafana@" + dg1, Source{Registry: "docker.io", Repository: "grafana/grafana", Digest: dg1}},
		{"busybox:1.36", Source{Registry: "docker.io", Repository: "library/busybox", Tag: "1.36"}},
		{"index.docker.io/library/busybox:1.36", Source{Registry: "docker.io", Repository: "library/busybox", Tag: "1.36"}},
		{"app@sha256:" + hex, Source{Registry: "docker.io", Repository: "library/app", Digest: dg1}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSource(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("parseSource(%q) = %#v, %v; want %#v", tc.in, got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "UPPER/app:1", "app:1:2", "app@sha256:abc", "app@" + dg1 + "x", " app:1", "app:-x", hex} {
		if got, err := parseSource(bad); err == nil {
			t.Errorf("parseSource(%q) = %#v, want an error", bad, got)
		}
	}
}

func TestParseDest(t *testing.T) {
	opts := options{}.withDefaults()
	tests := []struct {
		in   string
		want Dest
		msg  string
	}{
		{in: "vault/xpl/xpl_payees:5.0.3", want: Dest{"vault/xpl/xpl_payees", "5.0.3"}},
		{in: "restricted/third_party/docker.io/grafana/grafana:vault-5.0.3", want: Dest{"restricted/third_party/docker.io/grafana/grafana", "vault-5.0.3"}},
		{in: "a:B_1.x", want: Dest{"a", "B_1.x"}},
		{in: "host:5000/repo", msg: "has no tag"},
		{in: "repo", msg: "has no tag"},
		{in: "repo:", msg: "invalid reference format"},
		{in: "repo:tag@" + dg1, msg: "has a digest"},
		{in: "", msg: "dest is empty"},
		{in: "a/-b:1", msg: "invalid reference format"},
		{in: "a--b:1", msg: "not a valid ECR repository name"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, msg := parseDest(tc.in, opts)
			if got != tc.want || !strings.Contains(msg, tc.msg) || (tc.msg == "") != (msg == "") {
				t.Fatalf("parseDest(%q) = %#v, %q; want %#v, %q", tc.in, got, msg, tc.want, tc.msg)
			}
		})
	}
	// Without a prefix a one-character repository is too short for ECR.
	if _, msg := parseDest("a:1", options{Prefix: "/"}.withDefaults()); !strings.Contains(msg, "expected 2 to 256") {
		t.Errorf("parseDest(a:1) without prefix: %q, want a length problem", msg)
	}
}

func TestParseImageList(t *testing.T) {
	data := "\ufeff# comment\r\n\r\n  vault/a:1  \r\n\tvault/b:2\tdocker.io/x/b:2 # why\r\n# vault/c:3\nvault/d:4 localhost:5000/d@" + dg1
	got, err := ParseImageList("3.3.11_byo_images.txt", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []ListEntry{
		{Dest: Dest{"vault/a", "1"}, Source: Source{Registry: tmr, Repository: "vault/a", Tag: "1"}, Origin: Origin{File: "3.3.11_byo_images.txt", Line: 3}},
		{Dest: Dest{"vault/b", "2"}, Source: Source{Registry: "docker.io", Repository: "x/b", Tag: "2"}, External: true, Origin: Origin{File: "3.3.11_byo_images.txt", Line: 4}},
		{Dest: Dest{"vault/d", "4"}, Source: Source{Registry: "localhost:5000", Repository: "d", Digest: dg1}, External: true, Origin: Origin{File: "3.3.11_byo_images.txt", Line: 6}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries %#v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %#v, want %#v", i, got[i], want[i])
		}
	}
}

func TestOptions(t *testing.T) {
	// Custom postfixes, vendor registry and no prefix.
	opts := []Option{WithReleasePostfix("manifest.json"), WithImagesPostfix("list"), WithVendorRegistry("localhost:5000"), WithPrefix("/")}
	fsys := fstest.MapFS{
		"1.0_manifest.json": {Data: []byte(relJSON(ent("a", src("localhost:5000/vault/a@"+dg1), dst("vault/a:1"))))},
		"0.9_x.list":        {Data: []byte("vault/b:0.9\n")},
		"1.0_release.json":  {Data: []byte("not read: wrong postfix")},
	}
	f, err := LoadFS(fsys, opts...)
	if err != nil {
		t.Fatal(err)
	}
	imgs := f.Images()
	if len(imgs) != 2 || !imgs[0].Vendor || !imgs[1].Vendor || imgs[0].Source.String() != "localhost:5000/vault/b:0.9" {
		t.Fatalf("images %+v", imgs)
	}
	// Options apply in order: a later one wins, and "" is the default.
	if f, err := LoadFS(fsys, append(opts, WithReleasePostfix(""), WithImagesPostfix("manifest.json"), WithImagesPostfix("list"))...); err == nil {
		t.Errorf("the default release postfix did not come back: %+v", f.Releases)
	}
	bads := [][]Option{{WithVendorRegistry("not a host")}, {WithPrefix("/Upper/")}, {WithReleasePostfix("x"), WithImagesPostfix("x")},
		{WithPrefix("/ok/"), func(*options) error { return errors.New("a failing option") }}}
	for _, bad := range bads {
		_, err := LoadFS(fsys, bad...)
		var errs Errors
		if !errors.As(err, &errs) || len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "options: ") {
			t.Errorf("LoadFS with %+v = %v, want one options problem", bad, err)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{File: "f", Line: 3, Column: 7, Msg: "m"}, "f:3:7: m"},
		{Problem{File: "f", Line: 3, Msg: "m"}, "f:3: m"},
		{Problem{File: "f", Line: 3, Column: 7, Path: "metadata.images", Msg: "m"}, "f: metadata.images: m"},
		{Problem{File: "f", Msg: "m"}, "f: m"},
		{Problem{Msg: "options: m"}, "options: m"},
	} {
		if got := tc.p.Error(); got != tc.want {
			t.Errorf("%#v.Error() = %q, want %q", tc.p, got, tc.want)
		}
	}

	_, err := LoadFS(fstest.MapFS{"README.md": {Data: []byte("x")}})
	if !errors.Is(err, ErrNoRelease) {
		t.Errorf("empty folder: %v, want ErrNoRelease", err)
	}
	var ptr *Errors
	var val Errors
	if !errors.As(err, &ptr) || !errors.As(err, &val) || len(*ptr) != 1 || len(val) != 1 {
		t.Errorf("errors.As(*Errors) %v, errors.As(Errors) %v", ptr, val)
	}
	two := Errors{{File: "a", Msg: "x"}, {File: "b", Line: 1, Msg: "y"}}
	if got := two.Error(); got != "a: x\nb:1: y" {
		t.Errorf("Errors.Error() = %q", got)
	}
}

func TestCompareVersions(t *testing.T) {
	ordered := []string{"3.3.9", "3.3.11", "4", "4.0", "5.0.3", "5.0.3-rc1", "5.0.9", "5.0.10", "5.0.31", "10.0.0"}
	for i := range ordered {
		for j := range ordered {
			got := compareVersionsTotal(ordered[i], ordered[j])
			if want := cmpInt(i, j); got != want {
				t.Errorf("compareVersions(%q, %q) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestPairing checks that 5.0.3's release is not paired with 5.0.31's list.
func TestPairing(t *testing.T) {
	fsys := fstest.MapFS{
		"5.0.3_release.json":    {Data: []byte(relJSON(good("a"), good("b")))},
		"5.0.31_x_images.txt":   {Data: []byte("vault/zz:5.0.31\n")},
		"5.0.3_only_images.txt": {Data: []byte("vault/a:5.0.3\n")},
	}
	f, err := LoadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Releases) != 2 || f.Releases[0].Version != "5.0.3" || f.Releases[1].Version != "5.0.31" {
		t.Fatalf("releases %+v", f.Releases)
	}
	r := f.Releases[0]
	if len(r.Images) != 1 || r.Images[0].Dest.String() != "vault/a:5.0.3" || len(r.Ignored) != 1 ||
		r.Ignored[0].Reason != "not named by 5.0.3_only_images.txt" {
		t.Errorf("5.0.3: images %+v ignored %+v", r.Images, r.Ignored)
	}
	if r := f.Releases[1]; len(r.Images) != 1 || r.Images[0].Pinned() {
		t.Errorf("5.0.31: %+v", r.Images)
	}
}

func TestParseRelease(t *testing.T) {
	rel, err := ParseRelease("some/dir/5.0.3_release.json", []byte(relJSON(good("b"), good("a"))))
	if err != nil {
		t.Fatal(err)
	}
	if rel.Version != "5.0.3" || len(rel.Images) != 2 || rel.Images[0].Dest.Repository != "vault/a" ||
		rel.Files[0].Path != "some/dir/5.0.3_release.json" || rel.Files[0].Kind != KindRelease || len(rel.Files[0].SHA256) != 64 {
		t.Errorf("ParseRelease = %+v", rel)
	}
	if !rel.Images[0].Pinned() || rel.Images[0].Origin.String() != `some/dir/5.0.3_release.json: metadata.images["a"]` {
		t.Errorf("image a: %+v", rel.Images[0])
	}
}
