package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/tmsync/bundle"
)

// withCommand is b.args with another command (and the flags it takes in place of
// --release-dir's folder).
func withCommand(args []string, cmd string) []string {
	out := append([]string(nil), args...)
	out[1] = cmd
	return out
}

// exportArgs are args (a sync's, of b.args) as export takes them: the command export,
// without the target's flags, which export refuses.
func exportArgs(args []string) []string {
	target := map[string]bool{"--trgprefix": true, "--trgregion": true, "--trg_kms_key_alias": true,
		"--throttle_ecr_creation_ms": true, "--trg-registry": true, "--trg_resource_tags_file_path": true,
		"--trg_ecr_policy_file_path": true, "--trg_dst_security_scan_enabled": true}
	in := withCommand(args, "export")
	out := in[:2:2]
	for i := 2; i < len(in); i++ {
		name, _, hasValue := strings.Cut(in[i], "=")
		if !target[name] {
			out = append(out, in[i])
			continue
		}
		if !hasValue && name != "--trg_dst_security_scan_enabled" {
			i++ // its value
		}
	}
	return out
}

// withFlag replaces the value of flag in args.
func withFlag(args []string, flag, value string) []string {
	out := append([]string(nil), args...)
	for i := range out {
		if out[i] == flag && i+1 < len(out) {
			out[i+1] = value
		} else if strings.HasPrefix(out[i], flag+"=") {
			out[i] = flag + "=" + value
		}
	}
	return out
}

func readBundleJSON(t *testing.T, dir string) *bundle.Manifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, bundle.ManifestFile))
	must(t, err)
	var m bundle.Manifest
	must(t, json.Unmarshal(data, &m))
	return &m
}

