package bundle_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	imgcopy "go.podman.io/image/v5/copy"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/signature"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/internal/testbed"
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

// editIndex rewrites the layout's index.json with edit, keeping every field it has.
func editIndex(t testing.TB, dir string, edit func(ms []ocispec.Descriptor) []ocispec.Descriptor) {
	t.Helper()
	p := filepath.Join(dir, "index.json")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		t.Fatal(err)
	}
	idx.Manifests = edit(idx.Manifests)
	if data, err = json.Marshal(idx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// impostor is the index.json entry of name with the digest, size and media type of
// another image of the bundle: a verified manifest, not the one verified for name.
func impostor(t testing.TB, m *bundle.Manifest, ms []ocispec.Descriptor, name string) ocispec.Descriptor {
	t.Helper()
	var d ocispec.Descriptor
	for _, e := range ms {
		if e.Annotations[ocispec.AnnotationRefName] == name {
			d = e
		}
	}
	for _, im := range m.Images {
		if im.Name != name && im.Platforms == 1 {
			d.Digest, d.Size, d.MediaType = im.Digest, im.Size, im.MediaType
			d.Annotations = maps.Clone(d.Annotations)
			return d
		}
	}
	t.Fatal("no other image")
	return d
}

// indexAttacks: index.json entries that do not match bundle.json, under integrity files
// rewritten to match, refuse the bundle (exit 2, the entry named); the oci: transport
// would read the first entry of a name and never check its digest.
func indexAttacks(t *testing.T, fx *fixture) {
	victim := "vault/svc03:5.0.3"
	cases := []struct {
		name string
		edit func(ms []ocispec.Descriptor) []ocispec.Descriptor
		want []string
	}{
		{"a second entry of a name, before the real one", func(ms []ocispec.Descriptor) []ocispec.Descriptor {
			return append([]ocispec.Descriptor{impostor(t, fx.m, ms, victim)}, ms...)
		}, []string{"manifests[", "both name " + victim}},
		{"a second entry of a name, after the real one", func(ms []ocispec.Descriptor) []ocispec.Descriptor {
			return append(ms, impostor(t, fx.m, ms, victim))
		}, []string{"manifests[", "both name " + victim}},
		{"the same entry twice", func(ms []ocispec.Descriptor) []ocispec.Descriptor {
			return append(ms, ms[0])
		}, []string{"and manifests[" + strconv.Itoa(len(fx.m.Images)) + "] both name"}},
		{"an entry pointing a name at another image", func(ms []ocispec.Descriptor) []ocispec.Descriptor {
			imp := impostor(t, fx.m, ms, victim)
			for i := range ms {
				if ms[i].Annotations[ocispec.AnnotationRefName] == victim {
					ms[i] = imp
				}
			}
			return ms
		}, []string{"manifests[", victim, "gives " + victim + " the digest " + string(imageRecord(fx.m, victim).Digest)}},
		{"an entry of an image bundle.json does not list", func(ms []ocispec.Descriptor) []ocispec.Descriptor {
			imp := impostor(t, fx.m, ms, victim)
			imp.Annotations[ocispec.AnnotationRefName] = "vault/evil:1"
			return append(ms, imp)
		}, []string{"vault/evil:1", "does not list"}},
		{"an entry without a name", func(ms []ocispec.Descriptor) []ocispec.Descriptor {
			imp := impostor(t, fx.m, ms, victim)
			delete(imp.Annotations, ocispec.AnnotationRefName)
			return append(ms, imp)
		}, []string{"has no image name"}},
		{"an entry of another size", func(ms []ocispec.Descriptor) []ocispec.Descriptor {
			ms[0].Size++
			return ms
		}, []string{"manifests[0]", "bytes"}},
		{"an entry of another source", func(ms []ocispec.Descriptor) []ocispec.Descriptor {
			ms[0].Annotations[bundle.AnnotationSource] = "evil.example/x@" + string(ms[0].Digest)
			return ms
		}, []string{"manifests[0]", "evil.example/x"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyDir(t, fx.dir)
			editIndex(t, dir, c.edit)
			rewrite(t, dir, nil)
			b, err := bundle.Open(context.Background(), dir, bundle.WithTempDir(t.TempDir()))
			if err == nil {
				b.Close()
			}
			if !errors.Is(err, bundle.ErrUnreadable) || bundle.ExitCode(err) != bundle.ExitUnreadable {
				t.Fatalf("Open: %v (exit %d), want the bundle refused (exit 2)", err, bundle.ExitCode(err))
			}
			for _, w := range append(c.want, "index.json") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open: %v\nwant it to say %q", err, w)
				}
			}
		})
	}
}

