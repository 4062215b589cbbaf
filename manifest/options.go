package manifest

import (
	"fmt"
	"regexp"
	"strings"

	"go.podman.io/image/v5/docker/reference"
)

// Option says how a release folder (or file) is read: Load, LoadFS, ParseRelease,
// ParseImageList and IsBYOList take them. Without any, the vendor's folders are read as
// the old pipeline did. Options are applied in order; an option given "" keeps the
// default. Problems with the options are reported with the folder's, prefixed
// "options: ".
type Option func(*options) error

// options are the settings the Options make.
type options struct {
	ReleasePostfix string
	ImagesPostfix  string
	VendorRegistry string
	Prefix         string
}

// WithReleasePostfix sets what ends the name of a release JSON file. Default
// DefaultReleasePostfix.
func WithReleasePostfix(p string) Option {
	return func(o *options) error { o.ReleasePostfix = p; return nil }
}

// WithImagesPostfix sets what ends the name of an image list. Default
// DefaultImagesPostfix.
func WithImagesPostfix(p string) Option {
	return func(o *options) error { o.ImagesPostfix = p; return nil }
}

// WithVendorRegistry sets the vendor's registry host. An image whose source lies there is
// Image.Vendor (compared as SameRegistry: case, a trailing dot, an explicit :443 and
// loopback spellings do not make another registry); an image list entry without a second
// field is pulled from there, spelled in lower case without trailing dot or :443.
// Default DefaultVendorRegistry.
func WithVendorRegistry(host string) Option {
	return func(o *options) error { o.VendorRegistry = host; return nil }
}

// WithPrefix sets the target repository prefix; leading and trailing '/' are dropped, and
// "/" means no prefix. Every dest must form a valid ECR repository name below it.
// Default DefaultPrefix.
func WithPrefix(p string) Option {
	return func(o *options) error { o.Prefix = p; return nil }
}

// newOptions applies opts, then the defaults, and checks the result.
func newOptions(opts []Option) (options, Errors) {
	var o options
	var probs Errors
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			probs = append(probs, Problem{Msg: "options: " + err.Error(), Err: err})
		}
	}
	o = o.withDefaults()
	return o, append(probs, o.validate()...)
}

// Defaults of the options.
const (
	DefaultReleasePostfix = "release.json"
	DefaultImagesPostfix  = "images.txt"
	DefaultVendorRegistry = "docker.external.thoughtmachine.io"
	DefaultPrefix         = "/3rdparty/tm/"
)

// withDefaults fills the zero fields and trims the prefix.
func (o options) withDefaults() options {
	if o.ReleasePostfix == "" {
		o.ReleasePostfix = DefaultReleasePostfix
	}
	if o.ImagesPostfix == "" {
		o.ImagesPostfix = DefaultImagesPostfix
	}
	if o.VendorRegistry == "" {
		o.VendorRegistry = DefaultVendorRegistry
	}
	// Pull from the host as the operator named it, in canonical case, without a trailing
	// dot or the default port; validate reports a host that does not parse.
	if h, err := parseRegistryHost(o.VendorRegistry); err == nil {
		o.VendorRegistry = h.tidy()
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	o.Prefix = strings.Trim(o.Prefix, "/")
	return o
}

// validate reports options no input could be read with.
func (o options) validate() Errors {
	var probs Errors
	bad := func(format string, args ...any) {
		probs = append(probs, Problem{Msg: "options: " + fmt.Sprintf(format, args...)})
	}
	if o.ReleasePostfix == o.ImagesPostfix {
		bad("release postfix and images postfix are both %q", o.ReleasePostfix)
	}
	// The vendor registry must be a registry host, and one that the reference parser
	// reads as the domain of a reference (which excludes IPv6 addresses).
	if _, err := parseRegistryHost(o.VendorRegistry); err != nil {
		bad("vendor registry: %v", err)
	} else if named, err := reference.ParseNormalizedNamed(o.VendorRegistry + "/x"); err != nil || reference.Domain(named) != o.VendorRegistry {
		bad("vendor registry %q is not a registry host that references can name (host[:port])", o.VendorRegistry)
	}
	if o.Prefix != "" && !ecrName.MatchString(o.Prefix) {
		bad("prefix %q cannot begin an ECR repository name: expected lower-case path components separated by '/'", o.Prefix)
	}
	return probs
}

// joinPrefix joins a trimmed prefix and d's repository.
func joinPrefix(prefix string, d Dest) string {
	if prefix == "" {
		return d.Repository
	}
	return prefix + "/" + d.Repository
}

// ecrName is ECR's rule for repository names (formats.md §4); it is not a reference
// grammar, which is left to the reference parser.
var ecrName = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// checkECRName says why name is not a valid ECR repository name, or "".
func checkECRName(name string) string {
	switch {
	case len(name) < 2 || len(name) > 256:
		return fmt.Sprintf("ECR repository name %q has %d characters, expected 2 to 256", name, len(name))
	case !ecrName.MatchString(name):
		return fmt.Sprintf("%q is not a valid ECR repository name: expected lower-case letters and digits, components separated by '/' and single '.', '_' or '-'", name)
	}
	return ""
}
