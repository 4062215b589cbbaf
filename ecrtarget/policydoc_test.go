package ecrtarget

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestRepositoryPolicyElements: a repository policy file whose element names are not
// IAM's exactly, that gives a key twice, or whose elements have types IAM's grammar does
// not give them, is refused before anything is created, with the file and the JSON path.
func TestRepositoryPolicyElements(t *testing.T) {
	const push = `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"ecr:PutImage"}`
	for _, tc := range []struct{ doc, want string }{
		{`{"statement":[` + push + `]}`, `$.statement: unknown element; IAM's is "Statement"`},
		{`{"STATEMENT":[` + push + `]}`, `$.STATEMENT: unknown element; IAM's is "Statement"`},
		{`{"Statement":[],"statement":[` + push + `]}`, `$.statement: unknown element; IAM's is "Statement"`},
		{`{"statement":[` + push + `],"Statement":[]}`, `$.statement: unknown element; IAM's is "Statement"`},
		{"{\"\u017ftatement\":[" + push + "]}", `unknown element; IAM's is "Statement"`}, // a long s folds to s
		{`{"version":"2012-10-17","Statement":[` + push + `]}`, `$.version: unknown element; IAM's is "Version"`},
		{`{"ID":"x","Statement":[` + push + `]}`, `$.ID: unknown element; IAM's is "Id"`},
		{`{"Statements":[` + push + `]}`, `$.Statements: unknown element; IAM's are Version, Id, Statement`},
		{`{"Statement ":[` + push + `]}`, `$["Statement "]: unknown element; IAM's are Version, Id, Statement`},
		{`{"Statement":[` + push + `],"Statement":[]}`, `$.Statement: the key is given twice in one object`},
		{`{"Statement":[],"Statement":[` + push + `]}`, `$.Statement: the key is given twice in one object`},
		{`{"St\u0061tement":[],"Statement":[` + push + `]}`, `$.Statement: the key is given twice`}, // an escape is the same key
		{`{"Statement":[{"effect":"Allow","Principal":"*","Action":"ecr:PutImage"}]}`, `$.Statement[0].effect: unknown element; IAM's is "Effect"`},
		{`{"Statement":{"Effect":"Allow","Principal":"*","ACTION":"ecr:PutImage"}}`, `$.Statement.ACTION: unknown element; IAM's is "Action"`},
		{`{"Statement":[` + push + `,{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","notAction":"x"}]}`, `$.Statement[1].notAction: unknown element; IAM's is "NotAction"`},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Action":"ecr:PutImage"}]}`, `$.Statement[0].Action: the key is given twice`},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Actions":"ecr:PutImage"}]}`, `$.Statement[0].Actions: unknown element; IAM's are Sid, Effect, Principal`},
		{`{"Statement":[{"Effect":"Allow","Principal":{"aws":"*"},"Action":"ecr:PutImage"}]}`, `$.Statement[0].Principal.aws: unknown principal type; IAM's is "AWS"`},
		{`{"Statement":[{"Effect":"Allow","NotPrincipal":{"Aws":"*"},"Action":"ecr:PutImage"}]}`, `$.Statement[0].NotPrincipal.Aws: unknown principal type; IAM's is "AWS"`},
		{`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root","AWS":"*"},"Action":"ecr:PutImage"}]}`, `$.Statement[0].Principal.AWS: the key is given twice`},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1","aws:PrincipalOrgID":"o-2"}}}]}`, `$.Statement[0].Condition.StringEquals.aws:PrincipalOrgID: the key is given twice`},
		{`{"Statement":[{"Effect":"allow","Principal":"*","Action":"ecr:PutImage"}]}`, `$.Statement[0].Effect: "allow"; IAM's values are "Allow" and "Deny" (case-sensitive)`},
		{`{"Statement":[{"Effect":"DENY","Principal":"*","Action":"ecr:PutImage"}]}`, `$.Statement[0].Effect: "DENY"; IAM's values are "Allow" and "Deny"`},
		{`{"Statement":[{"Effect":"Permit","Principal":"*","Action":"ecr:PutImage"}]}`, `$.Statement[0].Effect: "Permit", want "Allow" or "Deny"`},
		{`{"Statement":[{"Effect":null,"Principal":"*","Action":"ecr:PutImage"}]}`, `$.Statement[0].Effect: null, want "Allow" or "Deny"`},
		{`{"Statement":[{"Principal":"*","Action":"ecr:PutImage"}]}`, `$.Statement[0].Effect: missing`},
		{`{"Statement":[{"Effect":"Allow","Principal":"*"}]}`, `$.Statement[0].Action: missing (or NotAction)`},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:PutImage","NotAction":"ecr:BatchGetImage"}]}`, `$.Statement[0]: both Action and NotAction`},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","NotPrincipal":{"AWS":"x"},"Action":"ecr:PutImage"}]}`, `$.Statement[0]: both Principal and NotPrincipal`},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:PutImage","Resource":"*","NotResource":"*"}]}`, `$.Statement[0]: both Resource and NotResource`},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":["ecr:PutImage",null]}]}`, `$.Statement[0].Action: want a string or a non-empty list of strings`},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":[]}]}`, `$.Statement[0].Action: want a string or a non-empty list`},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":7}]}`, `$.Statement[0].Action: want a string`},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*","Resource":{}}]}`, `$.Statement[0].Resource: want a string`},
		{`{"Statement":[{"Effect":"Allow","Principal":"arn:aws:iam::111122223333:root","Action":"ecr:PutImage"}]}`, `$.Statement[0].Principal: "arn:aws:iam::111122223333:root"; want "*" or an object`},
		{`{"Statement":[{"Effect":"Allow","Principal":{},"Action":"ecr:PutImage"}]}`, `$.Statement[0].Principal: want "*" or an object`},
		{`{"Statement":[{"Effect":"Allow","Principal":{"AWS":["*",1]},"Action":"ecr:PutImage"}]}`, `$.Statement[0].Principal.AWS: want a string or a non-empty list`},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*","Condition":null}]}`, `$.Statement[0].Condition: want an object of condition operators`},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*","Condition":{"StringEquals":"o-1"}}]}`, `$.Statement[0].Condition.StringEquals: want an object of condition keys`},
		{`{"Statement":[{"Sid":1,"Effect":"Allow","Principal":"*","Action":"ecr:*"}]}`, `$.Statement[0].Sid: want a string`},
		{`{"Version":2012,"Statement":[` + push + `]}`, `$.Version: want a string`},
		{`{"Statement":[]}`, `$.Statement: empty`},
		{`{"Statement":"ecr:PutImage"}`, `$.Statement: want an object (a statement)`},
		{`{"Statement":[` + push + `,[` + push + `]]}`, `$.Statement[1]: want an object (a statement)`},
		{`{"Statement":null}`, `$.Statement: want an object`},
		{`{"Version":"2012-10-17"}`, `$.Statement: missing`},
	} {
		p := write(t, "ecr_policy.json", tc.doc)
		_, err := LoadRepositoryPolicy(p)
		if !errors.Is(err, ErrInvalidFile) || !strings.Contains(err.Error(), p+": ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %q", tc.doc, err, tc.want)
		}
		// A library user's Settings are held to the same reading.
		if err := (Settings{RepositoryPolicy: tc.doc}).validate(); !errors.Is(err, ErrInvalidSettings) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Settings with %s: %v, want %q", tc.doc, err, tc.want)
		}
	}
	// What IAM takes passes: escapes in a name, every element, one statement or a list.
	for _, doc := range []string{
		`{"St\u0061tement":[` + push + `]}`,
		`{"Version":"2012-10-17","Id":"x","Statement":{"Sid":"s","Effect":"Deny","NotPrincipal":{"AWS":["a","b"],"Service":"ecr.amazonaws.com","Federated":"f","CanonicalUser":"c"},"NotAction":["ecr:*"],"NotResource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}}`,
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage"],"Resource":["arn:aws:ecr:*"],"Condition":{}}]}`,
		CrossAccountPullPolicy([]string{"111122223333"}),
	} {
		if _, err := parseRepositoryPolicy([]byte(doc)); err != nil {
			t.Errorf("%s: %v", doc, err)
		}
	}
}

