package bundle_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/tmsync/bundle"
)

func blobFile(dir string, d digest.Digest) string {
	return filepath.Join(dir, "blobs", "sha256", d.Encoded())
}

func readManifest(t testing.TB, dir string) *bundle.Manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, bundle.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m bundle.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

func sha(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// setSum sets path's line in SHA256SUMS.
func setSum(t testing.TB, dir, path, sum string) {
	t.Helper()
	p := filepath.Join(dir, bundle.SumsFile)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	found := false
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if strings.HasSuffix(l, "  "+path) {
			l, found = sum+"  "+path, true
		}
		out = append(out, l)
	}
	if !found {
		out = append(out, sum+"  "+path)
	}
	if err := os.WriteFile(p, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rewrite is an attacker who controls the integrity files: it edits bundle.json, makes
// every file record match the files on disk, and fixes SHA256SUMS to match.
func rewrite(t testing.TB, dir string, edit func(m *bundle.Manifest)) {
	t.Helper()
	m := readManifest(t, dir)
	if edit != nil {
		edit(m)
	}
	for i, f := range m.Files {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			continue
		}
		m.Files[i].Size, m.Files[i].SHA256 = int64(len(b)), sha(b)
		setSum(t, dir, f.Path, m.Files[i].SHA256)
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, bundle.ManifestFile), mb, 0o644); err != nil {
		t.Fatal(err)
	}
	setSum(t, dir, bundle.ManifestFile, sha(mb))
}

