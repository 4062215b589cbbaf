package manifest

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

func TestCanonicalRegistry(t *testing.T) {
	same := map[string][]string{
		tmr: {tmr, "DOCKER.EXTERNAL.THOUGHTMACHINE.IO", "Docker.External.ThoughtMachine.io", tmr + ".",
			tmr + ":443", tmr + ".:443", tmr + ":0443", "Docker.External.ThoughtMachine.IO.:443"},
		tmr + ":80":              {tmr + ":80", tmr + ".:80", "DOCKER.external.thoughtmachine.io:080"},
		tmr + ":8443":            {tmr + ":8443"},
		"localhost":              {"localhost", "LocalHost", "localhost.", "localhost:443", "127.0.0.1", "127.0.0.1:443", "::1", "[::1]", "[0:0:0:0:0:0:0:1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "0.0.0.0", "::", "[::]"},
		"localhost:5000":         {"localhost:5000", "LOCALHOST:5000", "localhost.:5000", "127.0.0.1:5000", "[::1]:5000", "[0::1]:05000", "0.0.0.0:5000", "[::]:5000"},
		"127.0.0.2:5000":         {"127.0.0.2:5000"},
		"[2001:db8::1]":          {"2001:db8::1", "[2001:DB8::1]", "[2001:0db8:0:0:0:0:0:1]:443"},
		"10.0.0.1:5000":          {"10.0.0.1:5000"},
		"xn--bcher-kva.example":  {"XN--BCHER-KVA.example."},
		"registry-1.docker.io":   {"Registry-1.Docker.IO"},
		"a.localhost":            {"A.localhost"},
		"docker.io":              {"docker.io"},
		"123abc.example":         {"123abc.example"},
		"0x7f000001.example.com": {"0x7f000001.example.com"},
	}
	for want, spellings := range same {
		for _, s := range spellings {
			got, err := CanonicalRegistry(s)
			if err != nil || got != want {
				t.Errorf("CanonicalRegistry(%q) = %q, %v; want %q", s, got, err, want)
			}
		}
	}
	// Different registries stay different.
	distinct := []string{tmr, tmr + ":80", tmr + ":8443", "localhost:5000", "localhost:5001", "127.0.0.2:5000",
		"localhost", "docker.external.thoughtmachine.io.evil.com", "evil.com", "docker.externali.thoughtmachine.io",
		"a.localhost", "[2001:db8::1]", "[2001:db8::1]:5000"}
	seen := map[string]string{}
	for _, s := range distinct {
		c, err := CanonicalRegistry(s)
		if err != nil {
			t.Fatalf("CanonicalRegistry(%q): %v", s, err)
		}
		if prev, dup := seen[c]; dup {
			t.Errorf("%q and %q have the same canonical form %q", prev, s, c)
		}
		seen[c] = s
	}
	bad := map[string]string{
		"":                                  "empty",
		" " + tmr:                           "white space",
		tmr + " ":                           "white space",
		"docker.external .io":               "white space",
		tmr + "\t":                          "white space",
		tmr + "\x00":                        "control",
		"https://" + tmr:                    "URL",
		tmr + "/vault":                      "URL or a reference",
		"evil.com/" + tmr:                   "URL or a reference",
		"user@" + tmr:                       "userinfo",
		"_tm:token@" + tmr:                  "userinfo",
		"docker.externаl.thoughtmachine.io": "non-ASCII", // Cyrillic а
		"bücher.example":                    "non-ASCII",
		tmr + "\u200b":                      "non-ASCII",
		"docker.external.thoughtmachine.io\uff0e": "non-ASCII", // fullwidth full stop
		tmr + "..":                       "empty label",
		"." + tmr:                        "empty label",
		"docker..external.io":            "empty label",
		".":                              "no host name",
		":443":                           "no host name",
		tmr + ":":                        "without a port",
		tmr + ":0":                       "not in 1 to 65535",
		tmr + ":65536":                   "not in 1 to 65535",
		tmr + ":99999999999999999999":    "not in 1 to 65535",
		tmr + ":-1":                      "not a number",
		tmr + ":44a":                     "not a number",
		tmr + ":443:443":                 "nor an IPv6",
		"-docker.io":                     "begins or ends with '-'",
		"docker-.io":                     "begins or ends with '-'",
		"docker_external.io":             "character '_'",
		strings.Repeat("a", 64) + ".io":  "at most 63",
		strings.Repeat("a.", 127) + "io": "at most 253",
		strings.Repeat("a", 300):         "bytes",
		"127.1":                          "dotted decimal",
		"127.1:5000":                     "dotted decimal",
		"0x7f000001":                     "dotted decimal",
		"0x7f.0.0.1":                     "dotted decimal",
		"2130706433":                     "dotted decimal",
		"127.000.000.001":                "dotted decimal",
		"0127.0.0.1":                     "dotted decimal",
		"1.2.3.4.5":                      "dotted decimal",
		"256.0.0.1":                      "dotted decimal",
		"example.123":                    "dotted decimal",
		"[::1":                           "without ']'",
		"[::1]x":                         "after ']'",
		"[::1]:":                         "without a port",
		"[127.0.0.1]":                    "not an IPv6",
		"[fe80::1%eth0]":                 "character '%'",
		"[localhost]":                    "not an IPv6",
		"::1:5000:x":                     "nor an IPv6",
		"a[::1]":                         "nor an IPv6",
		"localhost]":                     "bracket",
		"host*":                          "character '*'",
	}
	for s, msg := range bad {
		got, err := CanonicalRegistry(s)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("CanonicalRegistry(%q) = %q, %v; want an error containing %q", s, got, err, msg)
		}
		if SameRegistry(s, s) {
			t.Errorf("SameRegistry(%q, itself) is true for a host that is not valid", s)
		}
	}
}