// editedAfterVerify: a folder bundle edited between Verify and the copy (index.json, or
// a manifest blob) gives copy.Image a source that fails before anything is pushed.
func editedAfterVerify(t *testing.T, fx *fixture, op *attest.Verifier) {
	target := testbed.StartRegistry(t, testbed.RegistryOptions{})
	victim := "vault/svc03:5.0.3"
	vd := imageRecord(fx.m, victim).Digest
	cases := []struct {
		name string
		edit func(t *testing.T, dir string)
	}{
		{"index.json: a first entry of the name at another image", func(t *testing.T, dir string) {
			editIndex(t, dir, func(ms []ocispec.Descriptor) []ocispec.Descriptor {
				return append([]ocispec.Descriptor{impostor(t, fx.m, ms, victim)}, ms...)
			})
		}},
		{"index.json: the entry pointed at another image", func(t *testing.T, dir string) {
			editIndex(t, dir, func(ms []ocispec.Descriptor) []ocispec.Descriptor {
				imp := impostor(t, fx.m, ms, victim)
				for i := range ms {
					if ms[i].Annotations[ocispec.AnnotationRefName] == victim {
						ms[i] = imp
					}
				}
				return ms
			})
		}},
		{"the manifest blob replaced", func(t *testing.T, dir string) {
			imp := impostor(t, fx.m, nil, victim)
			data, err := os.ReadFile(blobFile(dir, imp.Digest))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(blobFile(dir, vd), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	pc, err := signature.NewPolicyContext(&signature.Policy{Default: signature.PolicyRequirements{signature.NewPRInsecureAcceptAnything()}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Destroy()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			dir := copyDir(t, fx.dir)
			b, s := openVerify(t, dir, op)
			if r, _ := b.Result(victim); !r.OK || s.ExitCode() != bundle.ExitOK {
				t.Fatalf("before the edit: %+v", r)
			}
			c.edit(t, dir)
			src, err := b.ImageReference(victim)
			if err != nil {
				t.Fatal(err)
			}
			dst := dockerRef(t, fmt.Sprintf("%s/edited%d/svc03:5.0.3", target.Host, i))
			_, err = imgcopy.Image(ctx, pc, dst, src, &imgcopy.Options{DestinationCtx: insecure,
				ImageListSelection: imgcopy.CopyAllImages, PreserveDigests: true, ReportWriter: io.Discard})
			if !errors.Is(err, bundle.ErrIntegrity) || !strings.Contains(err.Error(), string(vd)) {
				t.Errorf("copy.Image of an edited bundle: %v, want ErrIntegrity naming %s", err, vd)
			}
			if d, err := docker.GetDigest(ctx, insecure, dst); err == nil {
				t.Errorf("the target has %s under the verified image's tag", d)
			}
			// Nothing was pushed, not even a blob: the registry has no such repository.
			repo := filepath.Join(target.Dir, "data", "docker", "registry", "v2", "repositories", fmt.Sprintf("edited%d", i))
			if _, err := os.Stat(repo); err == nil {
				t.Errorf("the registry holds %s: something was pushed before the source failed\n%s", repo, testbed.Listing(t, repo))
			}
		})
	}
}

// ustar is one raw ustar header block (archive/tar will not write a PAX extended
// header by hand, nor a sparse file).
func ustar(name string, typeflag byte, size int64) []byte {
	h := make([]byte, 512)
	copy(h[0:100], name)
	copy(h[100:108], "0000644\x00")
	copy(h[108:116], "0000000\x00")
	copy(h[116:124], "0000000\x00")
	copy(h[124:136], fmt.Sprintf("%011o\x00", size))
	copy(h[136:148], "00000000000\x00")
	h[156] = typeflag
	copy(h[257:265], "ustar\x0000")
	copy(h[148:156], "        ")
	sum := 0
	for _, c := range h {
		sum += int(c)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return h
}

// gnuSparse is an old GNU sparse entry (type 'S') that expands to realsize bytes from
// four bytes of data.
func gnuSparse(name string, realsize int64) []byte {
	h := ustar(name, tar.TypeGNUSparse, 4)
	copy(h[257:265], "ustar  \x00")
	copy(h[386:398], fmt.Sprintf("%011o\x00", realsize-4))
	copy(h[398:410], fmt.Sprintf("%011o\x00", 4))
	copy(h[483:495], fmt.Sprintf("%011o\x00", realsize))
	copy(h[148:156], "        ")
	sum := 0
	for _, c := range h {
		sum += int(c)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return append(h, pad512([]byte("evil"))...)
}

func pad512(b []byte) []byte { return append(b, make([]byte, (512-len(b)%512)%512)...) }

// paxSparse is a PAX GNU sparse 1.0 entry named name that expands to realsize bytes
// from four bytes of data.
func paxSparse(name string, realsize int64) []byte {
	var recs []byte
	for _, kv := range [][2]string{{"GNU.sparse.major", "1"}, {"GNU.sparse.minor", "0"}, {"GNU.sparse.name", name},
		{"GNU.sparse.realsize", strconv.FormatInt(realsize, 10)}} {
		body := " " + kv[0] + "=" + kv[1] + "\n"
		n := len(body) + 1
		for len(strconv.Itoa(n))+len(body) != n {
			n++
		}
		recs = append(recs, strconv.Itoa(n)+body...)
	}
	data := pad512([]byte(fmt.Sprintf("1\n%d\n4\n", realsize-4)))
	data = append(data, "evil"...)
	out := append(ustar("PaxHeaders/"+name, 'x', int64(len(recs))), pad512(recs)...)
	out = append(out, ustar("GNUSparseFile.0/"+name, '0', int64(len(data)))...)
	return append(out, pad512(data)...)
}

// tarBombs: a tar member is never extracted past the size bundle.json records for it;
// a sparse member is refused before anything is written.
func tarBombs(t *testing.T, fx *fixture) {
	head := func() []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, f := range []string{bundle.ManifestFile, bundle.SumsFile} {
			b, err := os.ReadFile(filepath.Join(fx.dir, f))
			if err != nil {
				t.Fatal(err)
			}
			tw.WriteHeader(&tar.Header{Name: f, Typeflag: tar.TypeReg, Size: int64(len(b)), Mode: 0o644})
			tw.Write(b)
		}
		tw.Flush()
		return buf.Bytes()
	}
	layoutRec := func() bundle.FileRecord {
		for _, f := range fx.m.Files {
			if f.Path == "oci-layout" {
				return f
			}
		}
		t.Fatal("no oci-layout record")
		return bundle.FileRecord{}
	}()
	// bytesUnder is what the extraction wrote under its temporary folder.
	bytesUnder := func(dir string) int64 {
		var n int64
		filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				n += fi.Size()
			}
			return nil
		})
		return n
	}

	t.Run("PAX sparse member", func(t *testing.T) {
		for _, name := range []string{"oci-layout", "blobs/sha256/" + ownLayers(fx.m)[0].Encoded(), "unlisted"} {
			tmp := t.TempDir()
			p := filepath.Join(t.TempDir(), "bomb.tar")
			data := append(head(), paxSparse(name, 64<<20)...)
			data = append(data, make([]byte, 1024)...)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			b, err := bundle.Open(context.Background(), p, bundle.WithTempDir(tmp))
			if err == nil {
				b.Close()
			}
			if !errors.Is(err, bundle.ErrUnsafeEntry) || !strings.Contains(err.Error(), "sparse") || !strings.Contains(err.Error(), name) {
				t.Errorf("%s: Open: %v, want ErrUnsafeEntry naming the sparse member", name, err)
			}
			if n := bytesUnder(tmp); n > 0 {
				t.Errorf("%s: %d bytes extracted", name, n)
			}
		}
	})

	t.Run("GNU sparse type", func(t *testing.T) {
		data := append(head(), gnuSparse("oci-layout", 64<<20)...)
		data = append(data, make([]byte, 1024)...)
		p := filepath.Join(t.TempDir(), "bomb.tar")
		os.WriteFile(p, data, 0o644)
		tmp := t.TempDir()
		b, err := bundle.Open(context.Background(), p, bundle.WithTempDir(tmp))
		if err == nil {
			b.Close()
		}
		if !errors.Is(err, bundle.ErrUnsafeEntry) || !strings.Contains(err.Error(), "sparse") {
			t.Errorf("Open: %v, want ErrUnsafeEntry", err)
		}
		if n := bytesUnder(tmp); n > 0 {
			t.Errorf("%d bytes extracted", n)
		}
	})

	// A plain member larger than its record: refused as that file's problem (here a
	// file every image needs), and not a byte of it written.
	t.Run("member larger than its record", func(t *testing.T) {
		for _, size := range []int64{layoutRec.Size + 1, 8 << 20} {
			var buf bytes.Buffer
			buf.Write(head())
			tw := tar.NewWriter(&buf)
			tw.WriteHeader(&tar.Header{Name: "oci-layout", Typeflag: tar.TypeReg, Size: size, Mode: 0o644})
			tw.Write(make([]byte, size))
			tw.Close()
			p := filepath.Join(t.TempDir(), "big.tar")
			os.WriteFile(p, buf.Bytes(), 0o644)
			tmp := t.TempDir()
			b, err := bundle.Open(context.Background(), p, bundle.WithTempDir(tmp))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if n := bytesUnder(tmp); n > 0 {
				t.Errorf("size %d: %d bytes extracted", size, n)
			}
			s := b.Verify(context.Background(), nil)
			want := fmt.Sprintf("oci-layout is %d bytes in the tar, bundle.json says %d: not extracted", size, layoutRec.Size)
			if !slices.Contains(s.Problems, want) || s.Refused != s.Images {
				t.Errorf("size %d: problems %q, %d of %d refused; want %q", size, s.Problems, s.Refused, s.Images, want)
			}
			b.Close()
		}
	})
}

// releaseSum is the release folder's digest as `sha256sum FILES | sort -k2 | sha256sum`
// gives it (docs: --release-sha256), from the bundle's files on disk.
func releaseSum(t testing.TB, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "release"))
	if err != nil {
		t.Fatal(err)
	}
	var lines string
	for _, e := range ents { // ReadDir sorts by name
		lines += sumOf(t, filepath.Join(dir, "release", e.Name())) + "  " + e.Name() + "\n"
	}
	return sha([]byte(lines))
}

