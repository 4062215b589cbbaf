package ecrtarget

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/tmsync/tmsync/internal/jsonpos"
)

// Tag is an AWS resource tag.
type Tag struct{ Key, Value string }

// Tag mutability values.
const (
	Immutable = "IMMUTABLE"
	Mutable   = "MUTABLE"
)

// Settings is what a repository must carry. The zero value asks for AES256 encryption, no
// scan on push, IMMUTABLE tags, no tags, and leaves policies alone.
type Settings struct {
	// KMSKey is a KMS key alias ("alias/x"), alias ARN, key ARN or key id; "" means AES256.
	KMSKey string
	// ScanOnPush turns on basic scanning of every pushed image.
	ScanOnPush bool
	// Mutability is "IMMUTABLE" (the default when "") or "MUTABLE".
	Mutability string
	// Tags are set on the repository; tags of others with other keys are left alone.
	Tags []Tag
	// PruneTags removes every tag whose key is not in Tags.
	PruneTags bool
	// RepositoryPolicy is a JSON policy document; "" leaves the repository's policy alone.
	RepositoryPolicy string
	// LifecyclePolicy is a JSON lifecycle policy; "" leaves the repository's one alone.
	LifecyclePolicy string
}

func (s Settings) mutability() string {
	if s.Mutability == "" {
		return Immutable
	}
	return s.Mutability
}

// validate checks s before any call is made, so a bad setting fails every repository
// the same way instead of half-provisioning one.
func (s Settings) validate() error {
	switch s.mutability() {
	case Immutable, Mutable:
	default:
		return fmt.Errorf("%w: tag mutability %q (want IMMUTABLE or MUTABLE)", ErrInvalidSettings, s.Mutability)
	}
	if err := validateTags(s.Tags, "Tags"); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidSettings, err)
	}
	// The policies as their files are read: what a library user sets directly is held
	// to what the CLI's files are (and what the policy's readers read is what is set).
	if s.RepositoryPolicy != "" {
		if _, err := readPolicy([]byte(s.RepositoryPolicy)); err != nil {
			return fmt.Errorf("%w: repository policy: %v", ErrInvalidSettings, err)
		}
	}
	if s.LifecyclePolicy != "" {
		if _, err := parseLifecyclePolicy([]byte(s.LifecyclePolicy)); err != nil {
			return fmt.Errorf("%w: lifecycle policy: %v", ErrInvalidSettings, err)
		}
	}
	return nil
}

// validateTags checks AWS's tag rules; where names the list in messages.
func validateTags(tags []Tag, where string) error {
	if len(tags) > 50 {
		return fmt.Errorf("%s: %d tags, AWS allows 50 a resource", where, len(tags))
	}
	seen := map[string]int{}
	for i, t := range tags {
		switch {
		case t.Key == "":
			return fmt.Errorf("%s[%d].Key: empty", where, i)
		case len([]rune(t.Key)) > 128:
			return fmt.Errorf("%s[%d].Key: longer than 128 characters", where, i)
		case len([]rune(t.Value)) > 256:
			return fmt.Errorf("%s[%d].Value: longer than 256 characters", where, i)
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return fmt.Errorf("%s[%d].Key: %q: the aws: prefix is reserved", where, i, t.Key)
		}
		if j, dup := seen[t.Key]; dup {
			return fmt.Errorf("%s[%d].Key: %q repeats %s[%d]", where, i, t.Key, where, j)
		}
		seen[t.Key] = i
	}
	return nil
}

// LoadTags reads a JSON list of {"Key": "...", "Value": "..."} (the resource tags file).
// Errors name the file and the JSON path of what is wrong.
func LoadTags(path string) ([]Tag, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: reading resource tags: %v", ErrInvalidFile, err)
	}
	tags, err := parseTags(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidFile, path, err)
	}
	return tags, nil
}

func parseTags(data []byte) ([]Tag, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("$: want a JSON list of {\"Key\",\"Value\"}: %v", err)
	}
	tags := make([]Tag, 0, len(list))
	for i, raw := range list {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
			return nil, fmt.Errorf("$[%d]: want an object with Key and Value", i)
		}
		var t Tag
		for _, field := range []struct {
			name string
			dst  *string
		}{{"Key", &t.Key}, {"Value", &t.Value}} {
			v, ok := obj[field.name]
			if !ok {
				return nil, fmt.Errorf("$[%d].%s: missing", i, field.name)
			}
			if err := json.Unmarshal(v, field.dst); err != nil {
				return nil, fmt.Errorf("$[%d].%s: want a string", i, field.name)
			}
			delete(obj, field.name)
		}
		for k := range obj {
			// boto3 took this list as is and AWS refused unknown fields; so do we.
			return nil, fmt.Errorf("$[%d].%s: unknown field (want only Key and Value)", i, k)
		}
		tags = append(tags, t)
	}
	if err := validateTags(tags, "$"); err != nil {
		return nil, err
	}
	return tags, nil
}