// policyCase is a repository policy made of parts, some spelled as IAM spells them and
// some not, with what IAM makes of it.
type policyCase struct {
	doc   string
	valid bool // every part as IAM takes it
	// what IAM reads in a valid one: the statements that grant a write action, and
	// whether one lets anyone in without a condition.
	writes   int
	everyone bool
}

// randomPolicy makes a policy of a few statements, each element of each drawn from
// spellings IAM takes and spellings it does not (another case, a key given twice,
// another type).
func randomPolicy(r *rand.Rand) policyCase {
	pc := policyCase{valid: true}
	pick := func(opts ...string) (string, int) {
		i := r.IntN(len(opts))
		return opts[i], i
	}
	// name is an element's name: IAM's (or IAM's with a JSON escape), else another
	// spelling that makes the policy invalid.
	name := func(iam string) string {
		switch r.IntN(40) {
		case 0:
			pc.valid = false
			return strings.ToLower(iam)
		case 1:
			pc.valid = false
			return strings.ToUpper(iam)
		case 2:
			return fmt.Sprintf(`\u%04x`, iam[0]) + iam[1:]
		}
		return iam
	}
	var stmts []string
	for range 1 + r.IntN(3) {
		var fields []string
		effect, ei := pick("Allow", "Deny", "Allow", "Deny", "allow", "ALLOW")
		if ei >= 4 {
			pc.valid = false
		}
		fields = append(fields, fmt.Sprintf(`"%s":%q`, name("Effect"), effect))
		var principal string
		anyone := false
		switch p, _ := pick("*", "aws", "AWS*", "arn", "arn", "*", "AWS*", "arn"); p {
		case "*":
			principal, anyone = `"*"`, true
		case "aws":
			principal, pc.valid = `{"aws":"*"}`, false
		case "AWS*":
			principal, anyone = `{"AWS":["arn:aws:iam::111122223333:root","*"]}`, true
		default:
			principal = `{"AWS":"arn:aws:iam::111122223333:root"}`
		}
		fields = append(fields, fmt.Sprintf(`"%s":%s`, name("Principal"), principal))
		action, ai := pick(`"ecr:PutImage"`, `"ECR:putimage"`, `["ecr:BatchGetImage"]`, `"ecr:*"`, `["ecr:Get*","ecr:Upload?ayerPart"]`)
		writes := ai != 2
		fields = append(fields, fmt.Sprintf(`"%s":%s`, name("Action"), action))
		if r.IntN(12) == 0 { // the element again: which one counts is a reader's choice
			pc.valid = false
			fields = append(fields, `"Action":"ecr:PutImage"`)
		}
		cond, _ := pick("", `{}`, `{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}`, `null`, "", `{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}`)
		if cond == "null" {
			pc.valid = false
		}
		if cond != "" {
			fields = append(fields, fmt.Sprintf(`"%s":%s`, name("Condition"), cond))
		}
		r.Shuffle(len(fields), func(i, j int) { fields[i], fields[j] = fields[j], fields[i] })
		stmts = append(stmts, "{"+strings.Join(fields, ",")+"}")
		if effect == "Allow" && writes {
			pc.writes++
		}
		if effect == "Allow" && anyone && !strings.Contains(cond, "aws:PrincipalOrgID") {
			pc.everyone = true
		}
	}
	stmtName := name("Statement")
	top := []string{fmt.Sprintf(`"%s":[%s]`, stmtName, strings.Join(stmts, ","))}
	if len(stmts) == 1 && r.IntN(2) == 0 {
		top[0] = fmt.Sprintf(`"%s":%s`, stmtName, stmts[0])
	}
	if r.IntN(10) == 0 { // a second statement list, under another spelling or the same
		pc.valid = false
		top = append(top, fmt.Sprintf(`"%s":[{"Effect":"Allow","Principal":"*","Action":"ecr:*"}]`, []string{"statement", "Statement", "STATEMENT"}[r.IntN(3)]))
	}
	if r.IntN(2) == 0 {
		top = append(top, fmt.Sprintf(`"%s":"2012-10-17"`, name("Version")))
	}
	r.Shuffle(len(top), func(i, j int) { top[i], top[j] = top[j], top[i] })
	pc.doc = "{" + strings.Join(top, ",") + "}"
	return pc
}

