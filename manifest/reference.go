package manifest

import (
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"

	"go.podman.io/image/v5/docker/reference"
)

// parseSource parses a pullable reference with the reference parser. Names are
// normalized the way docker and containers/image read them: a name whose first component
// is not a host ("grafana/grafana") is on docker.io, and a single-component docker.io
// name is under "library/". That is how the reference will be pulled, so it is how it is
// reported and compared.
func parseSource(s string) (Source, error) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		// The reference grammar rejects a short digest as a bad format; the digest
		// parser says what is wrong with it.
		if i := strings.LastIndexByte(s, '@'); i >= 0 {
			if _, derr := digest.Parse(s[i+1:]); derr != nil {
				return Source{}, fmt.Errorf("digest %q: %w", s[i+1:], derr)
			}
		}
		return Source{}, err
	}
	src := Source{Registry: reference.Domain(named), Repository: reference.Path(named)}
	if t, ok := named.(reference.Tagged); ok {
		src.Tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		src.Digest = d.Digest()
	}
	return src, nil
}

// parseDest splits "repository:tag" at the last ':' after the last '/' (so a host:port is
// never a tag), checks it with the reference parser, and checks that the prefix and the
// repository form a valid ECR name. The message says what was expected.
// opts must have its defaults applied.
func parseDest(s string, opts options) (Dest, string) {
	const want = "expected repository:tag relative to the target prefix, like vault/xpl/xpl_payees:5.0.3"
	if s == "" {
		return Dest{}, "dest is empty; " + want
	}
	if strings.Contains(s, "@") {
		return Dest{}, fmt.Sprintf("dest %q has a digest; %s", s, want)
	}
	colon := strings.LastIndexByte(s, ':')
	if colon <= strings.LastIndexByte(s, '/') {
		return Dest{}, fmt.Sprintf("dest %q has no tag; %s", s, want)
	}
	d := Dest{Repository: s[:colon], Tag: s[colon+1:]}
	ref, err := reference.Parse(s)
	if err != nil {
		return Dest{}, fmt.Sprintf("dest %q: %v; %s", s, err, want)
	}
	tagged, ok := ref.(reference.NamedTagged)
	if !ok || tagged.Name() != d.Repository || tagged.Tag() != d.Tag {
		return Dest{}, fmt.Sprintf("dest %q does not read as repository %q and tag %q; %s", s, d.Repository, d.Tag, want)
	}
	if msg := checkECRName(joinPrefix(opts.Prefix, d)); msg != "" {
		return Dest{}, fmt.Sprintf("dest %q: %s", s, msg)
	}
	return d, ""
}