func TestSameRegistry(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{tmr, "DOCKER.EXTERNAL.THOUGHTMACHINE.IO.:443", true},
		{"127.0.0.1:5000", "localhost:5000", true},
		{"[::1]:5000", "LOCALHOST.:5000", true},
		{"127.0.0.1:5000", "127.0.0.1:5001", false},
		{tmr, tmr + ":80", false},
		{tmr, "evil.com", false},
		{tmr, "", false},
		{"", "", false},
		{"user@" + tmr, tmr, false},
	} {
		if got := SameRegistry(tc.a, tc.b); got != tc.want {
			t.Errorf("SameRegistry(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := SameRegistry(tc.b, tc.a); got != tc.want {
			t.Errorf("SameRegistry(%q, %q) = %v, want %v", tc.b, tc.a, got, tc.want)
		}
	}
}

// TestVendorSpellings: an image served by the vendor registry is a vendor image whatever
// file or field names it and however the host is spelled; another host is not; a
// spelling that could reach another place is refused.
func TestVendorSpellings(t *testing.T) {
	type tc struct {
		vendor      string // WithVendorRegistry
		source      string // registry part of a source
		vendorImage bool
		refused     string // a problem containing this, or "" for none
	}
	cases := []tc{
		{"", tmr, true, ""},
		{"", "DOCKER.EXTERNAL.THOUGHTMACHINE.IO", true, ""},
		{"", "Docker.External.Thoughtmachine.Io", true, ""},
		{"", tmr + ":443", true, ""},
		{"", tmr + ":0443", true, ""},
		{"", "DOCKER.external.thoughtmachine.io:443", true, ""},
		{"", tmr + ".", false, "invalid reference format"},
		{"", tmr + ":80", false, ""},
		{"", tmr + ":5000", false, ""},
		{"", tmr + ".evil.com", false, ""},
		{"", "evil.com/" + tmr, false, ""}, // served by evil.com, which the engine must treat as upstream
		{"", "user@" + tmr, false, "invalid reference format"},
		{"", "docker.externаl.thoughtmachine.io", false, "invalid reference format"},
		{"", "docker.external.thoughtmachine.io ", false, "invalid reference format|3 fields"},
		{"", "docker.io", false, ""},
		{"DOCKER.EXTERNAL.THOUGHTMACHINE.IO.:443", tmr, true, ""},
		{tmr + ":443", "Docker.External.ThoughtMachine.io", true, ""},
		{"127.0.0.1:5000", "127.0.0.1:5000", true, ""},
		{"127.0.0.1:5000", "localhost:5000", true, ""},
		{"127.0.0.1:5000", "LOCALHOST:5000", true, ""},
		{"127.0.0.1:5000", "0.0.0.0:5000", true, ""},
		{"127.0.0.1:5000", "127.0.0.1:05000", true, ""},
		{"localhost:5000", "127.0.0.1:5000", true, ""},
		{"LocalHost.:5000", "127.0.0.1:5000", true, ""},
		{"127.0.0.1:5000", "127.0.0.1:5001", false, ""},
		{"127.0.0.1:5000", "127.0.0.2:5000", false, ""},
		{"127.0.0.1:5000", "127.1:5000", false, "dotted decimal"},
		{"127.0.0.1:5000", "0x7f.0.0.1:5000", false, "dotted decimal"},
		{"127.0.0.1:5000", "[::1]:5000", false, "invalid reference format"},
	}
	for _, c := range cases {
		opts := WithVendorRegistry(c.vendor)
		ref := c.source + "/vault/a:1@" + dg1
		// In a release JSON.
		rel, err := ParseRelease("5.0.3_release.json", []byte(relJSON(ent("a", src(ref), dst("vault/a:1")))), opts)
		checkVendor(t, "release "+ref, rel.Images, err, c.vendorImage, c.refused)
		// In a byo list, in a release JSON and a byo list together, and in a v4 folder
		// where a vendor list names the dest too (in both orders of the files).
		for _, files := range []map[string]string{
			{"3.3.12_byo_images.txt": "vault/a:1 " + ref + "\n"},
			{"3.3.12_BYO_images.txt": "vault/a:1\t" + ref + "\r\n"},
			{"3.3.12_a_byo_images.txt": "vault/a:1 " + ref + "\n", "3.3.12_z_tm_registry_images.txt": "vault/a:1\n"},
			{"3.3.12_z_byo_images.txt": "vault/a:1 " + ref + "\n", "3.3.12_a_tm_registry_images.txt": "vault/a:1\n"},
			{"3.3.12_release.json": relJSON(ent("a", src(ref), dst("vault/a:1"))), "3.3.12_byo_images.txt": "vault/a:1 " + ref + "\n"},
		} {
			fsys := fstest.MapFS{}
			var names []string
			for n, d := range files {
				fsys[n] = &fstest.MapFile{Data: []byte(d)}
				names = append(names, n)
			}
			f, err := LoadFS(fsys, opts)
			var images []Image
			if f != nil {
				images = f.Images()
			}
			checkVendor(t, strings.Join(names, "+")+" "+ref+" vendor "+c.vendor, images, err, c.vendorImage, c.refused)
		}
	}
}

