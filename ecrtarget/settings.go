package ecrtarget

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
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
	if s.RepositoryPolicy != "" {
		if _, err := canonicalJSON(s.RepositoryPolicy); err != nil {
			return fmt.Errorf("%w: repository policy: %v", ErrInvalidSettings, err)
		}
	}
	if s.LifecyclePolicy != "" {
		if _, err := canonicalJSON(s.LifecyclePolicy); err != nil {
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
		var doc struct {
			Statement json.RawMessage
		}
		if err := json.Unmarshal(trimmed, &doc); err != nil {
			return "", fmt.Errorf("policy document: %v", err)
		}
		if len(doc.Statement) == 0 {
			return "", fmt.Errorf("$.Statement: missing")
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

func parseLifecyclePolicy(data []byte) (string, error) {
	var doc struct {
		Rules []json.RawMessage `json:"rules"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return "", fmt.Errorf("lifecycle policy: %v", err)
	}
	if len(doc.Rules) == 0 {
		return "", fmt.Errorf("$.rules: missing or empty")
	}
	return canonicalJSON(string(data))
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
	if dec.More() {
		return "", fmt.Errorf("more than one JSON value")
	}
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