func flipByte(t testing.TB, p string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// expectRefused checks that exactly the images refused are refused, each with an error
// naming what it must, and that the others verified.
func expectRefused(t *testing.T, b *bundle.Bundle, s *bundle.Summary, refused map[string]bool, all bool, want ...string) {
	t.Helper()
	n := 0
	for _, r := range s.Results {
		if all || refused[r.Name] {
			n++
			if r.OK || r.Err == nil || !errors.Is(r.Err, bundle.ErrRefused) {
				t.Errorf("%s: OK=%v err=%v, want refused", r.Name, r.OK, r.Err)
				continue
			}
			for _, w := range want {
				if !strings.Contains(r.Err.Error(), w) {
					t.Errorf("%s: %v\nwant it to say %q", r.Name, r.Err, w)
				}
			}
			if _, err := b.ImageReference(r.Name); !errors.Is(err, bundle.ErrRefused) {
				t.Errorf("%s: ImageReference of a refused image: %v", r.Name, err)
			}
			continue
		}
		if !r.OK {
			t.Errorf("%s refused, want verified: %v", r.Name, r.Err)
		}
	}
	if s.Refused != n || s.ExitCode() != bundle.ExitRefused {
		t.Errorf("summary: %d refused (want %d), exit %d", s.Refused, n, s.ExitCode())
	}
}

func attacks(t *testing.T, fx *fixture, op *attest.Verifier) {
	own := ownLayers(fx.m)
	victim, other := own[0], own[len(own)-1]
	vName := imageOf(fx.m, victim)
	vPath := "blobs/sha256/" + victim.Encoded()
	one := map[string]bool{vName: true}

	dirCases := []struct {
		name    string
		attack  func(t *testing.T, dir string)
		refused map[string]bool
		all     bool
		want    []string
	}{
		{"missing blob", func(t *testing.T, dir string) { os.Remove(blobFile(dir, victim)) }, one, false,
			[]string{vPath, string(victim), "is missing"}},
		{"truncated blob", func(t *testing.T, dir string) { os.Truncate(blobFile(dir, victim), 100) }, one, false,
			[]string{vPath, "has 100 bytes"}},
		{"altered blob", func(t *testing.T, dir string) { flipByte(t, blobFile(dir, victim)) }, one, false,
			[]string{vPath, "altered"}},
		{"blob replaced by a symlink", func(t *testing.T, dir string) {
			os.Remove(blobFile(dir, victim))
			os.Symlink(blobFile(dir, other), blobFile(dir, victim))
		}, one, false, []string{vPath, "not a regular file"}},
		{"shared base layer altered", func(t *testing.T, dir string) { flipByte(t, blobFile(dir, sharedLayer(fx.m))) }, nil, true,
			[]string{string(sharedLayer(fx.m)), "altered"}},
		{"bundle.json edited to match an altered blob", func(t *testing.T, dir string) {
			flipByte(t, blobFile(dir, victim))
			m := readManifest(t, dir)
			b, _ := os.ReadFile(blobFile(dir, victim))
			for i := range m.Files {
				if m.Files[i].Path == vPath {
					m.Files[i].SHA256 = sha(b)
				}
			}
			mb, _ := json.MarshalIndent(m, "", "  ")
			os.WriteFile(filepath.Join(dir, bundle.ManifestFile), mb, 0o644)
		}, nil, true, []string{"bundle.json has sha256", "SHA256SUMS says"}},
		{"bundle.json and SHA256SUMS both edited to match an altered blob", func(t *testing.T, dir string) {
			flipByte(t, blobFile(dir, victim))
			rewrite(t, dir, nil)
		}, one, false, []string{vPath, "named for a digest it does not have"}},
		{"SHA256SUMS line edited", func(t *testing.T, dir string) {
			setSum(t, dir, vPath, strings.Repeat("0", 64))
		}, one, false, []string{vPath, "in SHA256SUMS"}},
		{"bundle.json lists a blob the manifests do not reference", func(t *testing.T, dir string) {
			rewrite(t, dir, func(m *bundle.Manifest) {
				for i := range m.Images {
					if m.Images[i].Name == vName {
						m.Images[i].Blobs = append(m.Images[i].Blobs, bundle.Blob{Digest: other, Size: 1})
					}
				}
			})
		}, one, false, []string{string(other), "do not reference"}},
		{"index.json points a name at another image", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "index.json")
			b, _ := os.ReadFile(p)
			var idx struct {
				SchemaVersion int               `json:"schemaVersion"`
				MediaType     string            `json:"mediaType"`
				Manifests     []json.RawMessage `json:"manifests"`
			}
			json.Unmarshal(b, &idx)
			a := imageRecord(fx.m, vName).Digest
			var other digest.Digest
			for _, im := range fx.m.Images {
				if im.Name != vName && im.Platforms == 1 {
					other = im.Digest
				}
			}
			os.WriteFile(p, bytes.ReplaceAll(b, []byte(a), []byte(other)), 0o644)
			rewrite(t, dir, nil)
		}, one, false, []string{"index.json names " + vName}},
		{"release file edited", func(t *testing.T, dir string) {
			flipByte(t, filepath.Join(dir, "release", "5.0.3_release.json"))
		}, nil, true, []string{"release/5.0.3_release.json", "altered"}},
		{"attestations removed", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, bundle.AttestationsFile))
		}, nil, true, []string{bundle.AttestationsFile, "is missing"}},
	}
	for _, c := range dirCases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyDir(t, fx.dir)
			c.attack(t, dir)
			b, s := openVerify(t, dir, op)
			expectRefused(t, b, s, c.refused, c.all, c.want...)
		})
	}

	t.Run("attestations signed by another key, its key in the bundle", func(t *testing.T) {
		dir := copyDir(t, fx.dir)
		mallory, err := attesttest.NewSigner("mallory")
		if err != nil {
			t.Fatal(err)
		}
		var occs []attest.Occurrence
		for _, im := range fx.m.Images {
			sub, _ := attest.ParseSubject(im.Source)
			raw, err := mallory.Occurrence(sub)
			if err != nil {
				t.Fatal(err)
			}
			o, err := attest.ParseOccurrence(raw)
			if err != nil {
				t.Fatal(err)
			}
			occs = append(occs, o)
		}
		var buf bytes.Buffer
		if err := attest.WriteBundle(&buf, attest.Bundle{Occurrences: occs}); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, bundle.AttestationsFile), buf.Bytes(), 0o644)
		key, _ := mallory.ArmoredPublicKey()
		os.WriteFile(filepath.Join(dir, "release", "attestor.asc"), key, 0o644)
		rewrite(t, dir, func(m *bundle.Manifest) {
			m.Files = append(m.Files, bundle.FileRecord{Path: "release/attestor.asc"})
			m.Attestations.Fingerprints = []string{mallory.Fingerprint()}
		})
		b, s := openVerify(t, dir, op)
		expectRefused(t, b, s, nil, true, "attestation of")
		for _, r := range s.Results {
			if !errors.Is(r.Err, attest.ErrRejected) {
				t.Errorf("%s: %v, want attest.ErrRejected", r.Name, r.Err)
			}
		}
		// The same bundle under mallory's key verifies: only the operator's key decided.
		if s := b.Verify(context.Background(), operatorVerifier(t, mallory)); s.Verified != len(fx.m.Images) {
			t.Errorf("under the other key: %d verified: %v", s.Verified, s.Err())
		}
	})

	t.Run("no attestation: refused unless the BYO policy allows it", func(t *testing.T) {
		dir := copyDir(t, fx.dir)
		var buf bytes.Buffer
		attest.WriteBundle(&buf, attest.Bundle{})
		os.WriteFile(filepath.Join(dir, bundle.AttestationsFile), buf.Bytes(), 0o644)
		rewrite(t, dir, nil)
		b, s := openVerify(t, dir, op)
		expectRefused(t, b, s, nil, true, "no attestation")
		s = b.Verify(context.Background(), op, bundle.WithAllowUnattested(func(im bundle.ImageRecord) bool { return im.Name == vName }))
		if r, _ := b.Result(vName); !r.OK || s.Verified != 1 {
			t.Errorf("BYO policy: %+v, %d verified", r, s.Verified)
		}
	})

	unreadable := []struct {
		name   string
		attack func(t *testing.T, dir string)
		want   string
	}{
		{"bundle.json missing", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, bundle.ManifestFile)) }, "bundle.json"},
		{"bundle.json not JSON", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, bundle.ManifestFile), []byte("{\"format\": 1,"), 0o644)
		}, "bundle.json"},
		{"bundle.json of another format", func(t *testing.T, dir string) {
			rewrite(t, dir, func(m *bundle.Manifest) { m.Format = 99 })
		}, "format 99"},
		{"bundle.json with a traversal path", func(t *testing.T, dir string) {
			rewrite(t, dir, func(m *bundle.Manifest) { m.Files[0].Path = "../outside" })
		}, "../outside"},
		{"SHA256SUMS malformed", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, bundle.SumsFile), []byte("not a sum line\n"), 0o644)
		}, "SHA256SUMS:1"},
		{"SHA256SUMS missing", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, bundle.SumsFile)) }, "SHA256SUMS"},
	}
	for _, c := range unreadable {
		t.Run(c.name, func(t *testing.T) {
			dir := copyDir(t, fx.dir)
			c.attack(t, dir)
			_, err := bundle.Open(context.Background(), dir, bundle.WithTempDir(t.TempDir()))
			if !errors.Is(err, bundle.ErrUnreadable) || bundle.ExitCode(err) != bundle.ExitUnreadable || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Open: %v (exit %d), want unreadable naming %q", err, bundle.ExitCode(err), c.want)
			}
		})
	}
}