// releaseDigestClaims: bundle verify reports the release folder's digest computed from
// its files, and a bundle.json that claims another is refused (exit 2, both named).
func releaseDigestClaims(t *testing.T, fx *fixture, op *attest.Verifier) {
	want := releaseSum(t, fx.dir)
	ents, _ := os.ReadDir(filepath.Join(fx.dir, "release"))
	t.Run("computed without a claim", func(t *testing.T) {
		_, s := openVerify(t, fx.dir, op)
		if s.ReleaseSHA256 != want || s.ReleaseFiles != len(ents) || len(ents) == 0 {
			t.Errorf("summary: release sha256 %q of %d files, want %s of %d", s.ReleaseSHA256, s.ReleaseFiles, want, len(ents))
		}
	})
	t.Run("a true claim", func(t *testing.T) {
		dir := copyDir(t, fx.dir)
		rewrite(t, dir, func(m *bundle.Manifest) { m.ReleaseSHA256 = want })
		if _, s := openVerify(t, dir, op); s.ReleaseSHA256 != want || s.ExitCode() != bundle.ExitOK {
			t.Errorf("summary: release sha256 %q, exit %d", s.ReleaseSHA256, s.ExitCode())
		}
	})
	edits := map[string]func(t *testing.T, dir string) string{
		"release JSON edited, the claim kept": func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "release", "5.0.3_release.json")
			data, _ := os.ReadFile(p)
			os.WriteFile(p, append(data, ' '), 0o644)
			rewrite(t, dir, func(m *bundle.Manifest) { m.ReleaseSHA256 = want })
			return want
		},
		"a release file added, the claim kept": func(t *testing.T, dir string) string {
			os.WriteFile(filepath.Join(dir, "release", "5.0.4_images.txt"), []byte("vault/evil:1\n"), 0o644)
			rewrite(t, dir, func(m *bundle.Manifest) {
				m.ReleaseSHA256 = want
				m.Files = append(m.Files, bundle.FileRecord{Path: "release/5.0.4_images.txt"})
			})
			return want
		},
		"claim edited": func(t *testing.T, dir string) string {
			claim := strings.Repeat("ab", 32)
			rewrite(t, dir, func(m *bundle.Manifest) { m.ReleaseSHA256 = claim })
			return claim
		},
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			dir := copyDir(t, fx.dir)
			claim := edit(t, dir)
			for _, p := range []string{dir, packed(t, dir)} {
				b, err := bundle.Open(context.Background(), p, bundle.WithTempDir(t.TempDir()))
				if err == nil {
					b.Close()
				}
				got := releaseSum(t, dir)
				if bundle.ExitCode(err) != bundle.ExitUnreadable || !strings.Contains(err.Error(), claim) || !strings.Contains(err.Error(), got) {
					t.Errorf("%s: Open: %v (exit %d), want refused naming the claim %s and the computed %s", filepath.Base(p), err, bundle.ExitCode(err), claim, got)
				}
			}
		})
	}
}

