package ecrtarget

import (
	"slices"
	"testing"
)

// grantedActions are the write actions of all of a policy's WriteGrantStatements, sorted.
func grantedActions(policy string) []string {
	var out []string
	for _, g := range WriteGrantStatements(policy) {
		out = append(out, g.Actions...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestWriteGrants(t *testing.T) {
	all := slices.Clone(writeActions)
	push := []string{"ecr:CompleteLayerUpload", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart"}
	for _, c := range []struct {
		name, policy string
		want         []string
	}{
		{"pull only (the account-id file's policy)", CrossAccountPullPolicy([]string{"111122223333"}), nil},
		{"push actions, a list", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},
			"Action":["ecr:PutImage","ecr:InitiateLayerUpload","ecr:UploadLayerPart","ecr:CompleteLayerUpload"]}]}`, push},
		{"one statement, not a list", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:PutImage"}}`, []string{"ecr:PutImage"}},
		{"ecr:*", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*"}]}`, all},
		{"*", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*"}]}`, all},
		// IAM matches action names in any case, but reads Effect as written.
		{"action in another case", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ECR:putimage"}]}`, []string{"ecr:PutImage"}},
		{"effect in another case (refused by LoadRepositoryPolicy)", `{"Statement":[{"Effect":"allow","Principal":"*","Action":"ecr:PutImage"}]}`, nil},
		{"wildcards", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":["ecr:Put*","ecr:?ploadLayerPart"]}]}`,
			[]string{"ecr:PutImage", "ecr:PutImageScanningConfiguration", "ecr:PutImageTagMutability", "ecr:PutLifecyclePolicy", "ecr:UploadLayerPart"}},
		{"NotAction lists pulls", `{"Statement":[{"Effect":"Allow","Principal":"*","NotAction":["ecr:BatchGetImage"]}]}`, all},
		{"NotAction lists every write", `{"Statement":[{"Effect":"Allow","Principal":"*","NotAction":["ecr:*"]}]}`, nil},
		{"under a condition", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:PutImage","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}]}`, []string{"ecr:PutImage"}},
		{"deny", `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"ecr:*"}]}`, nil},
		{"another service", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:PutObject"}]}`, nil},
		{"a bad pattern", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:[Put"}]}`, nil},
		{"not JSON", `111122223333`, nil},
		// Refused by LoadRepositoryPolicy, which reads as these do (TestPolicyReadersAgree).
		{"a second, lower-case statement element", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:PutImage"}],"statement":[]}`, nil},
		{"only a lower-case statement element", `{"statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:PutImage"}]}`, nil},
	} {
		got := grantedActions(c.policy)
		if !slices.Equal(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestGrantsEveryone(t *testing.T) {
	for policy, want := range map[string]bool{
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*"}]}`:                                                           true,
		`{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"ecr:BatchGetImage"}}`:                                         true,
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","*"]},"Action":"ecr:BatchGetImage"}]}`:    true,
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}]}`: false,
		// A Condition that tests no key conditions nothing.
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*","Condition":{}}]}`:                       true,
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*","Condition":{"StringEquals":{}}}]}`:      true,
		`{"Statement":[{"Effect":"Deny","Principal":"*","Action":"ecr:*"}]}`:                                       false,
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"ecr:*"}]}`: false,
		// Refused by LoadRepositoryPolicy, so not read here either (TestPolicyReadersAgree).
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*"}],"statement":[]}`:                                      false,
		`{"Statement":[{"Effect":"allow","Principal":"*","Action":"ecr:*"}]}`:                                                     false,
		`{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"ecr:BatchGetImage"}]}`: true,
		``: false,
	} {
		if got := GrantsEveryone(policy); got != want {
			t.Errorf("%s: %v, want %v", policy, got, want)
		}
	}
}

func TestWriteGrantStatements(t *testing.T) {
	got := WriteGrantStatements(`{"Statement":[
		{"Sid":"pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":["ecr:BatchGetImage"]},
		{"Sid":"ci","Effect":"Allow","Principal":{"AWS": "arn:aws:iam::111122223333:role/ci"},"Action":"ecr:*"},
		{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"NotAction":["ecr:BatchGetImage"]}]}`)
	if len(got) != 2 {
		t.Fatalf("%d statements, want the two that grant writes: %+v", len(got), got)
	}
	if g := got[0]; g.Sid != "ci" || g.Principal != `{"AWS":"arn:aws:iam::111122223333:role/ci"}` || !slices.Equal(g.Patterns, []string{"ecr:*"}) || len(g.Actions) != len(writeActions) {
		t.Errorf("first: %+v", g)
	}
	if g := got[1]; g.Sid != "" || g.Principal != `NotPrincipal {"AWS":"arn:aws:iam::111122223333:root"}` || !slices.Equal(g.Patterns, []string{"NotAction: ecr:BatchGetImage"}) {
		t.Errorf("second: %+v", g)
	}
}
