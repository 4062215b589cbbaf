package ecrtarget

import (
	"encoding/json"
	"errors"
	"fmt"
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

// TestLifecyclePolicyChecked: a lifecycle file ECR would refuse stops the run before any
// repository is made (PutLifecyclePolicy comes after CreateRepository), with the JSON path
// of what is wrong; one ECR takes passes, whatever its layout.
func TestLifecyclePolicyChecked(t *testing.T) {
	rule := func(prio, sel, action string) string {
		return `{"rulePriority":` + prio + `,"selection":` + sel + `,"action":` + action + `}`
	}
	const untagged = `{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14}`
	const expire = `{"type":"expire"}`
	policy := func(rules ...string) string { return `{"rules":[` + strings.Join(rules, ",") + `]}` }
	good := []string{
		DefaultLifecyclePolicy(3),
		policy(rule("1", untagged, expire)),
		"\n\n  " + policy(rule("1", untagged, expire)) + "\n",
		policy(rule("1", `{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":10}`, expire),
			rule("5", `{"tagStatus":"tagged","tagPatternList":["prod*","*a*b*c*"],"countType":"imageCountMoreThan","countNumber":1}`, expire),
			rule("9", `{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":500}`, expire)),
		// A count type or action ECR may add later is passed on.
		policy(rule("1", `{"tagStatus":"untagged","countType":"sinceImagePulled","countUnit":"days","countNumber":30,"storageClass":"archive"}`, `{"type":"transition","targetStorageClass":"archive"}`)),
		`{"rules":[{"rulePriority":1,"description":"x","selection":` + untagged + `,"action":` + expire + `}]}`,
		policy(rule("1", `{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":3,"storageClass":"standard"}`, expire)),
		policy(rule("1", `{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":3,"storageClass":"standard"}`, expire)),
	}
	for _, doc := range good {
		if _, err := LoadLifecyclePolicy(write(t, "lc.json", doc), 1); err != nil {
			t.Errorf("%s: %v", doc, err)
		}
		if err := (Settings{LifecyclePolicy: doc}).validate(); err != nil {
			t.Errorf("Settings with %s: %v", doc, err)
		}
	}
	for _, tc := range []struct{ doc, want string }{
		{`{"rules":[{"rulePriority":"one"}]}`, `$.rules[0].rulePriority: "one", want an integer of 1 or more`},
		{policy(rule("0", untagged, expire)), `$.rules[0].rulePriority: 0, want`},
		{policy(rule("1.5", untagged, expire)), `$.rules[0].rulePriority: 1.5, want`},
		{policy(rule("-1", untagged, expire)), `$.rules[0].rulePriority: -1, want`},
		{`{"rules":[{"selection":` + untagged + `,"action":` + expire + `}]}`, `$.rules[0].rulePriority: missing`},
		{policy(rule("1", untagged, expire), rule("1", untagged, expire)), `$.rules[1].rulePriority: 1 is also the priority of $.rules[0]`},
		{policy(rule("1", `{"tagStatus":"Untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1}`, expire)), `$.rules[0].selection.tagStatus: "Untagged", want tagged, untagged or any`},
		{policy(rule("1", `{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":1}`, expire)), `$.rules[0].selection: tagStatus tagged needs tagPrefixList or tagPatternList`},
		{policy(rule("1", `{"tagStatus":"untagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1}`, expire)), `$.rules[0].selection.tagPrefixList: only with tagStatus tagged`},
		{policy(rule("1", `{"tagStatus":"tagged","tagPrefixList":[],"countType":"imageCountMoreThan","countNumber":1}`, expire)), `tagPrefixList: want a non-empty list`},
		{policy(rule("1", `{"tagStatus":"tagged","tagPatternList":[7],"countType":"imageCountMoreThan","countNumber":1}`, expire)), `tagPatternList[0]: want a non-empty string`},
		{policy(rule("1", `{"tagStatus":"tagged","tagPatternList":["a*b*c*d*e*f"],"countType":"imageCountMoreThan","countNumber":1}`, expire)), `more than 4 wildcards`},
		{policy(rule("1", `{"tagStatus":"untagged","countType":"sinceImagePushed","countNumber":1}`, expire)), `countUnit: missing, want "days"`},
		{policy(rule("1", `{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"hours","countNumber":1}`, expire)), `countUnit: "hours", want "days"`},
		{policy(rule("1", `{"tagStatus":"untagged","countType":"imageCountMoreThan","countUnit":"days","countNumber":1}`, expire)), `countUnit: not with countType imageCountMoreThan`},
		{policy(rule("1", `{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":"14"}`, expire)), `countNumber: "14", want an integer`},
		{policy(rule("1", `{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days"}`, expire)), `countNumber: missing`},
		{policy(rule("1", `{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1,"tagstatus":"x"}`, expire)), `selection.tagstatus: unknown field`},
		{policy(rule("1", `{"tagStatus":"untagged","countUnit":"days","countNumber":1}`, expire)), `countType: missing`},
		{policy(rule("1", untagged, `{}`)), `$.rules[0].action.type: missing`},
		{policy(rule("1", untagged, `"expire"`)), `$.rules[0].action: missing, or not an object`},
		{`{"rules":[{"rulePriority":1,"Selection":` + untagged + `,"action":` + expire + `}]}`, `$.rules[0].Selection: unknown field`},
		{policy(rule("2", `{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":5}`, expire), rule("3", untagged, expire)), `tagStatus "any" has priority 2`},
		{`{"rules":[` + rule("1", untagged, expire) + `],"Rules":[]}`, `$.Rules: unknown field`},
		// A key given twice: Go's decoding keeps the last, ECR may keep the first.
		{`{"rules":[` + rule("1", untagged, expire) + `],"rules":[` + rule("1", untagged, expire) + `]}`, `$.rules: the key is given twice in one object`},
		{`{"rules":[{"rulePriority":1,"rulePriority":2,"selection":` + untagged + `,"action":` + expire + `}]}`, `$.rules[0].rulePriority: the key is given twice`},
		{policy(rule("1", `{"tagStatus":"tagged","tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14}`, expire)), `$.rules[0].selection.tagStatus: the key is given twice`},
		{policy(rule("1", untagged, `{"type":"transition","type":"expire"}`)), `$.rules[0].action.type: the key is given twice`},
		{policy(rule("1", `{"tagStatus":"untagged","t\u0061gStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":14}`, expire)), `$.rules[0].selection.tagStatus: the key is given twice`},
		{`[]`, `lifecycle policy: `},
		{`null`, `$: want a JSON object`},
		{`{"rules":[1]}`, `$.rules[0]: want an object`},
		{"{\n  \"rules\": [\n    {\"rulePriority\": 1,,}\n  ]\n}", `line 3, column 24`},
		{"{\"rules\":[{\"description\":\"é\",,}]}", `line 1, column 30: invalid character ','`}, // columns are characters
		{"\ufeff{\"rules\":[]}", `line 1, column 1: invalid character`},
		{"\n\n  [1]", `line 3, column 4: json: cannot unmarshal array`}, // the type error's offset is past the [
		{policy(rule("5", `{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":5}`, expire), rule("9", `{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":9}`, expire)), `2 rules have tagStatus "any"`},
		{policy(rule("9", `{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":9}`, expire), rule("5", `{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":5}`, expire)), `2 rules have tagStatus "any"`},
		{policy(rule("1", `{"tagStatus":"untagged","countType":"sinceImagePulled","countNumber":30}`, expire)), `countUnit: missing, want "days" with countType sinceImagePulled`},
		{policy(rule("1", `{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":3,"storageClass":"Glacier"}`, expire)), `storageClass: "Glacier", want standard or archive`},
		{policy(rule("1", untagged, `{"type":"Expire"}`)), `$.rules[0].action.type: "Expire", want "expire"`},
		{policy(rule("1", untagged, `{"type":"transition"}`)), `$.rules[0].action.targetStorageClass: missing, want "archive"`},
	} {
		p := write(t, "lc.json", tc.doc)
		_, err := LoadLifecyclePolicy(p, 1)
		if !errors.Is(err, ErrInvalidFile) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %q", tc.doc, err, tc.want)
		}
		// A library user's Settings are held to the file's checks.
		if err := (Settings{LifecyclePolicy: tc.doc}).validate(); !errors.Is(err, ErrInvalidSettings) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Settings with %s:\n got %v\nwant %q", tc.doc, err, tc.want)
		}
	}
}