// unlistedReleaseFile: a file added to a folder bundle's release/ and listed nowhere (the
// run reads the release folder as a folder: a second release JSON sending every image to
// other destinations) refuses every image; the untouched bundle passes.
func unlistedReleaseFile(t *testing.T, fx *fixture, op *attest.Verifier) {
	dir := copyDir(t, fx.dir)
	rel := filepath.Join(dir, "release")
	data, err := os.ReadFile(filepath.Join(rel, "5.0.3_release.json"))
	if err != nil {
		t.Fatal(err)
	}
	evil := strings.ReplaceAll(strings.ReplaceAll(string(data), `"dest": "vault/`, `"dest": "evil/`), `"5.0.3"`, `"5.0.9"`)
	for _, p := range []string{"5.0.9_release.json", "5.0.9_x_images.txt", "notes.md"} {
		full := filepath.Join(rel, p)
		if err := os.WriteFile(full, []byte(evil), 0o644); err != nil {
			t.Fatal(err)
		}
		_, s := openVerify(t, dir, op)
		if s.ExitCode() == bundle.ExitOK || !slices.ContainsFunc(s.Problems, func(pr string) bool {
			return strings.Contains(pr, "release/"+p) && strings.Contains(pr, "not listed")
		}) {
			t.Errorf("%s added to release/: exit %d, problems %q: want every image refused, the file named", p, s.ExitCode(), s.Problems)
		}
		os.Remove(full)
	}
	// What the release loader never reads does not refuse the bundle: a dot file (Finder's
	// .DS_Store, the ._ files macOS writes on a FAT stick) and a subfolder.
	os.WriteFile(filepath.Join(rel, ".DS_Store"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(rel, "._5.0.3_release.json"), []byte(evil), 0o644)
	os.MkdirAll(filepath.Join(rel, "sub"), 0o755)
	os.WriteFile(filepath.Join(rel, "sub", "5.0.9_release.json"), []byte(evil), 0o644)
	if _, s := openVerify(t, dir, op); s.ExitCode() != bundle.ExitOK {
		t.Errorf("the bundle with only files the loader passes over added: exit %d, problems %q", s.ExitCode(), s.Problems)
	}
}

// packed is dir packed into one tar.
func packed(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bundle.tar")
	if _, err := bundle.PackFile(context.Background(), dir, p, 0); err != nil {
		t.Fatal(err)
	}
	return p
}
