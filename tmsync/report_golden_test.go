package tmsync_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/internal/releasetest"
	"github.com/tmsync/tmsync/manifest"
	"github.com/tmsync/tmsync/tmsync"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// startRegistry starts an in-process registry and returns its "127.0.0.1:PORT".
func startRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// fakeAttestor answers from a table of verdicts by digest: a digest absent from it has a
// good attestation.
type fakeAttestor struct {
	verdicts map[digest.Digest]error
	mu       sync.Mutex
	prepared int
}

const fakeFingerprint = "4A1F0C3B9D2E7F6A5B8C1D0E9F2A3B4C5D6E7F80"

func (a *fakeAttestor) Prepare(context.Context, []attest.Subject) error {
	a.mu.Lock()
	a.prepared++
	a.mu.Unlock()
	return nil
}

func (a *fakeAttestor) Verify(_ context.Context, s attest.Subject) (*tmsync.Attestation, error) {
	if err, ok := a.verdicts[s.Digest]; ok {
		return nil, err
	}
	return &tmsync.Attestation{
		Occurrence:  "projects/tm-attestations-project/occurrences/" + s.Digest.Encoded()[:12],
		Fingerprint: fakeFingerprint,
		SignedAt:    time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC),
		PayloadType: "application/vnd.tm.release-attestation+json",
	}, nil
}

// reportedTarget is a plain registry that reports the settings an ECR repository would
// have, so that the golden report shows the repository records.
type reportedTarget struct{ *tmsync.RegistryTarget }

func (t reportedTarget) Ensure(_ context.Context, repo string, _ bool) (*tmsync.Repository, error) {
	return &tmsync.Repository{Name: repo, Created: true, State: map[string]string{
		"encryptionType": "KMS", "kmsKey": "arn:aws:kms:us-east-1:123456789012:key/tmsync-ecr",
		"scanOnPush": "true", "imageTagMutability": "IMMUTABLE", "tags": "app=vault,owner=platform",
		"repositoryPolicySha256": "3f1d0c2b", "lifecyclePolicySha256": "9e8d7c6b",
	}}, nil
}

// tick is a clock that moves one second each time it is read.
type tick struct {
	mu  sync.Mutex
	now time.Time
}

func (c *tick) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
	return c.now
}

// allOutcomes is a run with every outcome: copied (an image, an index, a BYO image that
// is not attested), present, ignored, rejected and failed.
type allOutcomes struct {
	vendor, upstream, target string
	releaseDir               string
	report                   *tmsync.Report
}

func runAllOutcomes(t *testing.T) *allOutcomes {
	t.Helper()
	ctx := context.Background()
	w := &allOutcomes{vendor: startRegistry(t), upstream: startRegistry(t), target: startRegistry(t), releaseDir: t.TempDir()}
	images := []releasetest.Image{
		{Repository: "vault/core", Tag: "5.0.3", Layers: 2, LayerSize: 4 << 10},                    // copied
		{Repository: "vault/postings", Tag: "5.0.3", Layers: 1, LayerSize: 2 << 10, Index: true},   // copied, an index
		{Repository: "vault/ledger", Tag: "5.0.3", Layers: 1, LayerSize: 2 << 10},                  // present
		{Repository: "vault/accounts", Tag: "5.0.3", Layers: 1, LayerSize: 2 << 10},                // rejected
		{Repository: "vault/xpl/xpl_payees", Tag: "5.0.3", Layers: 1, LayerSize: 2 << 10},          // failed: tag conflict
		{Repository: "vault/unused", Tag: "5.0.3", Layers: 1, LayerSize: 1 << 10},                  // ignored
		{Repository: "grafana/grafana", Tag: "10.0", Layers: 1, LayerSize: 1 << 10, Digest: "byo"}, // BYO, not attested
	}
	for i := range images {
		host := w.vendor
		if images[i].Digest == "byo" {
			host = w.upstream
		}
		if err := releasetest.Push(ctx, releasetest.Registry{Host: host}, &images[i], int64(100+i*31)); err != nil {
			t.Fatal(err)
		}
	}
	core, postings, ledger, accounts, payees, unused, byo := images[0], images[1], images[2], images[3], images[4], images[5], images[6]
	// In the target already: ledger with its digest, payees' tag with another image.
	present := ledger
	present.Repository = "mirror/" + ledger.Repository
	must(t, releasetest.Push(ctx, releasetest.Registry{Host: w.target}, &present, 100+2*31))
	other := releasetest.Image{Repository: "mirror/" + payees.Repository, Tag: payees.Tag, Layers: 1, LayerSize: 2 << 10}
	must(t, releasetest.Push(ctx, releasetest.Registry{Host: w.target}, &other, 9999))

	entries := map[string]map[string]string{}
	for _, im := range []releasetest.Image{core, postings, ledger, accounts, payees, unused} {
		entries[im.Repository] = map[string]string{"source": w.vendor + "/" + im.Repository + ":" + im.Tag + "@" + im.Digest,
			"dest": im.Repository + ":" + im.Tag}
	}
	byoDest := "restricted/third_party/docker.io/grafana/grafana:vault-5.0.3"
	entries["grafana"] = map[string]string{"source": w.upstream + "/grafana/grafana@" + byo.Digest, "dest": byoDest}
	rel, err := json.MarshalIndent(map[string]any{"version": "5.0.3", "metadata": map[string]any{"images": entries}}, "", "  ")
	must(t, err)
	must(t, os.WriteFile(filepath.Join(w.releaseDir, "5.0.3_release.json"), rel, 0o644))
	list := strings.Join([]string{core.Repository + ":5.0.3", postings.Repository + ":5.0.3", ledger.Repository + ":5.0.3",
		accounts.Repository + ":5.0.3", payees.Repository + ":5.0.3", byoDest}, "\n") + "\n"
	must(t, os.WriteFile(filepath.Join(w.releaseDir, "5.0.3_tm_registry_images.txt"), []byte(list), 0o644))

	rt, err := tmsync.NewRegistryTarget(w.target+"/mirror", tmsync.WithTargetInsecure())
	must(t, err)
	att := &fakeAttestor{verdicts: map[digest.Digest]error{
		digest.Digest(accounts.Digest): fmt.Errorf("%w: the signed payload names sha256:%s, not this image", attest.ErrRejected, strings.Repeat("0", 64)),
		digest.Digest(byo.Digest):      fmt.Errorf("%w: %s", attest.ErrNoAttestation, "no occurrence for "+w.upstream+"/grafana/grafana"),
	}}
	clock := &tick{now: time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)}
	eng, err := tmsync.New(reportedTarget{rt}, att,
		tmsync.WithSource(tmsync.Source{Registry: w.vendor}),
		tmsync.WithInsecure(w.vendor, w.upstream, w.target),
		tmsync.WithRetries(0),
		tmsync.WithClock(clock.Now),
	)
	must(t, err)
	rep, err := eng.Sync(ctx, tmsync.ReleaseDir(w.releaseDir, manifest.WithVendorRegistry(w.vendor), manifest.WithPrefix("/")))
	must(t, err)
	// The command line fills in the caller from STS.
	rep.Caller = "arn:aws:sts::123456789012:assumed-role/tmsync-pipeline/codebuild"
	w.report = rep
	return w
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var (
	sha256Field = regexp.MustCompile(`("(?:sha256|releaseSha256)": ")[0-9a-f]{64}(")`)
	secondsAttr = regexp.MustCompile(`("seconds": )[0-9.e-]+`)
	timeAttr    = regexp.MustCompile(`time="[0-9.]+"`)
)

