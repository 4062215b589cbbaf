package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tmsync/tmsync/internal/releasetest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// createKMSAlias creates a symmetric key in moto and names it alias.
func createKMSAlias(t *testing.T, cfg aws.Config, alias string) {
	t.Helper()
	c := kms.NewFromConfig(cfg)
	k, err := c.CreateKey(context.Background(), &kms.CreateKeyInput{})
	must(t, err)
	_, err = c.CreateAlias(context.Background(), &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: k.KeyMetadata.KeyId})
	must(t, err)
}

// without is args with every flag named in drop (and its "=value") removed.
func without(args []string, drop ...string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		keep := true
		for _, d := range drop {
			if args[i] == d {
				keep = false
				i++ // and its value
			} else if strings.HasPrefix(args[i], d+"=") {
				keep = false
			}
		}
		if keep {
			out = append(out, args[i])
		}
	}
	return out
}

// TestPreflight: each problem that would fail every image stops the run before any image,
// with exit 2, one ERROR line naming it with a hint, within 5 s.
func TestPreflight(t *testing.T) {
	b := newBed(t)
	rel := t.TempDir()
	images := []releasetest.Image{{Repository: "vault/core", Tag: "5.0.3", Layers: 1, LayerSize: 4 << 10}}
	b.push(images, 7, true) // the note has occurrences
	writeRelease(t, rel, "5.0.3", b.vendor.Host, images, nil)
	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}"))
	}))
	t.Cleanup(empty.Close)
	plan := func(extra ...string) []string { return withMode(b.args(rel, extra...), "plan") }
	cases := []struct {
		name  string
		env   map[string]string
		args  []string
		want  string
		wantN []string // more text the one line must hold
	}{
		{"no region", map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "TM_TOKEN": b.token},
			without(plan(), "--trgregion"), "no AWS region", []string{"--trgregion or AWS_REGION"}},
		{"no token", map[string]string{"TM_TOKEN": ""}, plan(), "no vendor token", []string{"set TM_TOKEN"}},
		{"missing KMS alias", map[string]string{"TM_TOKEN": b.token}, plan("--trg_kms_key_alias=alias/does-not-exist"),
			"KMS key alias/does-not-exist", []string{"us-east-1"}},
		{"unreachable target", map[string]string{"TM_TOKEN": b.token}, append(without(plan(), "--trg-registry"), "--trg-registry", "127.0.0.1:1"),
			"target registry 127.0.0.1:1 unreachable", []string{"connection refused"}},
		{"attestation server answers {}", map[string]string{"TM_TOKEN": b.token}, plan("--src_attestions_address", empty.URL),
			"lists no occurrences", []string{empty.URL}},
		{"token refused", map[string]string{"TM_TOKEN": "not-the-token"}, plan(), "the vendor token was refused by the attestation server", []string{"and the source registry", "check TM_TOKEN"}},
		{"no release folder", map[string]string{"TM_TOKEN": b.token}, without(plan(), "--release-dir"),
			"release folder", []string{"--release-dir"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			args := c.args
			if c.name == "no release folder" {
				args = append(args, "--release-dir", rel+"/missing")
			}
			var out bytes.Buffer
			start := time.Now()
			code := run(context.Background(), args, &out, &out)
			took := time.Since(start)
			t.Logf("exit %d in %s:\n%s", code, took.Round(time.Millisecond), out.String())
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if took > 5*time.Second {
				t.Errorf("took %s, want under 5 s", took)
			}
			var errs []string
			for _, l := range strings.Split(out.String(), "\n") {
				if strings.HasPrefix(l, "ERROR:") {
					errs = append(errs, l)
				}
			}
			if len(errs) != 1 {
				t.Fatalf("%d ERROR lines, want 1", len(errs))
			}
			for _, w := range append([]string{c.want}, c.wantN...) {
				if !strings.Contains(errs[0], w) {
					t.Errorf("the ERROR line does not say %q", w)
				}
			}
			if strings.Contains(out.String(), "IMDS") || strings.Contains(out.String(), "Missing Region") {
				t.Errorf("an SDK message reached the console instead of a hint")
			}
		})
	}
	// With every problem fixed, plan runs (and warns about AES256 without a KMS key).
	t.Setenv("TM_TOKEN", b.token)
	var out bytes.Buffer
	code := run(context.Background(), without(plan(), "--trg_kms_key_alias"), &out, &out)
	if code != 0 || !strings.Contains(out.String(), "WARNING: no --trg_kms_key_alias: new repositories are encrypted with AES256") {
		t.Errorf("exit %d:\n%s", code, out.String())
	}
	// --skip-preflight lets the bad KMS alias through to the run.
	out.Reset()
	code = run(context.Background(), plan("--trg_kms_key_alias=alias/does-not-exist", "--skip-preflight"), &out, &out)
	if strings.Contains(out.String(), "preflight") {
		t.Errorf("--skip-preflight still checked:\n%s", out.String())
	}
	_ = code
}
