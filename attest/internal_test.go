package attest

import (
	"errors"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

func TestResourceKey(t *testing.T) {
	hex := digest.FromString("x").Encoded()
	want := "docker.external.thoughtmachine.io/vault/xpl@sha256:" + hex
	same := []string{
		"https://docker.external.thoughtmachine.io/vault/xpl@sha256:" + hex,
		"http://docker.external.thoughtmachine.io/vault/xpl@sha256:" + hex,
		"docker.external.thoughtmachine.io/vault/xpl@sha256:" + hex,
		"HTTPS://Docker.External.ThoughtMachine.io/vault/xpl:5.0.3@SHA256:" + hex,
		" https://docker.external.thoughtmachine.io/vault/xpl@sha256:" + hex + " ",
	}
	for _, u := range same {
		if got := resourceKey(u); got != want {
			t.Errorf("resourceKey(%q) = %q, want %q", u, got, want)
		}
	}
	for _, u := range []string{
		"", "https://docker.external.thoughtmachine.io/vault/xpl",
		"https://docker.external.thoughtmachine.io/vault/XPL@sha256:" + hex, // path case matters
		"https://docker.external.thoughtmachine.io/vault/xpl@sha256:" + hex[:63],
		"ftp://docker.external.thoughtmachine.io/vault/xpl@sha256:" + hex,
		"https://host@sha256:" + hex,
		"https://docker.external.thoughtmachine.io/vault/xpl/@sha256:" + hex,
	} {
		if got := resourceKey(u); got == want {
			t.Errorf("resourceKey(%q) matched", u)
		}
	}
	// host:port is not a tag.
	if got := resourceKey("https://localhost:5000/a/b@sha256:" + hex); got != "localhost:5000/a/b@sha256:"+hex {
		t.Errorf("host:port: %q", got)
	}
}

func TestRepositoryOf(t *testing.T) {
	d := digest.FromString("x")
	cases := []struct {
		ref, want string
		err       error
	}{
		{"docker.external.thoughtmachine.io/vault/xpl", "docker.external.thoughtmachine.io/vault/xpl", nil},
		{"docker.external.thoughtmachine.io/vault/xpl:5.0.3", "docker.external.thoughtmachine.io/vault/xpl", nil},
		{"localhost:5000/vault/xpl", "localhost:5000/vault/xpl", nil},
		{"localhost:5000/vault/xpl:v1", "localhost:5000/vault/xpl", nil},
		{"localhost:5000/vault/xpl@" + string(d), "localhost:5000/vault/xpl", nil},
		{"localhost:5000/vault/xpl:v1@" + string(d), "localhost:5000/vault/xpl", nil},
		{"localhost:5000/vault/xpl@" + string(digest.FromString("y")), "", ErrDigestMismatch},
		{"localhost:5000", "", ErrBadPayload},
		{"xpl", "", ErrBadPayload},
		{"host/xpl:bad tag", "", ErrBadPayload},
		{"host/xpl:", "", ErrBadPayload},
	}
	for _, tc := range cases {
		got, err := repositoryOf(tc.ref, d)
		if got != tc.want || !errors.Is(err, tc.err) && !(tc.err == nil && err == nil) {
			t.Errorf("repositoryOf(%q) = %q, %v; want %q, %v", tc.ref, got, err, tc.want, tc.err)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	for v, want := range map[string]time.Duration{
		"": 0, "0": 0, "3": 3 * time.Second, "-1": 0, "99999": maxRetryAfter, "soon": 0,
		time.Now().Add(-time.Hour).UTC().Format(httpTimeFormat): 0,
	} {
		if got := parseRetryAfter(v); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", v, got, want)
		}
	}
	if got := parseRetryAfter(time.Now().Add(10 * time.Second).UTC().Format(httpTimeFormat)); got < 5*time.Second || got > 11*time.Second {
		t.Errorf("date: %s", got)
	}
	if got := parseRetryAfter(time.Now().Add(time.Hour).UTC().Format(httpTimeFormat)); got != maxRetryAfter {
		t.Errorf("far date not capped: %s", got)
	}
}

const httpTimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

func TestNamesKeyNormalisation(t *testing.T) {
	if normHex(" 0xab cd ") != "ABCD" || isHex("") || isHex("XY") || !isHex("0A") {
		t.Error("normHex/isHex")
	}
}

func TestParseSubject(t *testing.T) {
	d := digest.FromString("x")
	for ref, want := range map[string]string{
		"docker.external.thoughtmachine.io/vault/xpl/xpl_payees:5.0.3@" + string(d): "docker.external.thoughtmachine.io/vault/xpl/xpl_payees",
		"localhost:5000/a/b@" + string(d):                                           "localhost:5000/a/b",
		"docker.io/grafana/grafana@" + string(d):                                    "docker.io/grafana/grafana",
	} {
		s, err := ParseSubject(ref)
		if err != nil || s.Repository != want || s.Digest != d {
			t.Errorf("ParseSubject(%q) = %+v, %v", ref, s, err)
		}
	}
	for _, ref := range []string{"", "h/r:tag", "h/r@sha256:abc", "@" + string(d), "r@" + string(d), "h/r:bad tag@" + string(d)} {
		if _, err := ParseSubject(ref); err == nil {
			t.Errorf("ParseSubject(%q) accepted", ref)
		}
	}
}
