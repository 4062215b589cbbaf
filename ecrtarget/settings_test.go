package ecrtarget

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRepositoryName(t *testing.T) {
	for _, tc := range []struct {
		prefix, dest, want string
		ok                 bool
	}{
		{"/3rdparty/tm/", "vault/xpl/xpl_payees", "3rdparty/tm/vault/xpl/xpl_payees", true},
		{"3rdparty/tm", "/vault/x/", "3rdparty/tm/vault/x", true},
		{"", "ab", "ab", true},
		{"/3rdparty/tm/", "restricted/third_party/docker.io/grafana/grafana", "3rdparty/tm/restricted/third_party/docker.io/grafana/grafana", true},
		{"", "a", "", false},
		{"/3rdparty/tm/", "", "", false},
		{"/3rdparty/tm/", "Vault/x", "", false},
		{"/3rdparty/tm/", "vault//x", "", false},
		{"/3rdparty/tm/", "vault/x_", "", false},
		{"/3rdparty/tm/", "vault/x:1.0", "", false},
		{"/3rdparty/tm/", strings.Repeat("a", 250), "", false},
	} {
		got, err := RepositoryName(tc.prefix, tc.dest)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("RepositoryName(%q, %q) = %q, %v; want %q", tc.prefix, tc.dest, got, err, tc.want)
		}
		if !tc.ok && !errors.Is(err, ErrInvalidName) {
			t.Errorf("RepositoryName(%q, %q) = %q, %v; want ErrInvalidName", tc.prefix, tc.dest, got, err)
		}
	}
}

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadTags(t *testing.T) {
	p := write(t, "resource_tags.json", `[{"Key":"owner","Value":"core-banking"},{"Key":"cost-centre","Value":""}]`)
	tags, err := LoadTags(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 2 || tags[0] != (Tag{"owner", "core-banking"}) || tags[1] != (Tag{"cost-centre", ""}) {
		t.Fatalf("got %v", tags)
	}
	for _, tc := range []struct{ content, want string }{
		{`{"Key":"a"}`, "$: want a JSON list"},
		{`[{"Key":"a","Value":"b"}, 3]`, "$[1]: want an object"},
		{`[{"Value":"b"}]`, "$[0].Key: missing"},
		{`[{"Key":"a","Value":1}]`, "$[0].Value: want a string"},
		{`[{"Key":"a","Value":"b","Owner":"x"}]`, "$[0].Owner: unknown field"},
		{`[{"Key":"a","Value":"b"},{"Key":"a","Value":"c"}]`, `$[1].Key: "a" repeats $[0]`},
		{`[{"Key":"","Value":"b"}]`, "$[0].Key: empty"},
		{`[{"Key":"aws:x","Value":"b"}]`, "reserved"},
	} {
		p := write(t, "tags.json", tc.content)
		_, err := LoadTags(p)
		if !errors.Is(err, ErrInvalidFile) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadTags(%s) = %v; want an error naming the file and %q", tc.content, err, tc.want)
		}
	}
	if _, err := LoadTags(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, ErrInvalidFile) {
		t.Errorf("missing file: %v", err)
	}
}

func TestLoadRepositoryPolicy(t *testing.T) {
	p := write(t, "awsaccounts_read_binaries.txt", "# readers\n222222222222\n\n111111111111  \n222222222222\n")
	got, err := LoadRepositoryPolicy(p)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Statement []struct {
			Effect    string
			Principal struct{ AWS []string }
			Action    []string
		}
	}
	if err := json.Unmarshal([]byte(got), &doc); err != nil {
		t.Fatal(err)
	}
	st := doc.Statement[0]
	if len(doc.Statement) != 1 || st.Effect != "Allow" ||
		strings.Join(st.Principal.AWS, ",") != "arn:aws:iam::111111111111:root,arn:aws:iam::222222222222:root" ||
		strings.Join(st.Action, ",") != "ecr:BatchCheckLayerAvailability,ecr:BatchGetImage,ecr:GetDownloadUrlForLayer" {
		t.Fatalf("policy from account ids: %s", got)
	}

	jsonDoc := `{ "Version": "2012-10-17", "Statement": [ {"Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"} ] }`
	got, err = LoadRepositoryPolicy(write(t, "ecr_policy.json", jsonDoc))
	if err != nil || !sameJSON(got, jsonDoc) {
		t.Fatalf("policy document: %q, %v", got, err)
	}

	for _, tc := range []struct{ content, want string }{
		{"111111111111\n12345\n", "line 2: \"12345\" is not a 12-digit AWS account id"},
		{"# nobody\n", "no account ids"},
		{`{"Version":"2012-10-17"}`, "$.Statement: missing"},
		{`{"Statement": [}`, "policy document"},
	} {
		p := write(t, "policy", tc.content)
		_, err := LoadRepositoryPolicy(p)
		if !errors.Is(err, ErrInvalidFile) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadRepositoryPolicy(%q) = %v; want %q", tc.content, err, tc.want)
		}
	}
	if got, err := LoadRepositoryPolicy(""); got != "" || err != nil {
		t.Errorf(`LoadRepositoryPolicy("") = %q, %v`, got, err)
	}
}