// TestPolicyReadersAgree: LoadRepositoryPolicy (and the Settings' check) and the
// policy's readers (WriteGrantStatements, GrantsEveryone) read one policy alike, and as
// IAM does. A policy that is not IAM's spelling is refused, naming the JSON path, and
// then has nothing for the readers to miss; one that is passes, and the readers find
// every write grant and every grant to anyone in it, in the file as written and in the
// canonical form that is sent.
func TestPolicyReadersAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 2026))
	valid := 0
	for range 4000 {
		pc := randomPolicy(r)
		canon, err := parseRepositoryPolicy([]byte(pc.doc))
		if (err == nil) != pc.valid {
			t.Fatalf("%s: valid %v, parse error %v", pc.doc, pc.valid, err)
		}
		if verr := (Settings{RepositoryPolicy: pc.doc}).validate(); (verr == nil) != pc.valid {
			t.Fatalf("%s: valid %v, Settings check %v", pc.doc, pc.valid, verr)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "$") {
				t.Fatalf("%s: %v, want an error naming the JSON path", pc.doc, err)
			}
			if g, e := WriteGrantStatements(pc.doc), GrantsEveryone(pc.doc); g != nil || e {
				t.Fatalf("%s: refused (%v), yet read: %+v, everyone %v", pc.doc, err, g, e)
			}
			continue
		}
		valid++
		for _, doc := range []string{pc.doc, canon} {
			if n := len(WriteGrantStatements(doc)); n != pc.writes {
				t.Fatalf("%s: %d write grants read, IAM reads %d", doc, n, pc.writes)
			}
			if e := GrantsEveryone(doc); e != pc.everyone {
				t.Fatalf("%s: grants everyone %v, IAM reads %v", doc, e, pc.everyone)
			}
		}
	}
	t.Logf("%d of 4000 policies valid", valid)
	if valid < 400 || valid > 3600 {
		t.Errorf("%d valid policies of 4000: the mix does not test both sides", valid)
	}
}

// FuzzReadPolicy: whatever a policy file holds, LoadRepositoryPolicy and the readers agree:
// a policy refused is read as nothing, one accepted reads the same from its canonical form.
func FuzzReadPolicy(f *testing.F) {
	f.Add([]byte(CrossAccountPullPolicy([]string{"111122223333"})))
	f.Add([]byte(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*"}],"statement":[]}`))
	f.Add([]byte(`{"Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"x"},"NotAction":"ecr:Get*","Condition":{}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		canon, err := parseRepositoryPolicy(data)
		doc := string(data)
		if err != nil {
			if strings.HasPrefix(strings.TrimSpace(doc), "{") && (WriteGrantStatements(doc) != nil || GrantsEveryone(doc)) {
				t.Fatalf("refused (%v), yet read", err)
			}
			return
		}
		if !strings.HasPrefix(strings.TrimSpace(doc), "{") {
			return // account ids
		}
		a, b := WriteGrantStatements(doc), WriteGrantStatements(canon)
		if len(a) != len(b) || GrantsEveryone(doc) != GrantsEveryone(canon) {
			t.Fatalf("%q and its canonical form read differently: %+v / %+v", doc, a, b)
		}
	})
}