// pullActions are what another account needs to pull from a repository.
var pullActions = []string{"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}

var accountIDRE = regexp.MustCompile(`^[0-9]{12}$`)

// LoadRepositoryPolicy reads the repository policy file: either a JSON policy document
// (returned in canonical form), or AWS account ids one a line (blank lines and lines
// starting with # skipped), from which one statement is made that lets those accounts'
// root principals pull (BatchCheckLayerAvailability, BatchGetImage,
// GetDownloadUrlForLayer). A path of "" means no policy: it returns "".
func LoadRepositoryPolicy(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: reading repository policy: %v", ErrInvalidFile, err)
	}
	policy, err := parseRepositoryPolicy(data)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrInvalidFile, path, err)
	}
	return policy, nil
}

func parseRepositoryPolicy(data []byte) (string, error) {
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("{")) {
		if _, err := readPolicy(data); err != nil {
			return "", err
		}
		return canonicalJSON(string(trimmed))
	}
	seen := map[string]bool{}
	var ids []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if !accountIDRE.MatchString(s) {
			return "", fmt.Errorf("line %d: %q is not a 12-digit AWS account id (nor is the file a JSON policy)", line, s)
		}
		if !seen[s] {
			seen[s] = true
			ids = append(ids, s)
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	if len(ids) == 0 {
		return "", fmt.Errorf("no account ids and no policy document")
	}
	return CrossAccountPullPolicy(ids), nil
}

// CrossAccountPullPolicy returns a repository policy that lets the root principals of the
// given accounts pull images.
func CrossAccountPullPolicy(accountIDs []string) string {
	ids := append([]string(nil), accountIDs...)
	sort.Strings(ids)
	principals := make([]string, len(ids))
	for i, id := range ids {
		principals[i] = "arn:aws:iam::" + id + ":root"
	}
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Sid":       "CrossAccountPull",
			"Effect":    "Allow",
			"Principal": map[string]any{"AWS": principals},
			"Action":    pullActions,
		}},
	}
	b, _ := json.Marshal(doc) // cannot fail: strings and maps only
	return string(b)
}

// LoadLifecyclePolicy reads a lifecycle policy JSON document from path. With a path of ""
// it returns the default policy: one rule that expires untagged images untaggedDays days
// after they were pushed. A path that is given must exist: a missing file is an error,
// not a silent fallback to the default.
func LoadLifecyclePolicy(path string, untaggedDays int) (string, error) {
	if path == "" {
		if untaggedDays < 1 {
			return "", fmt.Errorf("%w: untagged image expiry of %d days (want 1 or more)", ErrInvalidSettings, untaggedDays)
		}
		return DefaultLifecyclePolicy(untaggedDays), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: reading lifecycle policy: %v", ErrInvalidFile, err)
	}
	policy, err := parseLifecyclePolicy(data)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrInvalidFile, path, err)
	}
	return policy, nil
}

