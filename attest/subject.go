package attest

import (
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// Subject is the image an attestation must vouch for: a repository and a manifest digest.
type Subject struct {
	// Repository is "host/repo" without tag or digest, e.g.
	// "docker.external.thoughtmachine.io/vault/xpl/xpl_payees".
	Repository string
	// Digest is the manifest (or index) digest being copied.
	Digest digest.Digest
}

// ResourceURL is the Grafeas resource URL of the subject: "https://host/repo@sha256:<hex>".
func (s Subject) ResourceURL() string {
	return "https://" + s.Repository + "@" + string(s.Digest)
}

// String is the subject as a pinned reference: "host/repo@sha256:<hex>".
func (s Subject) String() string {
	return s.Repository + "@" + string(s.Digest)
}

// resourceKey is the normalised form of a resource URI used for matching: scheme removed,
// host lower-cased, a tag before the "@" removed, digest algorithm and hex lower-cased. It
// returns "" when uri is not "[scheme://]host/repo[:tag]@alg:hex".
func resourceKey(uri string) string {
	u := strings.TrimSpace(uri)
	if i := strings.Index(u, "://"); i >= 0 {
		switch strings.ToLower(u[:i]) {
		case "https", "http":
			u = u[i+3:]
		default:
			return ""
		}
	}
	at := strings.LastIndexByte(u, '@')
	if at <= 0 {
		return ""
	}
	name, dg := u[:at], strings.ToLower(u[at+1:])
	if digest.Digest(dg).Validate() != nil {
		return ""
	}
	name = stripTag(name)
	slash := strings.IndexByte(name, '/')
	if slash <= 0 || slash == len(name)-1 {
		return ""
	}
	return strings.ToLower(name[:slash]) + name[slash:] + "@" + dg
}

// stripTag removes a ":tag" after the last "/" (a host:port before it is not a tag).
func stripTag(name string) string {
	slash := strings.LastIndexByte(name, '/')
	if c := strings.LastIndexByte(name, ':'); c > slash && slash >= 0 {
		return name[:c]
	}
	return name
}

func (s Subject) key() string { return resourceKey(s.ResourceURL()) }

// ParseSubject reads a pinned reference "host/repo[:tag]@sha256:<hex>" (the form of a
// release.json source) into a Subject: the tag is dropped, the digest must be valid.
func ParseSubject(ref string) (Subject, error) {
	at := strings.LastIndexByte(ref, '@')
	if at <= 0 {
		return Subject{}, fmt.Errorf("reference %q is not pinned by digest", ref)
	}
	d := digest.Digest(ref[at+1:])
	if err := d.Validate(); err != nil {
		return Subject{}, fmt.Errorf("reference %q: %w", ref, err)
	}
	repo, err := repositoryOf(ref[:at], d)
	if err != nil {
		return Subject{}, fmt.Errorf("reference %q: %w", ref, err)
	}
	s := Subject{Repository: repo, Digest: d}
	if s.key() == "" {
		return Subject{}, fmt.Errorf("reference %q: want host/repository@digest", ref)
	}
	return s, nil
}