// TestBundleEndToEnd is the air-gapped path on the test bed: export from the vendor
// (with its token) and the attestation server, stop both, import into ECR (moto and a
// registry that takes its token) from the bundle folder; then the faults: a tampered
// blob, a cut tar, an incremental bundle whose left-out blobs the target lacks; and
// bundle verify's exit statuses. It logs the figures: bundle size against distinct
// bytes, export and import throughput against a direct sync.
func TestBundleEndToEnd(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	cfg := b.ecr.Moto.Config()
	ecrc := ecr.NewFromConfig(cfg)

	images := []releasetest.Image{
		{Repository: "vault/core", Tag: "5.0.3", Layers: 2, LayerSize: 4 << 20},
		{Repository: "vault/xpl/xpl_payees", Tag: "5.0.3", Layers: 2, LayerSize: 2 << 20},
		{Repository: "vault/postings", Tag: "5.0.3", Layers: 1, LayerSize: 2 << 20, Index: true},
	}
	b.push(images, 1, true)
	byo := releasetest.Image{Repository: "grafana/grafana", Tag: "10.0", Layers: 1, LayerSize: 1 << 20}
	must(t, releasetest.Push(ctx, releasetest.Registry{Host: b.upstream.Host}, &byo, 99))
	rel := filepath.Join(b.dir, "release")
	must(t, os.Mkdir(rel, 0o755))
	writeRelease(t, rel, "5.0.3", b.vendor.Host, images, map[string]string{
		"grafana": b.upstream.Host + "/grafana/grafana@" + byo.Digest + "|restricted/third_party/docker.io/grafana/grafana:vault-5.0.3",
	})
	// The next release keeps xpl_payees as it is and adds vault/ledger.
	next := []releasetest.Image{{Repository: "vault/ledger", Tag: "5.0.4", Layers: 1, LayerSize: 1 << 20}}
	b.push(next, 700, true)
	next = append(next, images[1])
	rel2 := filepath.Join(b.dir, "release2")
	must(t, os.Mkdir(rel2, 0o755))
	writeRelease(t, rel2, "5.0.4", b.vendor.Host, next, nil)

	tags := filepath.Join(b.dir, "resource_tags.json")
	must(t, os.WriteFile(tags, []byte(`[{"Key":"owner","Value":"platform"},{"Key":"app","Value":"vault"}]`), 0o644))
	accounts := filepath.Join(b.dir, "awsaccounts_read_binaries.txt")
	must(t, os.WriteFile(accounts, []byte("111122223333\n444455556666\n"), 0o644))
	args := b.args(rel, "--trg_resource_tags_file_path", tags, "--trg_ecr_policy_file_path", accounts,
		"--trg_dst_security_scan_enabled=true")

	// The export side has the vendor token and reaches the vendor.
	t.Setenv("TM_TOKEN", b.token)
	bdir := filepath.Join(b.dir, "bundle")
	start := time.Now()
	code, _ := b.run(append(exportArgs(args), "--to", bdir))
	exportSecs := time.Since(start).Seconds()
	if code != 0 {
		t.Fatalf("export: exit %d; error log:\n%s", code, b.errorLog())
	}
	exportRep := b.report()
	if exportRep.Mode != "export" || exportRep.Summary.Copied != 4 || exportRep.Summary.NotAttested != 1 || b.errorLog() != "" {
		t.Fatalf("export report %s %+v, error log %q: want 4 exported, 1 not attested", exportRep.Mode, exportRep.Summary, b.errorLog())
	}
	m := readBundleJSON(t, bdir)
	var distinct, blobFiles, total int64
	seen := map[string]bool{}
	for _, im := range m.Images {
		for _, bl := range im.Blobs {
			if !seen[bl.Digest.String()] {
				seen[bl.Digest.String()] = true
				distinct += bl.Size
			}
		}
	}
	_ = filepath.Walk(bdir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			total += fi.Size()
			if strings.Contains(p, "/blobs/") {
				blobFiles += fi.Size()
			}
		}
		return nil
	})
	if blobFiles != distinct {
		t.Errorf("bundle blobs %d bytes, distinct blobs of the release %d: each blob must be there once", blobFiles, distinct)
	}
	t.Logf("FIGURE bundle size %d bytes, distinct blob bytes %d: +%.2f%%", total, distinct, 100*float64(total-distinct)/float64(distinct))

	// A tar in 1 MiB parts, and the incremental bundle of the next release, while the
	// vendor is there.
	tarPath := filepath.Join(b.dir, "out", "bundle.tar")
	must(t, os.MkdirAll(filepath.Dir(tarPath), 0o755))
	// A split below one tar block is refused before anything is fetched (it once failed
	// at the pack, after the whole export), and so is a flag of sync's target.
	if code, out := b.run(append(exportArgs(args), "--to", tarPath, "--split", "1")); code != 2 || !strings.Contains(out, "--split") || strings.Contains(out, "START:") {
		t.Errorf("export --split 1: exit %d; want 2 naming --split, nothing fetched", code)
	}
	if _, err := os.Stat(tarPath + ".export.d"); !os.IsNotExist(err) {
		t.Errorf("export --split 1 made %s.export.d: %v", tarPath, err)
	}
	if code, out := b.run(append(exportArgs(args), "--to", tarPath, "--trgprefix", "/x/")); code != 2 || !strings.Contains(out, "--trgprefix") {
		t.Errorf("export --trgprefix: exit %d; want 2 naming it", code)
	}
	if code, _ := b.run(append(exportArgs(args), "--to", tarPath, "--split", "1M")); code != 0 {
		t.Fatalf("export --to tar --split: exit %d", code)
	}
	parts, err := bundle.Parts(tarPath + ".000")
	if err != nil || len(parts) < 2 {
		t.Fatalf("split parts %v %v, want several", parts, err)
	}
	if _, err := os.Stat(tarPath + ".export.d"); !os.IsNotExist(err) {
		t.Errorf("the export folder next to the tar is left behind: %v", err)
	}
	incr := filepath.Join(b.dir, "bundle-5.0.4")
	if code, _ := b.run(append(exportArgs(withFlag(args, "--release-dir", rel2)), "--to", incr, "--since", bdir)); code != 0 {
		t.Fatalf("incremental export: exit %d", code)
	}
	if mi := readBundleJSON(t, incr); len(mi.External) != 2 {
		t.Fatalf("incremental bundle leaves out %d blobs, want xpl_payees's 2 layers", len(mi.External))
	}
	// --since a previous release folder: the same blobs left out, read from the vendor.
	incrRel := filepath.Join(b.dir, "bundle-5.0.4-since-folder")
	if code, _ := b.run(append(exportArgs(withFlag(args, "--release-dir", rel2)), "--to", incrRel, "--since", rel)); code != 0 {
		t.Fatalf("incremental export --since a release folder: exit %d", code)
	}
	if mi := readBundleJSON(t, incrRel); len(mi.External) != 2 || mi.Since == nil || len(mi.Since.Releases) != 1 || mi.Since.Releases[0] != "5.0.3" {
		t.Fatalf("incremental bundle --since a folder: %d left out, since %+v; want 2, release 5.0.3", len(mi.External), mi.Since)
	}

	// An image whose attestation signs another digest is refused by export as by sync,
	// and left out of the bundle; the other is exported. Exit 1.
	bad := []releasetest.Image{
		{Repository: "vault/ledger", Tag: "5.0.5", Layers: 1, LayerSize: 64 << 10},
		{Repository: "vault/accounts", Tag: "5.0.5", Layers: 1, LayerSize: 64 << 10},
	}
	b.push(bad, 900, false)
	b.attest(bad[0].Repository, bad[0].Digest)
	b.attest(bad[1].Repository, bad[1].Digest, attesttest.SignDigest(digest.Digest(images[0].Digest)))
	rel3 := filepath.Join(b.dir, "release3")
	must(t, os.Mkdir(rel3, 0o755))
	writeRelease(t, rel3, "5.0.5", b.vendor.Host, bad, nil)
	refusedDir := filepath.Join(b.dir, "bundle-5.0.5")
	if code, _ := b.run(append(exportArgs(withFlag(args, "--release-dir", rel3)), "--to", refusedDir)); code != 1 {
		t.Errorf("export of a release with a bad attestation: exit %d, want 1", code)
	}
	if lines := strings.Split(strings.TrimSpace(b.errorLog()), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "ERROR: attestation failed: vault/accounts:5.0.5") {
		t.Errorf("export error log %q: want one attestation line for vault/accounts:5.0.5", lines)
	}
	if mr := readBundleJSON(t, refusedDir); len(mr.Images) != 1 || mr.Images[0].Name != "vault/ledger:5.0.5" {
		t.Errorf("bundle of a release with a refused image holds %+v, want vault/ledger:5.0.5 only", mr.Images)
	}

	// A direct sync of the same release into another prefix, for the throughput figure.
	direct := withFlag(args, "--trgprefix", "/direct/")
	start = time.Now()
	if code, _ := b.run(direct); code != 0 {
		t.Fatalf("direct sync: exit %d", code)
	}
	directSecs := time.Since(start).Seconds()

	// The import side: no vendor, no attestation server, no token.
	b.vendor.Stop()
	b.upstream.Stop()
	b.att.Close()
	t.Setenv("TM_TOKEN", "")
	imp := append(args, "--from-bundle", bdir)
	start = time.Now()
	// The release pin the export reported holds for the bundle's copy of the folder.
	code, _ = b.run(append(imp, "--release-sha256", exportRep.ReleaseSHA256))
	importSecs := time.Since(start).Seconds()
	if code != 0 {
		t.Fatalf("import: exit %d; error log:\n%s", code, b.errorLog())
	}
	if log := b.errorLog(); log != "" {
		t.Fatalf("error log after a good import:\n%s", log)
	}
	for _, repo := range []string{"vault/core", "vault/xpl/xpl_payees", "vault/postings", "restricted/third_party/docker.io/grafana/grafana"} {
		assertRepositorySettings(t, ecrc, "3rdparty/tm/"+repo)
	}
	for _, im := range images {
		if got := b.targetDigest("3rdparty/tm/"+im.Repository, im.Tag); got != im.Digest {
			t.Errorf("%s:%s is %s in the target, the vendor's is %s", im.Repository, im.Tag, got, im.Digest)
		}
	}
	if got := b.targetDigest("3rdparty/tm/restricted/third_party/docker.io/grafana/grafana", "vault-5.0.3"); got != byo.Digest {
		t.Errorf("BYO image digest %s, want %s", got, byo.Digest)
	}
	rep := b.report()
	if rep.Mode != "sync" || rep.Summary.Copied != 4 || rep.Summary.NotAttested != 1 {
		t.Errorf("import report %s %+v, want a sync with 4 copied, 1 not attested", rep.Mode, rep.Summary)
	}
	for _, im := range rep.Images {
		if im.Vendor && (im.Attestation == nil || im.Attestation.Fingerprint != b.signer.Fingerprint()) {
			t.Errorf("%s: attestation %+v, want one by %s", im.Dest, im.Attestation, b.signer.Fingerprint())
		}
		if im.Dest == "vault/postings:5.0.3" && len(im.Children) != 2 {
			t.Errorf("index children %v, want 2", im.Children)
		}
	}
	bytesMoved := float64(rep.Summary.Bytes)
	t.Logf("FIGURE %.1f MB: export %.2fs (%.1f MB/s), direct sync %.2fs (%.1f MB/s), import from the folder %.2fs (%.1f MB/s): export %.2fx, import %.2fx a direct sync",
		bytesMoved/1e6, exportSecs, bytesMoved/1e6/exportSecs, directSecs, bytesMoved/1e6/directSecs, importSecs, bytesMoved/1e6/importSecs,
		directSecs/exportSecs, directSecs/importSecs)
	// A second import changes nothing.
	pushes := b.ecr.ManifestPushes()
	if code, _ := b.run(imp); code != 0 || b.ecr.ManifestPushes() != pushes || b.report().Summary.Present != 4 {
		t.Errorf("second import: exit %d, %d manifests pushed, summary %+v: want 0, none, 4 present", code, b.ecr.ManifestPushes()-pushes, b.report().Summary)
	}

	// From the split tar, into another prefix: the same digests.
	if code, _ := b.run(withFlag(withFlag(imp, "--from-bundle", parts[1]), "--trgprefix", "/fromtar/")); code != 0 {
		t.Errorf("import from the split tar: exit %d; error log:\n%s", code, b.errorLog())
	} else if got := b.targetDigest("fromtar/vault/postings", "5.0.3"); got != images[2].Digest {
		t.Errorf("import from the split tar: postings %s, want %s", got, images[2].Digest)
	}
	// plan --from-bundle changes nothing.
	pushes = b.ecr.ManifestPushes()
	if code, _ := b.run(withCommand(withFlag(imp, "--trgprefix", "/planned/"), "plan")); code != 0 || b.ecr.ManifestPushes() != pushes || b.report().Summary.Planned != 4 {
		t.Errorf("plan --from-bundle: exit %d, %d pushes, summary %+v; want 0, none, 4 planned", code, b.ecr.ManifestPushes()-pushes, b.report().Summary)
	}
	// Another key than the vendor's (the operator's key is what counts, not the bundle):
	// every vendor image's attestation is signed by a key the file does not hold, which
	// the run says once, exit 2, pushing nothing (the BYO image neither: the run's input
	// is wrong, not one image).
	other, err := attesttest.NewSigner("Someone Else")
	must(t, err)
	otherPub, err := other.ArmoredPublicKey()
	must(t, err)
	otherKey := filepath.Join(b.dir, "other.pgp")
	must(t, os.WriteFile(otherKey, otherPub, 0o644))
	pushes = b.ecr.ManifestPushes()
	code, out := b.run(withFlag(withFlag(imp, "--src_attestor", otherKey), "--trgprefix", "/otherkey/"))
	if code != 2 || !strings.Contains(out, "wrong attestor key: the attestations of all 3 vendor images") || b.ecr.ManifestPushes() != pushes {
		t.Errorf("import verified with another key: exit %d, %d pushes; want 2, the wrong key said once, nothing pushed", code, b.ecr.ManifestPushes()-pushes)
	}
	for _, im := range images {
		ref, _ := name.ParseReference(b.ecr.Host+"/otherkey/"+im.Repository+":"+im.Tag, name.Insecure)
		if _, err := remote.Head(ref, remote.WithAuth(&authn.Basic{Username: b.ecr.Username, Password: b.ecr.Password})); err == nil {
			t.Errorf("%s pushed though its attestation does not verify under the operator's key", im.Repository)
		}
	}

	key := []string{"--src_attestor", b.keyFile, "--srcdomain", b.vendor.Host}
	verify := func(path string, extra ...string) int {
		code, _ := b.run(append(append([]string{"tmsync", "bundle", "verify"}, append(key, extra...)...), path))
		return code
	}
	if c := verify(bdir); c != 0 {
		t.Errorf("bundle verify of the folder: exit %d, want 0", c)
	}
	if c := verify(tarPath); c != 0 {
		t.Errorf("bundle verify of the split tar: exit %d, want 0", c)
	}
	if c := verify(bdir, "--byo-policy", "attested"); c != 1 {
		t.Errorf("bundle verify --byo-policy attested (an unattested BYO image): exit %d, want 1", c)
	}

	// A tampered layer of xpl_payees: that image is refused naming the file and digest,
	// the others are pushed, exit 1.
	tampered := filepath.Join(b.dir, "tampered")
	must(t, os.CopyFS(tampered, os.DirFS(bdir)))
	var layer string
	for _, im := range m.Images {
		if im.Name == "vault/xpl/xpl_payees:5.0.3" {
			layer = im.Blobs[len(im.Blobs)-1].Digest.Encoded()
		}
	}
	lp := filepath.Join(tampered, "blobs", "sha256", layer)
	data, err := os.ReadFile(lp)
	must(t, err)
	data[len(data)/2] ^= 0xff
	must(t, os.Chmod(lp, 0o644))
	must(t, os.WriteFile(lp, data, 0o644))
	if c := verify(tampered); c != 1 {
		t.Errorf("bundle verify of a tampered bundle: exit %d, want 1", c)
	}
	code, _ = b.run(withFlag(withFlag(imp, "--from-bundle", tampered), "--trgprefix", "/tampered/"))
	if code != 1 {
		t.Fatalf("import of a tampered bundle: exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(b.errorLog()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "vault/xpl/xpl_payees:5.0.3") || !strings.Contains(lines[0], "blobs/sha256/"+layer) {
		t.Errorf("error log %q: want one line naming xpl_payees and blobs/sha256/%s", lines, layer)
	}
	if got := b.targetDigest("tampered/vault/core", "5.0.3"); got != images[0].Digest {
		t.Errorf("the intact image of a tampered bundle: %s", got)
	}
	ref, _ := name.ParseReference(b.ecr.Host+"/tampered/vault/xpl/xpl_payees:5.0.3", name.Insecure)
	if _, err := remote.Head(ref, remote.WithAuth(&authn.Basic{Username: b.ecr.Username, Password: b.ecr.Password})); err == nil {
		t.Error("the tampered image was pushed")
	}

	// A tar cut inside bundle.json: exit 2 before anything.
	whole := filepath.Join(b.dir, "whole.tar")
	f, err := os.Create(whole)
	must(t, err)
	for _, p := range parts {
		d, err := os.ReadFile(p)
		must(t, err)
		_, err = f.Write(d)
		must(t, err)
	}
	must(t, f.Close())
	cut := filepath.Join(b.dir, "cut.tar")
	d, err := os.ReadFile(whole)
	must(t, err)
	must(t, os.WriteFile(cut, d[:1500], 0o644))
	if c := verify(cut); c != 2 {
		t.Errorf("bundle verify of a cut tar: exit %d, want 2", c)
	}
	pushes = b.ecr.ManifestPushes()
	if code, _ := b.run(withFlag(withFlag(imp, "--from-bundle", cut), "--trgprefix", "/cut/")); code != 2 {
		t.Errorf("import of a cut tar: exit %d, want 2", code)
	}
	if n := b.ecr.ManifestPushes(); n != pushes {
		t.Errorf("import of a cut tar pushed %d manifests", n-pushes)
	}
	if out, err := ecrc.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{}); err == nil {
		for _, r := range out.Repositories {
			if strings.HasPrefix(aws.ToString(r.RepositoryName), "cut/") {
				t.Errorf("import of a cut tar created %s", aws.ToString(r.RepositoryName))
			}
		}
	}

	// The incremental bundle into a prefix that lacks the left-out layers: they are
	// listed, nothing is pushed, exit 2. Into the prefix the first bundle went to: exit 0.
	pushes = b.ecr.ManifestPushes()
	incArgs := withFlag(withFlag(imp, "--from-bundle", incr), "--trgprefix", "/fresh/")
	code, out = b.run(incArgs)
	if code != 2 || strings.Count(out, "left out of this incremental bundle") != 2 || b.ecr.ManifestPushes() != pushes {
		t.Errorf("incremental import into a target without its base: exit %d, %d manifests pushed; want 2 missing blobs listed, exit 2, nothing pushed", code, b.ecr.ManifestPushes()-pushes)
	}
	if code, _ := b.run(append(incArgs, "--earlier-bundle", bdir)); code != 0 {
		t.Errorf("incremental import with the earlier bundle: exit %d, want 0; error log:\n%s", code, b.errorLog())
	} else if got := b.targetDigest("fresh/vault/xpl/xpl_payees", "5.0.3"); got != images[1].Digest {
		t.Errorf("incremental import with the earlier bundle: xpl_payees %s, want %s", got, images[1].Digest)
	}
	if code, _ := b.run(withFlag(imp, "--from-bundle", incr)); code != 0 {
		t.Errorf("incremental import over the first one: exit %d, want 0; error log:\n%s", code, b.errorLog())
	}
	if got := b.targetDigest("3rdparty/tm/vault/ledger", "5.0.4"); got != next[0].Digest {
		t.Errorf("incremental import: ledger %s, want %s", got, next[0].Digest)
	}
	assertNoSecrets(t, b.dir, b.token, b.ecr.Password)
}