// parseLifecyclePolicy checks the policy against ECR's lifecycle policy properties, so
// that a file ECR would refuse stops the run before a repository is made (PutLifecyclePolicy
// comes after CreateRepository): the rules' shape, types, the values ECR documents, the
// priorities unique, and a rule on "any" tag status last. Errors give the JSON path. It
// does not restrict what ECR may add (a new countType or action type is passed on).
func parseLifecyclePolicy(data []byte) (string, error) {
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return "", fmt.Errorf("lifecycle policy: %v", jsonError(data, err))
	}
	if doc == nil {
		return "", fmt.Errorf("$: want a JSON object with rules")
	}
	// A key given twice: the map above kept the last, ECR may keep another.
	if err := walkKeys(data, nil); err != nil {
		return "", err
	}
	for k := range doc {
		if k != "rules" {
			return "", fmt.Errorf("$.%s: unknown field (a lifecycle policy has only rules)", k)
		}
	}
	rules, ok := doc["rules"].([]any)
	if !ok || len(rules) == 0 {
		return "", fmt.Errorf("$.rules: missing or empty")
	}
	priorities := map[int64]int{}
	var anyAt []int64 // the priorities of the rules on "any"
	var highest int64
	for i, r := range rules {
		at := fmt.Sprintf("$.rules[%d]", i)
		prio, tagStatus, err := checkLifecycleRule(at, r)
		if err != nil {
			return "", err
		}
		if j, dup := priorities[prio]; dup {
			return "", fmt.Errorf("%s.rulePriority: %d is also the priority of $.rules[%d] (want each rule its own)", at, prio, j)
		}
		priorities[prio] = i
		highest = max(highest, prio)
		if tagStatus == "any" {
			anyAt = append(anyAt, prio)
		}
	}
	switch {
	case len(anyAt) > 1:
		return "", fmt.Errorf("$.rules: %d rules have tagStatus \"any\" (priorities %v); ECR takes one, last", len(anyAt), anyAt)
	case len(anyAt) == 1 && anyAt[0] != highest:
		return "", fmt.Errorf("$.rules: the rule with tagStatus \"any\" has priority %d; ECR wants it last (the highest priority, here %d)", anyAt[0], highest)
	}
	// As canonicalJSON, from the document decoded above rather than from the file again.
	if err := onlyOneValue(dec); err != nil {
		return "", err
	}
	return encodeCanonical(doc)
}

// checkLifecycleRule checks one rule at JSON path at, and returns its priority and tag
// status.
func checkLifecycleRule(at string, r any) (int64, string, error) {
	rule, ok := r.(map[string]any)
	if !ok {
		return 0, "", fmt.Errorf("%s: want an object with rulePriority, selection and action", at)
	}
	for k := range rule {
		switch k {
		case "rulePriority", "description", "selection", "action":
		default:
			return 0, "", fmt.Errorf("%s.%s: unknown field", at, k)
		}
	}
	prio, err := positiveInt(at+".rulePriority", rule["rulePriority"])
	if err != nil {
		return 0, "", err
	}
	if d, ok := rule["description"]; ok {
		if _, ok := d.(string); !ok {
			return 0, "", fmt.Errorf("%s.description: want a string", at)
		}
	}
	sel, ok := rule["selection"].(map[string]any)
	if !ok {
		return 0, "", fmt.Errorf("%s.selection: missing, or not an object", at)
	}
	at += ".selection"
	tagStatus, _ := sel["tagStatus"].(string)
	switch tagStatus {
	case "tagged", "untagged", "any":
	default:
		return 0, "", fmt.Errorf("%s.tagStatus: %s, want tagged, untagged or any", at, shown(sel["tagStatus"]))
	}
	lists := 0
	for _, name := range []string{"tagPrefixList", "tagPatternList"} {
		v, set := sel[name]
		if !set {
			continue
		}
		if tagStatus != "tagged" {
			return 0, "", fmt.Errorf("%s.%s: only with tagStatus tagged", at, name)
		}
		list, ok := v.([]any)
		if !ok || len(list) == 0 {
			return 0, "", fmt.Errorf("%s.%s: want a non-empty list of strings", at, name)
		}
		for j, e := range list {
			str, ok := e.(string)
			if !ok || str == "" {
				return 0, "", fmt.Errorf("%s.%s[%d]: want a non-empty string", at, name, j)
			}
			if name == "tagPatternList" && strings.Count(str, "*") > 4 {
				return 0, "", fmt.Errorf("%s.%s[%d]: %q has more than 4 wildcards", at, name, j, str)
			}
		}
		lists++
	}
	if tagStatus == "tagged" && lists == 0 {
		return 0, "", fmt.Errorf("%s: tagStatus tagged needs tagPrefixList or tagPatternList", at)
	}
	countType, ok := sel["countType"].(string)
	if !ok || countType == "" {
		return 0, "", fmt.Errorf("%s.countType: %s, want imageCountMoreThan or sinceImagePushed", at, shown(sel["countType"]))
	}
	if _, err := positiveInt(at+".countNumber", sel["countNumber"]); err != nil {
		return 0, "", err
	}
	unit, hasUnit := sel["countUnit"]
	switch {
	case countType == "imageCountMoreThan" && hasUnit:
		return 0, "", fmt.Errorf("%s.countUnit: not with countType imageCountMoreThan", at)
	case strings.HasPrefix(countType, "since") && unit != "days": // every age: sinceImagePushed, -Pulled, -Transitioned
		return 0, "", fmt.Errorf("%s.countUnit: %s, want \"days\" with countType %s", at, shown(unit), countType)
	}
	if sc, ok := sel["storageClass"]; ok && sc != "standard" && sc != "archive" {
		return 0, "", fmt.Errorf("%s.storageClass: %s, want standard or archive", at, shown(sc))
	}
	for k := range sel {
		switch k {
		case "tagStatus", "tagPrefixList", "tagPatternList", "countType", "countUnit", "countNumber", "storageClass":
		default:
			if countType == "imageCountMoreThan" || countType == "sinceImagePushed" {
				return 0, "", fmt.Errorf("%s.%s: unknown field", at, k)
			}
		}
	}
	action, ok := rule["action"].(map[string]any)
	if !ok {
		return 0, "", fmt.Errorf("%s.action: missing, or not an object", strings.TrimSuffix(at, ".selection"))
	}
	at = strings.TrimSuffix(at, ".selection") + ".action"
	switch t, _ := action["type"].(string); {
	case t == "":
		return 0, "", fmt.Errorf("%s.type: %s, want a string (expire)", at, shown(action["type"]))
	case t != "expire" && t != "transition" && (strings.EqualFold(t, "expire") || strings.EqualFold(t, "transition")):
		return 0, "", fmt.Errorf("%s.type: %q, want %q (ECR's names are lower case)", at, t, strings.ToLower(t))
	case t == "transition" && action["targetStorageClass"] != "archive":
		return 0, "", fmt.Errorf("%s.targetStorageClass: %s, want \"archive\" with type transition", at, shown(action["targetStorageClass"]))
	}
	return prio, tagStatus, nil
}