func checkVendor(t *testing.T, what string, images []Image, err error, vendor bool, refused string) {
	t.Helper()
	if refused != "" {
		if err == nil || !containsAny(err.Error(), strings.Split(refused, "|")) {
			t.Errorf("%s: error %v, want one containing %q", what, err, refused)
		}
		return
	}
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	if len(images) != 1 {
		t.Fatalf("%s: %d images, want 1", what, len(images))
	}
	if images[0].Vendor != vendor {
		t.Errorf("%s: Vendor = %v, want %v (source %s)", what, images[0].Vendor, vendor, images[0].Source)
	}
}

// TestVendorListSingleField: a vendor list's records are pulled from the vendor registry,
// spelled tidily whatever the spelling of the option, and are vendor images.
func TestVendorListSingleField(t *testing.T) {
	for _, vendor := range []string{"", tmr, "DOCKER.EXTERNAL.THOUGHTMACHINE.IO.", tmr + ":443", "Docker.External.ThoughtMachine.io.:0443"} {
		es, err := ParseImageList("3.3.11_tm_registry_images.txt", []byte("vault/a:1\r\n"), WithVendorRegistry(vendor))
		if err != nil || len(es) != 1 {
			t.Fatalf("vendor %q: %v, %v", vendor, es, err)
		}
		img := es[0].image("3.3.11", options{VendorRegistry: vendor}.withDefaults())
		if img.Source.String() != tmr+"/vault/a:1" || !img.Vendor {
			t.Errorf("vendor %q: source %s vendor %v; want %s/vault/a:1, a vendor image", vendor, img.Source, img.Vendor, tmr)
		}
	}
	for _, vendor := range []string{"https://" + tmr, tmr + "/x", "user@" + tmr, "[::1]:5000", "127.1", tmr + ":0", " " + tmr} {
		_, err := ParseImageList("3.3.11_tm_registry_images.txt", []byte("vault/a:1\n"), WithVendorRegistry(vendor))
		if err == nil || !strings.Contains(err.Error(), "vendor registry") {
			t.Errorf("vendor registry %q: error %v, want a problem with the option", vendor, err)
		}
	}
}

// TestSecondFieldOnlyInBYOLists: only byo lists carry a pull location.
func TestSecondFieldOnlyInBYOLists(t *testing.T) {
	byo := []string{"3.3.12_byo_images.txt", "3.3.12_BYO_images.txt", "3.3.12_extra-byo_images.txt", "3.3.12_byo.images.txt",
		"dir/3.3.12_byo_images.txt", "3.3.12_a_byo_b_images.txt"}
	vendor := []string{"3.3.12_tm_registry_images.txt", "3.3.12_images.txt", "3.3.12_byob_images.txt", "3.3.12_nobyo_images.txt",
		"byo/3.3.12_tm_images.txt", "byo_images.txt", "3.3.12_tm_registry_images.txt.byo"}
	for _, name := range byo {
		if !IsBYOList(name) {
			t.Errorf("IsBYOList(%q) = false", name)
		}
	}
	for _, name := range vendor {
		if IsBYOList(name) {
			t.Errorf("IsBYOList(%q) = true", name)
		}
	}
	lines := []struct {
		data      string
		line, col int
	}{
		{"vault/a:1 docker.io/x/a@" + dg1 + "\n", 1, 11},
		{"# x\r\nvault/a:1\t\t" + tmr + "/vault/a:1\r\n", 2, 12},
		{"vault/b:1\nvault/a:1 " + tmr + "/vault/a:1 # the vendor itself is no exception\n", 2, 11},
		{"vault/a:1 localhost:5000/a:1\n", 1, 11},
	}
	for _, name := range []string{"3.3.12_tm_registry_images.txt", "3.3.12_images.txt", "3.3.12_byob_images.txt"} {
		for _, l := range lines {
			_, err := LoadFS(fstest.MapFS{name: {Data: []byte(l.data)}})
			var errs *Errors
			if !errors.As(err, &errs) || len(*errs) != 1 {
				t.Fatalf("%s %q: %v, want one problem", name, l.data, err)
			}
			p := (*errs)[0]
			if p.File != name || p.Line != l.line || p.Column != l.col || !strings.Contains(p.Msg, "only a byo list") {
				t.Errorf("%s %q: problem %#v, want line %d column %d, only a byo list", name, l.data, p, l.line, l.col)
			}
		}
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
