package ecrtarget

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// IAM's policy element names, as its grammar spells them: the keys of a policy document,
// of each of its statements, and of a Principal (or NotPrincipal) object. IAM reads them
// as written, case and all; Go's encoding/json would match a struct field in any case.
var (
	policyElements    = []string{"Version", "Id", "Statement"}
	statementElements = []string{"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"}
	principalTypes    = []string{"AWS", "Service", "Federated", "CanonicalUser"}
)

// statement is one statement of a repository policy, as readPolicy read it.
type statement struct {
	sid   string
	allow bool // Effect "Allow" (else "Deny")
	// actions are the Action patterns, or the NotAction ones when notAction.
	actions   []string
	notAction bool
	// principal is the Principal (or NotPrincipal, when notPrincipal) as written; nil
	// for none.
	principal    json.RawMessage
	notPrincipal bool
	// anyone: the Principal is "*", or its AWS principals include "*".
	anyone bool
	// conditional: a Condition that tests at least one key.
	conditional bool
}

// readPolicy is the one reading of a repository policy document: LoadRepositoryPolicy,
// Settings' check and the policy's readers (WriteGrantStatements, GrantsEveryone) all
// read a policy through it, so that what is checked is what is read, and is what IAM
// reads. Element names must be IAM's exactly (a "statement" key is not IAM's Statement,
// and a reader that took it for one would read another list than AWS does), no object
// may hold a key twice (which of the two a JSON reader keeps is its own choice), and the
// elements the readers use must have the types IAM's grammar gives them. Errors give the
// JSON path.
func readPolicy(data []byte) ([]statement, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("policy document: %v", jsonError(data, err))
	}
	if err := onlyOneValue(dec); err != nil {
		return nil, err
	}
	if err := walkKeys(data, checkPolicyKey); err != nil {
		return nil, err
	}
	var doc map[string]json.RawMessage
	if json.Unmarshal(data, &doc) != nil || doc == nil {
		return nil, errors.New("$: want a JSON object (a policy document)")
	}
	for _, name := range []string{"Version", "Id"} {
		if raw, ok := doc[name]; ok {
			if _, ok := jsonString(raw); !ok {
				return nil, fmt.Errorf("$.%s: want a string", name)
			}
		}
	}
	raw, ok := doc["Statement"]
	if !ok {
		return nil, errors.New("$.Statement: missing")
	}
	// One statement, or a list of them.
	var list []json.RawMessage
	paths := []string{"$.Statement"}
	if isJSON(raw, '[') {
		_ = json.Unmarshal(raw, &list) // decoded above
		if len(list) == 0 {
			return nil, errors.New("$.Statement: empty (want one statement or more)")
		}
		paths = paths[:0]
		for i := range list {
			paths = append(paths, fmt.Sprintf("$.Statement[%d]", i))
		}
	} else {
		list = []json.RawMessage{raw}
	}
	out := make([]statement, 0, len(list))
	for i, raw := range list {
		st, err := readStatement(paths[i], raw)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// readStatement reads one statement, at JSON path at.
func readStatement(at string, raw json.RawMessage) (statement, error) {
	var st statement
	var m map[string]json.RawMessage
	if !isJSON(raw, '{') || json.Unmarshal(raw, &m) != nil {
		return st, fmt.Errorf("%s: want an object (a statement)", at)
	}
	rawEffect, ok := m["Effect"]
	if !ok {
		return st, fmt.Errorf(`%s.Effect: missing (want "Allow" or "Deny")`, at)
	}
	effect, _ := jsonString(rawEffect)
	switch {
	case effect == "Allow" || effect == "Deny":
	case strings.EqualFold(effect, "Allow") || strings.EqualFold(effect, "Deny"):
		return st, fmt.Errorf(`%s.Effect: %q; IAM's values are "Allow" and "Deny" (case-sensitive)`, at, effect)
	default:
		return st, fmt.Errorf(`%s.Effect: %s, want "Allow" or "Deny"`, at, shownRaw(rawEffect))
	}
	st.allow = effect == "Allow"
	if raw, ok := m["Sid"]; ok {
		if st.sid, ok = jsonString(raw); !ok {
			return st, fmt.Errorf("%s.Sid: want a string", at)
		}
	}
	name, raw, err := oneOf(at, m, "Action", "NotAction", true)
	if err != nil {
		return st, err
	}
	if st.actions, ok = stringList(raw); !ok {
		return st, fmt.Errorf("%s.%s: want a string or a non-empty list of strings", at, name)
	}
	st.notAction = name == "NotAction"
	if name, raw, err = oneOf(at, m, "Resource", "NotResource", false); err != nil {
		return st, err
	}
	if raw != nil {
		if _, ok := stringList(raw); !ok {
			return st, fmt.Errorf("%s.%s: want a string or a non-empty list of strings", at, name)
		}
	}
	if name, raw, err = oneOf(at, m, "Principal", "NotPrincipal", false); err != nil {
		return st, err
	}
	if raw != nil {
		if st.anyone, err = readPrincipal(at+"."+name, raw); err != nil {
			return st, err
		}
		st.principal, st.notPrincipal = raw, name == "NotPrincipal"
	}
	if raw, ok := m["Condition"]; ok {
		if st.conditional, err = readCondition(at+".Condition", raw); err != nil {
			return st, err
		}
	}
	return st, nil
}

// oneOf returns which of the two exclusive elements a and b statement m has (IAM refuses
// both), and its value; with neither, nil, or an error when one is required.
func oneOf(at string, m map[string]json.RawMessage, a, b string, required bool) (string, json.RawMessage, error) {
	ra, hasA := m[a]
	rb, hasB := m[b]
	switch {
	case hasA && hasB:
		return "", nil, fmt.Errorf("%s: both %s and %s (IAM takes one or the other)", at, a, b)
	case hasB:
		return b, rb, nil
	case !hasA && required:
		return "", nil, fmt.Errorf("%s.%s: missing (or %s)", at, a, b)
	}
	return a, ra, nil
}

// readPrincipal checks a Principal or NotPrincipal at JSON path at: "*", or an object of
// principal types, each one principal or a list; anyone is whether it names "*".
func readPrincipal(at string, raw json.RawMessage) (anyone bool, err error) {
	if s, ok := jsonString(raw); ok {
		if s != "*" {
			return false, fmt.Errorf(`%s: %q; want "*" or an object of principal types ({"AWS": ...})`, at, s)
		}
		return true, nil
	}
	var byType map[string]json.RawMessage
	if !isJSON(raw, '{') || json.Unmarshal(raw, &byType) != nil || len(byType) == 0 {
		return false, fmt.Errorf(`%s: want "*" or an object of principal types ({"AWS": ...})`, at)
	}
	for _, t := range principalTypes { // keys checked by walkKeys; in a fixed order for the errors
		raw, ok := byType[t]
		if !ok {
			continue
		}
		list, ok := stringList(raw)
		if !ok {
			return false, fmt.Errorf("%s.%s: want a string or a non-empty list of strings", at, t)
		}
		if t == "AWS" && slices.Contains(list, "*") {
			anyone = true
		}
	}
	return anyone, nil
}

// readCondition checks a Condition at JSON path at: an object of condition operators, each
// an object of condition keys. It reports whether one key is tested: IAM applies a
// statement whose Condition tests nothing as if it had none.
func readCondition(at string, raw json.RawMessage) (bool, error) {
	var ops map[string]json.RawMessage
	if !isJSON(raw, '{') || json.Unmarshal(raw, &ops) != nil {
		return false, fmt.Errorf("%s: want an object of condition operators", at)
	}
	tests := false
	for _, op := range sortedKeys(ops) {
		var keys map[string]json.RawMessage
		if !isJSON(ops[op], '{') || json.Unmarshal(ops[op], &keys) != nil {
			return false, fmt.Errorf("%s: want an object of condition keys", jsonPath{op}.under(at))
		}
		tests = tests || len(keys) > 0
	}
	return tests, nil
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// checkPolicyKey is readPolicy's check of each key, in the order of the document: the
// keys of the document, of its statements and of their principals must be IAM's element
// names exactly. obj is the path of the object holding key.
func checkPolicyKey(obj jsonPath, key string) error {
	names, what := []string(nil), "element"
	switch {
	case len(obj) == 0:
		names = policyElements
	case isStatementPath(obj):
		names = statementElements
	case len(obj) > 1 && isStatementPath(obj[:len(obj)-1]) && (obj[len(obj)-1] == "Principal" || obj[len(obj)-1] == "NotPrincipal"):
		names, what = principalTypes, "principal type"
	default:
		return nil // inside a Condition, or under something the type checks refuse
	}
	if slices.Contains(names, key) {
		return nil
	}
	for _, n := range names {
		if strings.EqualFold(n, key) {
			return fmt.Errorf("%s: unknown %s; IAM's is %q", obj.with(key), what, n)
		}
	}
	return fmt.Errorf("%s: unknown %s; IAM's are %s", obj.with(key), what, strings.Join(names, ", "))
}

// isStatementPath: p is $.Statement (one statement) or $.Statement[i].
func isStatementPath(p jsonPath) bool {
	if len(p) == 0 || len(p) > 2 || p[0] != "Statement" {
		return false
	}
	if len(p) == 2 {
		_, isIndex := p[1].(int)
		return isIndex
	}
	return true
}

// jsonPath is a path into a JSON document: object keys (string) and list indexes (int).
type jsonPath []any

// with is p and then e, in a slice of its own.
func (p jsonPath) with(e any) jsonPath { return append(p[:len(p):len(p)], e) }

var plainKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_:-]*$`)

func (p jsonPath) String() string { return p.under("$") }

// under is p written after the path at: .key, ["other key"], [index].
func (p jsonPath) under(at string) string {
	var b strings.Builder
	b.WriteString(at)
	for _, e := range p {
		switch e := e.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(e) + "]")
		case string:
			if plainKeyRE.MatchString(e) {
				b.WriteString("." + e)
			} else {
				b.WriteString("[" + strconv.Quote(e) + "]")
			}
		}
	}
	return b.String()
}

// walkKeys calls visit with each object key of the JSON document data, in the order of
// the document, and the path of the object holding it; and refuses a key that one object
// holds twice. data must be one JSON value (it was decoded already).
func walkKeys(data []byte, visit func(obj jsonPath, key string) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return walkValue(dec, jsonPath{}, visit)
}

func walkValue(dec *json.Decoder, at jsonPath, visit func(jsonPath, string) error) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := tok.(string)
			if seen[key] {
				return fmt.Errorf("%s: the key is given twice in one object (JSON readers differ on which one counts)", at.with(key))
			}
			seen[key] = true
			if visit != nil {
				if err := visit(at, key); err != nil {
					return err
				}
			}
			if err := walkValue(dec, at.with(key), visit); err != nil {
				return err
			}
		}
		_, err = dec.Token() // }
		return err
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if err := walkValue(dec, at.with(i), visit); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ]
		return err
	}
	return nil
}

// isJSON: raw is a JSON value that starts with c ('{', '[', '"').
func isJSON(raw json.RawMessage, c byte) bool {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	return len(raw) > 0 && raw[0] == c
}

// jsonString is raw as a string, when it is one (not null, not a number).
func jsonString(raw json.RawMessage) (string, bool) {
	var s string
	if !isJSON(raw, '"') || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// stringList is a policy element that is one string or a non-empty list of strings.
func stringList(raw json.RawMessage) ([]string, bool) {
	if s, ok := jsonString(raw); ok {
		return []string{s}, true
	}
	var list []json.RawMessage
	if !isJSON(raw, '[') || json.Unmarshal(raw, &list) != nil || len(list) == 0 {
		return nil, false
	}
	out := make([]string, len(list))
	for i, e := range list {
		s, ok := jsonString(e)
		if !ok {
			return nil, false
		}
		out[i] = s
	}
	return out, true
}

// shownRaw is a JSON value as an error quotes it (see shown).
func shownRaw(raw json.RawMessage) string {
	var v any
	switch {
	case json.Unmarshal(raw, &v) != nil:
		return "unreadable"
	case v == nil:
		return "null"
	}
	return shown(v)
}