// positiveInt reads v, at JSON path at, as an integer of 1 or more (required).
func positiveInt(at string, v any) (int64, error) {
	if v == nil {
		return 0, fmt.Errorf("%s: missing (want an integer of 1 or more)", at)
	}
	n, ok := v.(json.Number)
	if ok {
		if i, err := n.Int64(); err == nil && i >= 1 {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%s: %s, want an integer of 1 or more", at, shown(v))
}

// shown is a JSON value as an error quotes it: its JSON text, clipped; "missing" for none.
func shown(v any) string {
	if v == nil {
		return "missing"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "unreadable"
	}
	if len(b) > 40 {
		b = append(b[:37], "..."...)
	}
	return string(b)
}

// jsonError adds the line and column to a JSON syntax or type error of data.
func jsonError(data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var at int64 = -1
	switch {
	case errors.As(err, &se):
		at = se.Offset - 1 // the offset is past the byte that did not fit
	case errors.As(err, &te):
		at = te.Offset
	}
	if at < 0 {
		return err
	}
	line, col := jsonpos.LineCol(data, int(min(at, int64(len(data)))))
	return fmt.Errorf("line %d, column %d: %v", line, col, err)
}

// DefaultLifecyclePolicy expires untagged images days after push.
func DefaultLifecyclePolicy(days int) string {
	return fmt.Sprintf(`{"rules":[{"action":{"type":"expire"},"description":"Expire untagged images %d days after push","rulePriority":1,"selection":{"countNumber":%d,"countType":"sinceImagePushed","countUnit":"days","tagStatus":"untagged"}}]}`, days, days)
}

// canonicalJSON returns doc re-encoded with sorted keys and no insignificant white
// space, so that two policies that differ only in layout compare equal. Numbers keep
// their text.
func canonicalJSON(doc string) (string, error) {
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	if err := onlyOneValue(dec); err != nil {
		return "", err
	}
	return encodeCanonical(v)
}

// onlyOneValue refuses anything but white space after the value dec has decoded: another
// value, and a stray closing bracket, which dec.More does not see ("{...}}").
func onlyOneValue(dec *json.Decoder) error {
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("more than one JSON value")
	}
	return nil
}

// encodeCanonical is canonicalJSON's encoding of v, a document decoded with UseNumber.
func encodeCanonical(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// jsonSHA256 is the hex SHA-256 of the canonical form of doc, or of its text when it is
// not JSON; "" for "".
func jsonSHA256(doc string) string {
	if doc == "" {
		return ""
	}
	if c, err := canonicalJSON(doc); err == nil {
		doc = c
	}
	sum := sha256.Sum256([]byte(doc))
	return hex.EncodeToString(sum[:])
}
