package attest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
)

// Known values of critical.type.
const (
	TypeAtomic   = "atomic container signature"
	TypeBinauthz = "Google cloud binauthz container signature"
)

// Payload is the simple-signing JSON an attestation signs.
type Payload struct {
	Type           string
	Digest         digest.Digest
	DockerRef      string // as signed, possibly with a tag
	Creator        string // optional.creator, "" when absent
	Timestamp      int64  // optional.timestamp, 0 when absent
	HasTimestamp   bool
	OptionalFields map[string]json.RawMessage // the whole "optional" object, kept as is
}

var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// ParsePayload parses simple-signing JSON strictly: no duplicate keys, no unknown keys
// outside "optional", exactly the known shape in "critical". Call it only on content whose
// signature has been checked.
func ParsePayload(b []byte) (Payload, error) {
	top, err := strictObject(b, "payload")
	if err != nil {
		return Payload{}, err
	}
	if err := onlyKeys(top, "payload", "critical", "optional"); err != nil {
		return Payload{}, err
	}
	critRaw, ok := top["critical"]
	if !ok {
		return Payload{}, fmt.Errorf("%w: missing critical", ErrBadPayload)
	}
	crit, err := strictObject(critRaw, "critical")
	if err != nil {
		return Payload{}, err
	}
	if err := exactKeys(crit, "critical", "type", "image", "identity"); err != nil {
		return Payload{}, err
	}
	var p Payload
	if err := strictString(crit["type"], "critical.type", &p.Type); err != nil {
		return Payload{}, err
	}
	img, err := strictObject(crit["image"], "critical.image")
	if err != nil {
		return Payload{}, err
	}
	if err := exactKeys(img, "critical.image", "docker-manifest-digest"); err != nil {
		return Payload{}, err
	}
	var dg string
	if err := strictString(img["docker-manifest-digest"], "critical.image.docker-manifest-digest", &dg); err != nil {
		return Payload{}, err
	}
	if err := digest.Digest(dg).Validate(); err != nil {
		return Payload{}, fmt.Errorf("%w: critical.image.docker-manifest-digest %q: %v", ErrBadPayload, dg, err)
	}
	p.Digest = digest.Digest(dg)
	id, err := strictObject(crit["identity"], "critical.identity")
	if err != nil {
		return Payload{}, err
	}
	if err := exactKeys(id, "critical.identity", "docker-reference"); err != nil {
		return Payload{}, err
	}
	if err := strictString(id["docker-reference"], "critical.identity.docker-reference", &p.DockerRef); err != nil {
		return Payload{}, err
	}
	if optRaw, ok := top["optional"]; ok && string(optRaw) != "null" {
		opt, err := strictObject(optRaw, "optional")
		if err != nil {
			return Payload{}, err
		}
		p.OptionalFields = opt
		if c, ok := opt["creator"]; ok {
			if err := strictString(c, "optional.creator", &p.Creator); err != nil {
				return Payload{}, err
			}
		}
		if ts, ok := opt["timestamp"]; ok {
			var f float64
			if err := json.Unmarshal(ts, &f); err != nil || f != math.Trunc(f) || math.Abs(f) > 1e15 {
				return Payload{}, fmt.Errorf("%w: optional.timestamp is not an integer", ErrBadPayload)
			}
			p.Timestamp, p.HasTimestamp = int64(f), true
		}
	}
	return p, nil
}

// repositoryOf removes a tag, or a digest that must be want, from a docker reference.
func repositoryOf(ref string, want digest.Digest) (string, error) {
	if at := strings.IndexByte(ref, '@'); at >= 0 {
		if digest.Digest(ref[at+1:]) != want {
			return "", fmt.Errorf("%w: docker-reference %q pins another digest", ErrDigestMismatch, ref)
		}
		ref = ref[:at]
	}
	slash := strings.LastIndexByte(ref, '/')
	if slash <= 0 {
		return "", fmt.Errorf("%w: docker-reference %q has no host/repository", ErrBadPayload, ref)
	}
	if c := strings.LastIndexByte(ref, ':'); c > slash {
		if !tagRE.MatchString(ref[c+1:]) {
			return "", fmt.Errorf("%w: docker-reference %q has an invalid tag", ErrBadPayload, ref)
		}
		ref = ref[:c]
	}
	return ref, nil
}

// sameRepository compares host case-insensitively and the path exactly.
func sameRepository(a, b string) bool {
	ia, ib := strings.IndexByte(a, '/'), strings.IndexByte(b, '/')
	if ia <= 0 || ib <= 0 {
		return false
	}
	return strings.EqualFold(a[:ia], b[:ib]) && a[ia:] == b[ib:]
}

// strictObject decodes a JSON object into its members, rejecting duplicate keys and
// trailing data.
func strictObject(b []byte, path string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadPayload, path, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("%w: %s is not an object", ErrBadPayload, path)
	}
	m := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadPayload, path, err)
		}
		k, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("%w: %s: key is not a string", ErrBadPayload, path)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%w: %s.%s: %v", ErrBadPayload, path, k, err)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("%w: %s: duplicate key %q", ErrBadPayload, path, k)
		}
		m[k] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadPayload, path, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: %s: trailing data", ErrBadPayload, path)
	}
	return m, nil
}

func onlyKeys(m map[string]json.RawMessage, path string, allowed ...string) error {
	for k := range m {
		if !contains(allowed, k) {
			return fmt.Errorf("%w: %s: unknown key %q", ErrBadPayload, path, k)
		}
	}
	return nil
}

func exactKeys(m map[string]json.RawMessage, path string, keys ...string) error {
	if err := onlyKeys(m, path, keys...); err != nil {
		return err
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return fmt.Errorf("%w: %s: missing key %q", ErrBadPayload, path, k)
		}
	}
	return nil
}

func strictString(b json.RawMessage, path string, out *string) error {
	if len(b) == 0 || b[0] != '"' {
		return fmt.Errorf("%w: %s is not a string", ErrBadPayload, path)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadPayload, path, err)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