func TestLoadLifecyclePolicy(t *testing.T) {
	got, err := LoadLifecyclePolicy("", 2)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Rules []struct {
			Selection struct {
				TagStatus   string `json:"tagStatus"`
				CountType   string `json:"countType"`
				CountNumber int    `json:"countNumber"`
			} `json:"selection"`
			Action struct{ Type string } `json:"action"`
		} `json:"rules"`
	}
	if err := json.Unmarshal([]byte(got), &doc); err != nil {
		t.Fatal(err)
	}
	if r := doc.Rules[0]; r.Selection.TagStatus != "untagged" || r.Selection.CountType != "sinceImagePushed" || r.Selection.CountNumber != 2 || r.Action.Type != "expire" {
		t.Fatalf("default lifecycle: %s", got)
	}
	if _, err := LoadLifecyclePolicy("", 0); !errors.Is(err, ErrInvalidSettings) {
		t.Errorf("0 days: %v", err)
	}
	if _, err := LoadLifecyclePolicy(filepath.Join(t.TempDir(), "ecr_lifecycle_policy.json"), 2); !errors.Is(err, ErrInvalidFile) {
		t.Errorf("a named file that is missing must fail, not fall back: %v", err)
	}
	p := write(t, "lc.json", `{"rules": []}`)
	if _, err := LoadLifecyclePolicy(p, 2); err == nil || !strings.Contains(err.Error(), "$.rules") {
		t.Errorf("empty rules: %v", err)
	}
	p = write(t, "lc.json", DefaultLifecyclePolicy(7))
	if got, err := LoadLifecyclePolicy(p, 2); err != nil || !sameJSON(got, DefaultLifecyclePolicy(7)) {
		t.Errorf("file: %q, %v", got, err)
	}
}

func TestSameJSON(t *testing.T) {
	a := `{"b": [1, 2.50, {"y":1,"x":2}], "a": "<&>"}`
	b := "{\n  \"a\": \"<&>\",\n  \"b\": [1,2.50,{\"x\":2,\"y\":1}]\n}"
	if !sameJSON(a, b) {
		t.Error("same document in another layout compared different")
	}
	if sameJSON(a, `{"a":"<&>","b":[2,1,{"x":2,"y":1}]}`) {
		t.Error("lists in another order compared equal")
	}
	if sameJSON("", a) || !sameJSON("", "") {
		t.Error("empty policy")
	}
	if jsonSHA256(a) != jsonSHA256(b) || jsonSHA256("") != "" {
		t.Error("hash not of canonical form")
	}
}

func FuzzParseTags(f *testing.F) {
	f.Add([]byte(`[{"Key":"a","Value":"b"}]`))
	f.Add([]byte(`[{"Key":"a"}]`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tags, err := parseTags(data)
		if err == nil {
			if err := validateTags(tags, "$"); err != nil {
				t.Fatalf("accepted tags that fail validation: %v", err)
			}
		}
	})
}

func FuzzParseRepositoryPolicy(f *testing.F) {
	f.Add([]byte("111111111111\n"))
	f.Add([]byte(`{"Statement":[]}`))
	f.Add([]byte("# x\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parseRepositoryPolicy(data)
		if err == nil {
			if _, err := canonicalJSON(p); err != nil {
				t.Fatalf("accepted a policy that is not JSON: %q", p)
			}
		}
	})
}

func FuzzCanonicalJSON(f *testing.F) {
	f.Add(`{"a":1,"b":[1.0,"x"]}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, doc string) {
		c, err := canonicalJSON(doc)
		if err != nil {
			return
		}
		c2, err := canonicalJSON(c)
		if err != nil || c2 != c {
			t.Fatalf("canonical form not stable: %q -> %q (%v)", c, c2, err)
		}
	})
}