// fixIntegrity is an attacker who rewrites the unsigned integrity files: every file of
// the layout (blobs added included) listed in bundle.json with its size and sha256, and
// SHA256SUMS to match.
func fixIntegrity(t *testing.T, dir string) {
	t.Helper()
	m := readBundleJSON(t, dir)
	listed := map[string]bool{}
	for _, f := range m.Files {
		listed[f.Path] = true
	}
	ents, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	must(t, err)
	for _, e := range ents {
		if p := "blobs/sha256/" + e.Name(); !listed[p] {
			m.Files = append(m.Files, bundle.FileRecord{Path: p})
		}
	}
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	var sums []string
	for i, f := range m.Files {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		must(t, err)
		m.Files[i].Size, m.Files[i].SHA256 = int64(len(data)), digest.FromBytes(data).Encoded()
		sums = append(sums, m.Files[i].SHA256+"  "+f.Path)
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, bundle.ManifestFile), mb, 0o644))
	sums = append(sums, digest.FromBytes(mb).Encoded()+"  "+bundle.ManifestFile)
	sort.Slice(sums, func(i, j int) bool { return sums[i][66:] < sums[j][66:] })
	must(t, os.WriteFile(filepath.Join(dir, bundle.SumsFile), []byte(strings.Join(sums, "\n")+"\n"), 0o644))
}