// TestLifecyclePolicyCanonical: the policy a lifecycle file gives is the canonical form of
// the file (keys sorted, layout dropped, numbers and HTML characters as written), and text
// after the document is refused as canonicalJSON refuses it.
func TestLifecyclePolicyCanonical(t *testing.T) {
	const want = `{"rules":[{"action":{"type":"expire"},"description":"<a & b>","rulePriority":1,"selection":{"countNumber":14,"countType":"sinceImagePushed","countUnit":"days","tagStatus":"untagged"}}]}`
	for _, doc := range []string{
		want,
		"\n {\"rules\": [ {\"selection\": {\"tagStatus\":\"untagged\",\"countUnit\":\"days\",\"countType\":\"sinceImagePushed\",\"countNumber\":14},\n \"rulePriority\": 1, \"description\": \"\\u003ca \\u0026 b>\", \"action\": {\"type\":\"expire\"}} ] }\n\n",
	} {
		got, err := parseLifecyclePolicy([]byte(doc))
		if err != nil || got != want {
			t.Errorf("%q:\n got %s (%v)\nwant %s", doc, got, err, want)
		}
	}
	for _, tail := range []string{" x", "{}", " []", "\n1", "}", " ]", "\n}\n", `"`, ","} {
		if _, err := parseLifecyclePolicy([]byte(want + tail)); err == nil || err.Error() != "more than one JSON value" {
			t.Errorf("%q after the policy: %v", tail, err)
		}
	}
}

// FuzzParseLifecyclePolicy: a policy that passes is the canonical form of its file.
func FuzzParseLifecyclePolicy(f *testing.F) {
	f.Add([]byte(DefaultLifecyclePolicy(3)))
	f.Add([]byte(`{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1e0},"action":{"type":"expire"}}]}`))
	f.Add([]byte(`{"rules":[]} x`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseLifecyclePolicy(data)
		if err != nil {
			return
		}
		if c, err := canonicalJSON(string(data)); err != nil || c != got {
			t.Fatalf("%q gave %q; its canonical form is %q (%v)", data, got, c, err)
		}
	})
}

// TestRepositoryPolicyTrailing: a repository policy file with anything after its document,
// a stray closing brace among them, is refused, not cut short.
func TestRepositoryPolicyTrailing(t *testing.T) {
	const doc = `{"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"ecr:BatchGetImage"}]}`
	dir := t.TempDir()
	for i, tail := range []string{"", "\n", "}", "\n}\n", "]", " {}"} {
		p := filepath.Join(dir, fmt.Sprintf("policy%d.json", i))
		if err := os.WriteFile(p, []byte(doc+tail), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadRepositoryPolicy(p)
		if blank := strings.TrimSpace(tail) == ""; blank != (err == nil) {
			t.Errorf("%q after the policy: err %v", tail, err)
		}
	}
}