// normalize replaces what changes from run to run: the registries' ports, the release
// folder, the hashes of files that name those ports, the time an image took.
func (w *allOutcomes) normalize(s string) string {
	s = strings.NewReplacer(w.vendor, "vendor.registry.test", w.upstream, "upstream.registry.test",
		w.target, "target.registry.test", w.releaseDir, "RELEASE_DIR").Replace(s)
	s = sha256Field.ReplaceAllString(s, "${1}SHA256_OF_FILE${2}")
	s = secondsAttr.ReplaceAllString(s, "${1}1")
	return s
}

func golden(t *testing.T, name string, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		must(t, os.MkdirAll("testdata", 0o755))
		must(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run with -update to accept):\n%s", name, lineDiff(string(want), got))
	}
}

// lineDiff shows the first lines that differ.
func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(wl), len(gl)) && shown < 10; i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, w, g)
			shown++
		}
	}
	return b.String()
}

func TestReportGoldenAllOutcomes(t *testing.T) {
	w := runAllOutcomes(t)
	rep := w.report
	dir := t.TempDir()

	// Every outcome is there, with what the issue asks of each.
	want := tmsync.Summary{Images: 7, Copied: 3, Present: 1, Ignored: 1, Rejected: 1, Failed: 1, NotAttested: 1}
	got := rep.Summary
	got.Bytes = 0
	if got != want {
		t.Errorf("summary %+v, want %+v", got, want)
	}
	if rep.Summary.Bytes == 0 {
		t.Error("no bytes moved")
	}
	for _, im := range rep.Images {
		switch {
		case im.Outcome == tmsync.OutcomeCopied && (im.Bytes == 0 || im.Seconds == 0 || im.Destination == ""):
			t.Errorf("%s: copied without bytes, time or destination: %+v", im.Dest, im)
		case im.Outcome == tmsync.OutcomeCopied && im.Vendor && im.Attestation == nil:
			t.Errorf("%s: copied without an attestation", im.Dest)
		case im.Outcome == tmsync.OutcomePresent && im.Destination == "":
			t.Errorf("%s: present without its destination", im.Dest)
		case (im.Outcome == tmsync.OutcomeRejected || im.Outcome == tmsync.OutcomeFailed) && (im.Reason == "" || im.Step == ""):
			t.Errorf("%s: %s without step or reason", im.Dest, im.Outcome)
		}
		if im.Dest == "vault/postings:5.0.3" && len(im.Children) != 2 {
			t.Errorf("index children %v, want 2", im.Children)
		}
	}

	jsonPath := filepath.Join(dir, "report.json")
	must(t, rep.WriteJSON(jsonPath))
	data, err := os.ReadFile(jsonPath)
	must(t, err)
	golden(t, "report-all-outcomes.json", w.normalize(string(data)))

	var summary bytes.Buffer
	must(t, rep.EncodeSummary(&summary))
	golden(t, "report-all-outcomes.summary.txt", w.normalize(summary.String()))

	golden(t, "report-all-outcomes.error.log", w.normalize(strings.Join(rep.ErrorLines(), "\n")+"\n"))

	junitPath := filepath.Join(dir, "junit.xml")
	must(t, rep.WriteJUnit(junitPath))
	junit, err := os.ReadFile(junitPath)
	must(t, err)
	golden(t, "report-all-outcomes.junit.xml", timeAttr.ReplaceAllString(w.normalize(string(junit)), `time="1"`))

	// What was written reads back as it was.
	back, err := tmsync.ReadReport(jsonPath)
	must(t, err)
	again, err := json.MarshalIndent(back, "", "  ")
	must(t, err)
	if string(again)+"\n" != string(data) {
		t.Error("the report does not read back to the same JSON")
	}
}