// TestBundleHostileEdits: a bundle whose unsigned integrity files were rewritten to
// cover (1) an unattested image's blobs and a first index.json entry giving it the name
// of an attested image, (2) an edited release file under the exported release digest.
// bundle verify and sync --from-bundle refuse both (exit 2, naming the entry or both
// digests) and push nothing. The untouched bundle's release digest, computed by bundle
// verify, is the one export's run computed (tmsync.ReleaseDigest, --release-sha256).
func TestBundleHostileEdits(t *testing.T) {
	b := newBed(t)
	good := []releasetest.Image{{Repository: "vault/core", Tag: "5.0.3", Layers: 1, LayerSize: 64 << 10}}
	b.push(good, 1, true)
	evil := []releasetest.Image{{Repository: "vault/evil", Tag: "1", Layers: 1, LayerSize: 32 << 10}}
	b.push(evil, 500, false)
	rel := filepath.Join(b.dir, "release")
	must(t, os.Mkdir(rel, 0o755))
	writeRelease(t, rel, "5.0.3", b.vendor.Host, good, nil)
	args := b.args(rel)
	t.Setenv("TM_TOKEN", b.token)
	bdir := filepath.Join(b.dir, "bundle")
	if code, _ := b.run(append(exportArgs(args), "--to", bdir)); code != 0 {
		t.Fatalf("export: exit %d", code)
	}
	exported := b.report().ReleaseSHA256
	evilImg, err := remote.Image(mustRef(t, b.vendor.Host+"/vault/evil:1"), remote.WithAuth(&authn.Basic{Username: "_tm", Password: b.token}))
	must(t, err)
	evilBlobs := filepath.Join(b.dir, "evil-layout")
	el, err := layout.Write(evilBlobs, empty.Index)
	must(t, err)
	must(t, el.WriteImage(evilImg))
	raw, err := evilImg.RawManifest()
	must(t, err)
	mt, err := evilImg.MediaType()
	must(t, err)
	b.vendor.Stop()
	b.att.Close()
	t.Setenv("TM_TOKEN", "")
	verify := func(dir string) (int, string) {
		return b.run([]string{"tmsync", "bundle", "verify", "--src_attestor", b.keyFile, "--srcdomain", b.vendor.Host, dir})
	}

	code, out := verify(bdir)
	if code != 0 || !strings.Contains(out, "release folder sha256 "+exported+" (computed from its ") {
		t.Errorf("bundle verify of the exported bundle: exit %d; want 0 printing the release digest export computed, %s", code, exported)
	}

	copyBundle := func(name string) string {
		dst := filepath.Join(b.dir, name)
		must(t, os.CopyFS(dst, os.DirFS(bdir)))
		return dst
	}
	refused := func(t *testing.T, dir, prefix string, want ...string) {
		t.Helper()
		code, out := verify(dir)
		for _, w := range want {
			if code != 2 || !strings.Contains(out, w) {
				t.Errorf("bundle verify: exit %d; want 2 saying %q", code, w)
			}
		}
		pushes := b.ecr.ManifestPushes()
		code, out = b.run(withFlag(append(args, "--from-bundle", dir), "--trgprefix", prefix))
		for _, w := range want {
			if code != 2 || !strings.Contains(out, w) {
				t.Errorf("sync --from-bundle: exit %d; want 2 saying %q", code, w)
			}
		}
		if n := b.ecr.ManifestPushes() - pushes; n != 0 {
			t.Errorf("sync --from-bundle pushed %d manifests", n)
		}
		ref := mustRef(t, b.ecr.Host+strings.TrimSuffix(prefix, "/")+"/vault/core:5.0.3")
		if d, err := remote.Head(ref, remote.WithAuth(&authn.Basic{Username: b.ecr.Username, Password: b.ecr.Password})); err == nil {
			t.Errorf("the target has %s under vault/core:5.0.3 (attested %s, unattested %s)", d.Digest, good[0].Digest, evil[0].Digest)
		}
	}

	t.Run("a first index.json entry of the name at an unattested image", func(t *testing.T) {
		dir := copyBundle("dup-index")
		ents, err := os.ReadDir(filepath.Join(evilBlobs, "blobs", "sha256"))
		must(t, err)
		for _, e := range ents {
			data, err := os.ReadFile(filepath.Join(evilBlobs, "blobs", "sha256", e.Name()))
			must(t, err)
			must(t, os.WriteFile(filepath.Join(dir, "blobs", "sha256", e.Name()), data, 0o644))
		}
		p := filepath.Join(dir, "index.json")
		data, err := os.ReadFile(p)
		must(t, err)
		var idx ocispec.Index
		must(t, json.Unmarshal(data, &idx))
		first := idx.Manifests[0]
		first.Digest, first.Size, first.MediaType = digest.FromBytes(raw), int64(len(raw)), string(mt)
		idx.Manifests = append([]ocispec.Descriptor{first}, idx.Manifests...)
		data, err = json.Marshal(idx)
		must(t, err)
		must(t, os.WriteFile(p, data, 0o644))
		fixIntegrity(t, dir)
		refused(t, dir, "/dup/", "index.json: manifests[0] and manifests[1] both name vault/core:5.0.3")
	})

	t.Run("a release file edited under the exported digest", func(t *testing.T) {
		dir := copyBundle("release-edited")
		p := filepath.Join(dir, "release", "5.0.3_release.json")
		data, err := os.ReadFile(p)
		must(t, err)
		must(t, os.WriteFile(p, append(data, ' '), 0o644))
		fixIntegrity(t, dir)
		computed := releaseDigestOf(t, filepath.Join(dir, "release"))
		if computed == exported {
			t.Fatal("the edit did not change the release digest")
		}
		refused(t, dir, "/relsha/", "releaseSha256 is "+exported, "hashes to "+computed)
	})
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s, name.Insecure)
	must(t, err)
	return ref
}

// releaseDigestOf is `sha256sum FILES | LC_ALL=C sort -k2 | sha256sum` in dir.
func releaseDigestOf(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	must(t, err)
	var lines []string
	for _, e := range ents { // sorted by name
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		must(t, err)
		lines = append(lines, digest.FromBytes(data).Encoded()+"  "+e.Name()+"\n")
	}
	return digest.FromString(strings.Join(lines, "")).Encoded()
}
