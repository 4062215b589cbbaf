package bundle

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
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

// FuzzCheckIndex: an index.json that checkIndex accepts has one entry per name, each
// the image bundle.json records under it.
func FuzzCheckIndex(f *testing.F) {
	d1, d2 := digest.FromString("one"), digest.FromString("two")
	m := &Manifest{Images: []ImageRecord{
		{Name: "vault/core:5.0.3", Source: "r.example/vault/core@" + d1.String(), Digest: d1, MediaType: ocispec.MediaTypeImageManifest, Size: 3},
		{Name: "vault/ix:5.0.3", Source: "r.example/vault/ix@" + d2.String(), Digest: d2, MediaType: ocispec.MediaTypeImageIndex, Size: 3},
	}}
	entry := func(im ImageRecord) string {
		return `{"mediaType":"` + im.MediaType + `","digest":"` + im.Digest.String() + `","size":3,"annotations":{"org.opencontainers.image.ref.name":"` +
			im.Name + `","io.tmsync.source":"` + im.Source + `"}}`
	}
	f.Add([]byte(`{"schemaVersion":2,"manifests":[` + entry(m.Images[0]) + `,` + entry(m.Images[1]) + `]}`))
	f.Add([]byte(`{"schemaVersion":2,"manifests":[` + entry(m.Images[0]) + `,` + entry(m.Images[0]) + `]}`))
	f.Add([]byte(`{"schemaVersion":2,"manifests":[` + strings.Replace(entry(m.Images[1]), "ix:", "core:", 1) + `,` + entry(m.Images[0]) + `]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var idx ocispec.Index
		if json.Unmarshal(data, &idx) != nil {
			return
		}
		b := &Bundle{m: m}
		index, err := b.checkIndex(idx)
		if err != nil {
			return
		}
		if len(index) != len(idx.Manifests) {
			t.Fatalf("accepted %d entries for %d names", len(idx.Manifests), len(index))
		}
		for _, im := range m.Images {
			if d, ok := index[im.Name]; ok && (d.Digest != im.Digest || d.Size != im.Size || d.MediaType != im.MediaType) {
				t.Fatalf("accepted %s as %+v", im.Name, d)
			}
		}
		for name := range index {
			if !slices.ContainsFunc(m.Images, func(im ImageRecord) bool { return im.Name == name }) {
				t.Fatalf("accepted an entry %q bundle.json does not list", name)
			}
		}
	})
}

// TestParseManifestTrailing: bundle.json with anything after its object, a stray closing
// bracket among them, is refused.
func TestParseManifestTrailing(t *testing.T) {
	const doc = `{"format":1,"tool":"tmsync","toolVersion":"x","created":"2026-01-01T00:00:00Z","releases":[],"images":[],"files":[]}`
	if _, err := parseManifest([]byte(doc + "\n")); err != nil && strings.Contains(err.Error(), "data after") {
		t.Fatalf("a trailing newline refused: %v", err)
	}
	for _, tail := range []string{"}", "\n]", " {}", "x", `"`} {
		if _, err := parseManifest([]byte(doc + tail)); err == nil || !strings.Contains(err.Error(), "data after the JSON object") {
			t.Errorf("%q after bundle.json's object: %v", tail, err)
		}
	}
}
