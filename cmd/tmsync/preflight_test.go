package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tmsync/tmsync/internal/releasetest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// createKMSAlias creates a symmetric key in moto and names it alias; it returns the key's id.
func createKMSAlias(t *testing.T, cfg aws.Config, alias string) string {
	t.Helper()
	c := kms.NewFromConfig(cfg)
	k, err := c.CreateKey(context.Background(), &kms.CreateKeyInput{})
	must(t, err)
	_, err = c.CreateAlias(context.Background(), &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: k.KeyMetadata.KeyId})
	must(t, err)
	return aws.ToString(k.KeyMetadata.KeyId)
}

// authFile writes an auth.json with user and pass for host and returns its path.
func authFile(t *testing.T, host, user, pass string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "auth.json")
	b, err := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{
		"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}}})
	must(t, err)
	must(t, os.WriteFile(p, b, 0o600))
	return p
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
	kc := kms.NewFromConfig(b.ecr.Moto.Config())
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	disabled := createKMSAlias(t, b.ecr.Moto.Config(), "alias/tmsync-disabled-"+suffix)
	_, err := kc.DisableKey(context.Background(), &kms.DisableKeyInput{KeyId: aws.String(disabled)})
	must(t, err)
	deleting := createKMSAlias(t, b.ecr.Moto.Config(), "alias/tmsync-deleting-"+suffix)
	_, err = kc.ScheduleKeyDeletion(context.Background(), &kms.ScheduleKeyDeletionInput{KeyId: aws.String(deleting), PendingWindowInDays: aws.Int32(7)})
	must(t, err)
	registryTarget := func(auth string) []string {
		return append(without(plan(), "--trg_kms_key_alias"), "--target", "registry", "--authfile", auth)
	}
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
		{"disabled KMS key", map[string]string{"TM_TOKEN": b.token}, plan("--trg_kms_key_alias=alias/tmsync-disabled-" + suffix),
			"KMS key alias/tmsync-disabled-" + suffix + " is Disabled", []string{"enable the key"}},
		{"KMS key pending deletion", map[string]string{"TM_TOKEN": b.token}, plan("--trg_kms_key_alias=alias/tmsync-deleting-" + suffix),
			"is PendingDeletion", []string{"cancel-key-deletion"}},
		{"ECR token refused by the registry", map[string]string{"TM_TOKEN": b.token}, append(without(plan(), "--trg-registry"), "--trg-registry", b.vendor.Host),
			"target registry " + b.vendor.Host + " refused the credentials of AWS", []string{"401", "--trgregion"}},
		{"wrong target credentials", map[string]string{"TM_TOKEN": b.token}, registryTarget(authFile(t, b.ecr.Host, b.ecr.Username, "wrong-password")),
			"target registry " + b.ecr.Host + " refused the credentials of " + b.ecr.Username, []string{"401", "--authfile"}},
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
	// Two problems at once: two ERROR lines on the console, and two lines in the error
	// log (one a failure, as the log's format says), not one line joined with ";".
	t.Run("two problems", func(t *testing.T) {
		t.Setenv("TM_TOKEN", "")
		var out bytes.Buffer
		if code := run(context.Background(), plan("--trg_kms_key_alias=alias/does-not-exist"), &out, &out); code != 2 {
			t.Fatalf("exit %d, want 2:\n%s", code, out.String())
		}
		log := strings.Split(strings.TrimSuffix(b.errorLog(), "\n"), "\n")
		if len(log) != 2 || !strings.Contains(strings.Join(log, "\n"), "no vendor token") || !strings.Contains(strings.Join(log, "\n"), "KMS key alias/does-not-exist") {
			t.Fatalf("error log %q, want two lines, one a problem", log)
		}
		for _, l := range log {
			if !strings.HasPrefix(l, "ERROR: could not start: ") || strings.Contains(l, "; ") {
				t.Errorf("error log line %q", l)
			}
		}
	})
	// With every problem fixed, plan runs (and warns about AES256 without a KMS key).
	t.Setenv("TM_TOKEN", b.token)
	var out bytes.Buffer
	code := run(context.Background(), without(plan(), "--trg_kms_key_alias"), &out, &out)
	if code != 0 || !strings.Contains(out.String(), "WARNING: no --trg_kms_key_alias: new repositories are encrypted with AES256") {
		t.Errorf("exit %d:\n%s", code, out.String())
	}
	// A usable key passes; moto makes the dry-run grant (real KMS does not), which the
	// preflight revokes at once.
	out.Reset()
	if code := run(context.Background(), plan(), &out, &out); code != 0 || strings.Contains(out.String(), "preflight") {
		t.Errorf("with a usable KMS key: exit %d:\n%s", code, out.String())
	}
	grants, err := kc.ListGrants(context.Background(), &kms.ListGrantsInput{KeyId: aws.String("alias/tmsync-ecr")})
	must(t, err)
	for _, g := range grants.Grants {
		if aws.ToString(g.Name) == "tmsync-preflight" {
			t.Errorf("the preflight left its dry-run grant %s on the key", aws.ToString(g.GrantId))
		}
	}
	// The right target credentials pass.
	out.Reset()
	if code := run(context.Background(), registryTarget(authFile(t, b.ecr.Host, b.ecr.Username, b.ecr.Password)), &out, &out); code != 0 {
		t.Errorf("registry target with its credentials: exit %d:\n%s", code, out.String())
	}
	// --skip-preflight lets the bad KMS alias through to the run.
	out.Reset()
	code = run(context.Background(), plan("--trg_kms_key_alias=alias/does-not-exist", "--skip-preflight"), &out, &out)
	if strings.Contains(out.String(), "preflight") {
		t.Errorf("--skip-preflight still checked:\n%s", out.String())
	}
	// A plan does not resolve the key: it exits 0 and shows the repository it would
	// create with that alias (the run got it; a sync would fail at CreateRepository).
	if code != 0 || !strings.Contains(out.String(), "encryption KMS alias/does-not-exist") {
		t.Errorf("--skip-preflight plan with a bad KMS alias: exit %d, want 0 and the alias in the plan:\n%s", code, out.String())
	}
}