func tarAttacks(t *testing.T, fx *fixture, op *attest.Verifier) {
	dir := t.TempDir()
	whole := filepath.Join(dir, "bundle.tar")
	if _, err := bundle.PackFile(context.Background(), fx.dir, whole, 0); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(whole)

	t.Run("cut short", func(t *testing.T) {
		for _, frac := range []float64{0.3, 0.6, 0.95} {
			p := filepath.Join(t.TempDir(), "cut.tar")
			os.WriteFile(p, data[:int(float64(len(data))*frac)], 0o644)
			b, s := openVerify(t, p, op)
			if s.Refused == 0 || s.ExitCode() != bundle.ExitRefused {
				t.Fatalf("cut at %.0f%%: %d refused", frac*100, s.Refused)
			}
			for _, r := range s.Results {
				if !r.OK && !strings.Contains(r.Err.Error(), "missing") && !strings.Contains(r.Err.Error(), "cut short") {
					t.Errorf("cut at %.0f%%: %s: %v", frac*100, r.Name, r.Err)
				}
				if r.OK {
					if _, err := b.ImageReference(r.Name); err != nil {
						t.Error(err)
					}
				}
			}
			if !strings.Contains(strings.Join(s.Warnings, ";"), "cut short") {
				t.Errorf("cut at %.0f%%: warnings %v", frac*100, s.Warnings)
			}
		}
		for _, n := range []int{0, 100, 1000, 512 + 1024} {
			p := filepath.Join(t.TempDir(), "cut.tar")
			os.WriteFile(p, data[:n], 0o644)
			_, err := bundle.Open(context.Background(), p, bundle.WithTempDir(t.TempDir()))
			if bundle.ExitCode(err) != bundle.ExitUnreadable {
				t.Errorf("cut at %d bytes (before bundle.json's end): %v", n, err)
			}
		}
	})

	t.Run("split parts", func(t *testing.T) {
		d := t.TempDir()
		parts, err := bundle.PackFile(context.Background(), fx.dir, filepath.Join(d, "b.tar"), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(parts[2])
		_, err = bundle.Open(context.Background(), parts[0], bundle.WithTempDir(t.TempDir()))
		if bundle.ExitCode(err) != bundle.ExitUnreadable || !strings.Contains(err.Error(), filepath.Base(parts[2])) {
			t.Errorf("a missing part: %v", err)
		}
		d = t.TempDir()
		parts, _ = bundle.PackFile(context.Background(), fx.dir, filepath.Join(d, "b.tar"), 1<<20)
		os.Rename(parts[1], parts[1]+".x")
		os.Rename(parts[2], parts[1])
		os.Rename(parts[1]+".x", parts[2])
		b, err := bundle.Open(context.Background(), parts[0], bundle.WithTempDir(t.TempDir()))
		if err == nil {
			defer b.Close()
			s := b.Verify(context.Background(), op)
			if s.Refused == 0 {
				t.Errorf("parts out of order: every image verified")
			}
		} else if bundle.ExitCode(err) != bundle.ExitUnreadable {
			t.Errorf("parts out of order: %v", err)
		}
		// The last part missing: the tar ends early, at a file boundary or not.
		d = t.TempDir()
		parts, _ = bundle.PackFile(context.Background(), fx.dir, filepath.Join(d, "b.tar"), 1<<20)
		os.Remove(parts[len(parts)-1])
		_, s := openVerify(t, parts[0], op)
		if s.Refused == 0 {
			t.Errorf("last part missing: every image verified")
		}
	})

	t.Run("unsafe entries", func(t *testing.T) {
		head := func(tw *tar.Writer) {
			for _, f := range []string{bundle.ManifestFile, bundle.SumsFile} {
				b, _ := os.ReadFile(filepath.Join(fx.dir, f))
				tw.WriteHeader(&tar.Header{Name: f, Typeflag: tar.TypeReg, Size: int64(len(b)), Mode: 0o644})
				tw.Write(b)
			}
		}
		reg := func(name string) func(*tar.Writer) {
			return func(tw *tar.Writer) {
				tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: 4, Mode: 0o644})
				tw.Write([]byte("evil"))
			}
		}
		cases := map[string]func(*tar.Writer){
			"dot-dot":        reg("../evil"),
			"dot-dot inside": reg("blobs/../../evil"),
			"absolute":       reg("/tmp/evil"),
			"backslash":      reg(`..\evil`),
			"symlink": func(tw *tar.Writer) {
				tw.WriteHeader(&tar.Header{Name: "oci-layout", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"})
			},
			"hard link": func(tw *tar.Writer) {
				tw.WriteHeader(&tar.Header{Name: "oci-layout", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"})
			},
			"device":    func(tw *tar.Writer) { tw.WriteHeader(&tar.Header{Name: "oci-layout", Typeflag: tar.TypeChar}) },
			"duplicate": func(tw *tar.Writer) { reg("oci-layout")(tw); reg("oci-layout")(tw) },
			"symlink dir then file": func(tw *tar.Writer) {
				tw.WriteHeader(&tar.Header{Name: "blobs", Typeflag: tar.TypeSymlink, Linkname: "/tmp"})
			},
		}
		for name, entry := range cases {
			t.Run(name, func(t *testing.T) {
				var buf bytes.Buffer
				tw := tar.NewWriter(&buf)
				head(tw)
				entry(tw)
				tw.Close()
				root := t.TempDir()
				p := filepath.Join(root, "evil.tar")
				os.WriteFile(p, buf.Bytes(), 0o644)
				tmp := filepath.Join(root, "x", "y")
				os.MkdirAll(tmp, 0o755)
				_, err := bundle.Open(context.Background(), p, bundle.WithTempDir(tmp))
				if !errors.Is(err, bundle.ErrUnsafeEntry) || bundle.ExitCode(err) != bundle.ExitUnreadable {
					t.Errorf("Open: %v, want ErrUnsafeEntry", err)
				}
				for _, q := range []string{filepath.Join(root, "evil"), filepath.Join(root, "x", "evil"), "/tmp/evil"} {
					if _, err := os.Lstat(q); err == nil {
						t.Errorf("%s was written", q)
					}
				}
				if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
					t.Errorf("the extraction was left behind: %v", ents)
				}
			})
		}
	})
}
