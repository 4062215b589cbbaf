// Package manifest reads a Thought Machine release folder into the list of images to
// sync, and rejects bad input before anything touches a registry.
//
// It owns the folder's formats (formats.md §1): the v5 release JSON
// (<version>_release.json, metadata.images.*.source and .dest), the v4 image lists
// (<version>_..._images.txt, with the byo second field), how they pair by version, which
// images a release's lists keep and which they ignore, the parsing of source references
// (with the containers/image reference parser) and of dests, and the check that every dest
// forms a valid ECR repository name below the target prefix. Every problem is located (file
// and line and column, or JSON path) and all of a folder's problems are reported together
// as *Errors.
//
// It does not own anything beyond reading files: no registry or network access (digests
// of unpinned v4 entries are resolved by the engine at sync time), no attestations, no
// ECR calls, no copying, no logging. It depends on the reference parser and go-digest
// only.
//
// Decisions where the vendor's formats are silent:
//   - Source names are normalized as docker and containers/image pull them: "grafana/grafana"
//     is docker.io/grafana/grafana, "busybox" is docker.io/library/busybox.
//   - A dest must carry a tag and no digest; a byo external location must carry a tag or a
//     digest (there is no implied "latest").
//   - In a v4 release, a dest listed without a second field (tm_registry_images.txt) and
//     with one (byo_images.txt) is one image, from the second field's location.
//   - With a release JSON, a list's second field must agree with the JSON's source (same
//     repository; same digest and tag where the list gives them); the JSON is the authority.
//   - A "version" field in a release JSON must equal the version of its file name, and a
//     version has at most one release JSON.
//   - A field starting with '#' begins a comment; hidden files and subfolders are not read.
//   - Vendor-ness is decided on canonical hosts (CanonicalRegistry, SameRegistry): case, a
//     trailing dot, an explicit :443 and the loopback spellings (localhost, 127.0.0.1,
//     ::1, 0.0.0.0, ::) do not make another registry; another port does. A source whose
//     registry is not a valid host (numeric hosts other than dotted decimal IPv4 such as
//     "127.1", an empty host) is refused.
//   - Only a byo list (a list whose name has the word "byo": IsBYOList) may give a second
//     field; in any other list a second field is a problem, not a pull location.
//   - Lists are UTF-8 text with LF or CRLF line endings; a leading UTF-8 byte order mark
//     is skipped. A bare CR, a NUL, other control characters but tab, Unicode line and
//     paragraph separators, format characters (bidi overrides, zero-width spaces, a byte
//     order mark after the start) and non-ASCII spaces are problems of their line, in
//     comments too. Fields are separated by spaces and tabs.
//   - A release JSON must be UTF-8 (a leading UTF-8 byte order mark is skipped) without
//     NUL, raw or escaped (\u0000), and without escapes of lone UTF-16 surrogates, which
//     encoding/json would silently turn into U+FFFD.
package manifest
