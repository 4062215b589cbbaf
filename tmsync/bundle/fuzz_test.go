package bundle

import (
	"strings"
	"testing"
)

func FuzzParseSums(f *testing.F) {
	f.Add([]byte(strings.Repeat("a", 64) + "  bundle.json\n"))
	f.Add([]byte(strings.Repeat("0", 64) + " *blobs/sha256/x\r\n"))
	f.Add([]byte(strings.Repeat("0", 64) + "  ../x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sums, err := parseSums(b)
		if err != nil {
			return
		}
		for p, s := range sums {
			if !safePath(p) || !hex64.MatchString(s) {
				t.Fatalf("accepted %q %q", p, s)
			}
		}
	})
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"format":1,"tool":"tmsync","toolVersion":"x","created":"2026-01-01T00:00:00Z","releases":[],"images":[],"files":[{"path":"oci-layout","size":30,"sha256":"` + strings.Repeat("a", 64) + `"}]}`))
	f.Add([]byte(`{"format":1,"files":[{"path":"/etc/passwd","size":1,"sha256":"` + strings.Repeat("a", 64) + `"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseManifest(b)
		if err != nil {
			return
		}
		for _, fr := range m.Files {
			if !safePath(fr.Path) || fr.Path == ManifestFile || fr.Path == SumsFile || fr.Size < 0 {
				t.Fatalf("accepted file %+v", fr)
			}
		}
	})
}

func TestSafePath(t *testing.T) {
	for p, want := range map[string]bool{
		"blobs/sha256/ab": true, "release/5.0.3_release.json": true, "oci-layout": true,
		"": false, "/etc/passwd": false, "../x": false, "a/../b": false, "a//b": false, "./a": false,
		"a/.": false, `a\b`: false, "a/": false, "a\x00b": false, "..": false,
	} {
		if got := safePath(p); got != want {
			t.Errorf("safePath(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestRefName(t *testing.T) {
	for name, ok := range map[string]bool{
		"vault/core:5.0.3": true, "vault/xpl/xpl_payees:5.0.3": true, "a:b": true,
		"vault/core": false, "Vault/../x:1": false, "vault/core:5.0.3 ": false, "/vault:1": false,
	} {
		if _, err := refNameOK(name); (err == nil) != ok {
			t.Errorf("refNameOK(%q): %v", name, err)
		}
	}
}
