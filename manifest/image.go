package manifest

import (
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
)

// Image is one image of a release: where it comes from, where it goes, and why tmsync
// believes so.
type Image struct {
	// Source is where the image is pulled from.
	Source Source
	// Dest is where the image goes, relative to the target prefix.
	Dest Dest
	// Vendor is true when Source lies in the vendor's registry: SameRegistry(
	// Source.Registry, WithVendorRegistry), whatever file or field named the source (a
	// release JSON's source, a byo list's second field, a vendor list's record). It is
	// false only for the restricted / bring-your-own images that live on another host
	// (or on the vendor's host at another port than the vendor registry's).
	Vendor bool
	// Version is the release version the image was listed in (the file name up to '_').
	Version string
	// Origin says which file, and where in it, the image was read from.
	Origin Origin
	// Layers are the layers the release declares for the image, if any.
	Layers []Layer
	// Extra holds the fields of the release JSON entry that tmsync does not know, kept
	// as they were.
	Extra map[string]json.RawMessage
}

// Pinned reports whether the release names the image's digest. An unpinned image (a v4
// list entry) is resolved by tag at sync time.
func (i Image) Pinned() bool { return i.Source.Digest != "" }

// Source is a parsed source reference.
type Source struct {
	// Registry is the registry host, with its port if any: "docker.external.thoughtmachine.io".
	Registry string
	// Repository is the path within the registry: "vault/xpl/xpl_payees".
	Repository string
	// Tag is the tag, or "".
	Tag string
	// Digest is the manifest digest the release pins, or "" when unpinned.
	Digest digest.Digest
}

// Name returns "registry/repository".
func (s Source) Name() string { return s.Registry + "/" + s.Repository }

// String returns the full reference: "registry/repository[:tag][@digest]".
func (s Source) String() string {
	r := s.Name()
	if s.Tag != "" {
		r += ":" + s.Tag
	}
	if s.Digest != "" {
		r += "@" + s.Digest.String()
	}
	return r
}

// Pullable returns the reference to pull: by digest when pinned, else by tag.
func (s Source) Pullable() string {
	if s.Digest != "" {
		return s.Name() + "@" + s.Digest.String()
	}
	return s.Name() + ":" + s.Tag
}

// Dest is a destination relative to the target prefix.
type Dest struct {
	// Repository is the repository below the prefix: "vault/xpl/xpl_payees".
	Repository string
	// Tag is the tag to push.
	Tag string
}

// String returns "repository:tag", the form used in the release file and in logs.
func (d Dest) String() string { return d.Repository + ":" + d.Tag }

// Origin locates an image in the release folder.
type Origin struct {
	// File is the path of the file the image was read from.
	File string
	// Line is the 1-based line, for image lists (0 when not known).
	Line int
	// Path is the JSON path, for release files: `metadata.images["vault/xpl/xpl_payees"]`.
	Path string
}

func (o Origin) String() string {
	switch {
	case o.Path != "":
		return fmt.Sprintf("%s: %s", o.File, o.Path)
	case o.Line > 0:
		return fmt.Sprintf("%s:%d", o.File, o.Line)
	default:
		return o.File
	}
}

// Layer is a layer the release declares.
type Layer struct {
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size,omitempty"`
	MediaType string        `json:"mediaType,omitempty"`
}
