package evidence_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tmsync/tmsync/evidence"
)

// TestKyvernoPolicyInDocs parses the Kyverno ClusterPolicy of docs/evidence.md and checks
// its shape: a verifyImages rule that requires a cosign signature under one P-256 public
// key (a valid PEM), on digests, without Rekor or CT logs, enforced on pods.
func TestKyvernoPolicyInDocs(t *testing.T) {
	doc, err := os.ReadFile("../docs/evidence.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	var policies []map[string]any
	for _, b := range blocks {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(b[1]), &m); err != nil {
			t.Fatalf("docs/evidence.md: a yaml block does not parse: %v\n%s", err, b[1])
		}
		if m["kind"] == "ClusterPolicy" {
			policies = append(policies, m)
		}
	}
	if len(policies) != 1 {
		t.Fatalf("docs/evidence.md: %d Kyverno ClusterPolicies, want 1", len(policies))
	}
	p := policies[0]
	get := func(v any, path ...any) any {
		t.Helper()
		for _, k := range path {
			switch k := k.(type) {
			case string:
				m, ok := v.(map[string]any)
				if !ok {
					t.Fatalf("policy: %v: not a mapping at %q", path, k)
				}
				v = m[k]
			case int:
				l, ok := v.([]any)
				if !ok || len(l) <= k {
					t.Fatalf("policy: %v: no item %d", path, k)
				}
				v = l[k]
			}
		}
		return v
	}
	if p["apiVersion"] != "kyverno.io/v1" || get(p, "spec", "validationFailureAction") != "Enforce" {
		t.Errorf("policy: apiVersion %v, validationFailureAction %v; want kyverno.io/v1, Enforce", p["apiVersion"], get(p, "spec", "validationFailureAction"))
	}
	rules, _ := get(p, "spec", "rules").([]any)
	if len(rules) != 1 {
		t.Fatalf("policy: %d rules, want 1", len(rules))
	}
	if kinds := get(rules[0], "match", "any", 0, "resources", "kinds"); len(kinds.([]any)) != 1 || kinds.([]any)[0] != "Pod" {
		t.Errorf("policy matches %v, want Pod", kinds)
	}
	vi := get(rules[0], "verifyImages", 0)
	refs, _ := get(vi, "imageReferences").([]any)
	if len(refs) == 0 || !strings.Contains(refs[0].(string), ".dkr.ecr.") {
		t.Errorf("imageReferences %v, want the bank's ECR", refs)
	}
	for k, want := range map[string]any{"type": "Cosign", "required": true, "mutateDigest": true, "verifyDigest": true} {
		if got := get(vi, k); got != want {
			t.Errorf("verifyImages.%s = %v, want %v", k, got, want)
		}
	}
	keys := get(vi, "attestors", 0, "entries", 0, "keys")
	if get(vi, "attestors", 0, "count") != 1 {
		t.Errorf("attestors count %v, want 1", get(vi, "attestors", 0, "count"))
	}
	if get(keys, "rekor", "ignoreTlog") != true || get(keys, "ctlog", "ignoreSCT") != true {
		t.Errorf("keys: rekor/ctlog not ignored: %v", keys)
	}
	pemText, _ := get(keys, "publicKeys").(string)
	pub, err := evidence.ReadPublicKeyPEM([]byte(pemText))
	if err != nil {
		t.Fatalf("publicKeys: %v\n%s", err, pemText)
	}
	if k, ok := pub.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("publicKeys: %T, want an ECDSA P-256 key (KMS ECC_NIST_P256)", pub)
	}
}
