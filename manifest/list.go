package manifest

import (
	"bytes"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tmsync/tmsync/internal/jsonpos"
)

// ListEntry is one record of an image list: the reference the vendor's deployment
// packages expect (the dest), and where the image is pulled from.
type ListEntry struct {
	// Dest is the first field.
	Dest Dest
	// Source is the second field when there is one (External), else the first field in
	// the vendor's registry. It is pinned only when the second field names a digest.
	Source Source
	// External is true when a second field gave the source (a byo_images.txt record).
	External bool
	// Origin is the file and line of the record.
	Origin Origin
}

// image returns the entry as an image of version.
func (e ListEntry) image(version string, opts options) Image {
	return Image{
		Source:  e.Source,
		Dest:    e.Dest,
		Vendor:  SameRegistry(e.Source.Registry, opts.VendorRegistry),
		Version: version,
		Origin:  e.Origin,
	}
}

// ParseImageList reads one image list (v4 *images.txt): one record a line, fields
// separated by spaces or tabs; blank lines, lines starting with '#' and anything from a
// field starting with '#' are skipped. name is the file's path, used in problems; it
// also says whether the list is a byo list (IsBYOList), the only kind whose records may
// carry a second field. Lines end with LF or CRLF; a bare CR, a NUL, any other control
// character but tab, a Unicode line separator or format character (such as a bidi
// override), a non-ASCII space and bytes that are not UTF-8 are problems of their line.
// A UTF-8 byte order mark at the start is skipped. The error, if any, is *Errors, and the
// entries are then those that could be read.
func ParseImageList(name string, data []byte, optFns ...Option) ([]ListEntry, error) {
	opts, probs := newOptions(optFns)
	if len(probs) > 0 {
		return nil, probs.err()
	}
	entries, probs := parseImageList(name, data, opts)
	return entries, probs.err()
}

func parseImageList(name string, data []byte, opts options) ([]ListEntry, Errors) {
	var probs Errors
	if msg := utf16BOM(data); msg != "" {
		return nil, Errors{{File: name, Line: 1, Column: 1, Msg: msg + "; expected a UTF-8 text file of image references"}}
	}
	if !utf8.Valid(data) {
		at := invalidUTF8(data)
		line, col := jsonpos.LineCol(data, at)
		return nil, Errors{{File: name, Line: line, Column: col,
			Msg: fmt.Sprintf("not UTF-8 text (byte 0x%02x); expected a text file of image references", data[at])}}
	}
	data = bytes.TrimPrefix(data, bom)
	byo := isBYOList(name, opts)
	var entries []ListEntry
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		lineNo := i + 1
		if i < len(lines)-1 { // a CR ends a line only before LF
			line = strings.TrimSuffix(line, "\r")
		}
		if col, msg := badRune(line); msg != "" {
			probs = append(probs, Problem{File: name, Line: lineNo, Column: col, Msg: msg})
			continue
		}
		fields, cols := splitFields(line)
		if len(fields) == 0 {
			continue
		}
		bad := func(field int, format string, args ...any) {
			probs = append(probs, Problem{File: name, Line: lineNo, Column: cols[field], Msg: fmt.Sprintf(format, args...)})
		}
		if len(fields) > 2 {
			bad(2, "%d fields; expected the image reference, and in a byo list the external location, separated by white space", len(fields))
			continue
		}
		if len(fields) == 2 && !byo {
			bad(1, "a second field (%q) in a list of vendor images: only a byo list (<version>_byo_%s) names where an image is pulled from; expected one image reference a line", fields[1], opts.ImagesPostfix)
			continue
		}
		d, msg := parseDest(fields[0], opts)
		if msg != "" {
			bad(0, "%s", msg)
			continue
		}
		e := ListEntry{Dest: d, Origin: Origin{File: name, Line: lineNo}}
		if len(fields) == 1 {
			src, err := parseSource(opts.VendorRegistry + "/" + fields[0])
			if err == nil && src.Registry != opts.VendorRegistry {
				err = fmt.Errorf("it reads as registry %s", src.Registry)
			}
			if err != nil {
				bad(0, "%q does not form a reference in the vendor registry %s: %v", fields[0], opts.VendorRegistry, err)
				continue
			}
			e.Source = src
		} else {
			const want = "expected the external location, like docker.io/grafana/grafana@sha256:<64 hex> or docker.io/grafana/grafana:11.1.0"
			src, err := parseSource(fields[1])
			switch {
			case err != nil:
				bad(1, "external location %q: %v; %s", fields[1], err, want)
				continue
			case src.Tag == "" && src.Digest == "":
				bad(1, "external location %q has neither tag nor digest; %s", fields[1], want)
				continue
			}
			if _, err := parseRegistryHost(src.Registry); err != nil {
				bad(1, "external location %q: %v; %s", fields[1], err, want)
				continue
			}
			e.Source, e.External = src, true
		}
		entries = append(entries, e)
	}
	return entries, probs
}

// IsBYOList reports whether the image list named name is a byo ("bring your own") list,
// whose records may carry a second field, the location the image is pulled from: its
// base name, between the version's '_' and the images postfix, has the word "byo" in any
// case, words being separated by '_', '-' or '.' ("3.3.12_byo_images.txt",
// "4.0_extra-BYO_images.txt"). Every other list (such as "3.3.12_tm_registry_images.txt")
// lists vendor images only.
func IsBYOList(name string, optFns ...Option) bool {
	opts, _ := newOptions(optFns)
	return isBYOList(name, opts)
}

func isBYOList(name string, opts options) bool {
	base := path.Base(filepath.ToSlash(name))
	_, rest, found := strings.Cut(base, "_")
	if !found || !strings.HasSuffix(rest, opts.ImagesPostfix) {
		return false
	}
	rest = strings.TrimSuffix(rest, opts.ImagesPostfix)
	for _, w := range strings.FieldsFunc(rest, func(r rune) bool { return r == '_' || r == '-' || r == '.' }) {
		if strings.EqualFold(w, "byo") {
			return true
		}
	}
	return false
}

// badRune returns the 1-based column and a message for the first character of a line
// (without its line ending) that has no place in a list, or "". Such characters are
// refused rather than read as white space or as part of a field: a bare CR (a file with
// CR-only line endings would otherwise be one line whose fields are several images), a
// NUL, control characters, Unicode line and paragraph separators (which some readers
// show as a line break), format characters such as bidi overrides and zero-width spaces
// (which make a line show other than it reads), and non-ASCII spaces. They are refused in
// comments too, where they could hide a record from a reviewer.
func badRune(line string) (int, string) {
	col := 0
	for _, r := range line {
		col++
		var what string
		switch {
		case r == '\t' || (r >= ' ' && r < 0x7f):
			continue
		case r == '\r':
			what = "a carriage return (CR) not followed by a line feed; expected LF or CRLF line endings"
		case r == 0:
			what = "a NUL byte; expected text"
		case r < ' ' || (r >= 0x7f && r < 0xa0):
			what = fmt.Sprintf("the control character %U; expected printable text, fields separated by spaces or tabs", r)
		case unicode.In(r, unicode.Zl, unicode.Zp):
			what = fmt.Sprintf("the line or paragraph separator %U; expected LF or CRLF line endings", r)
		case unicode.Is(unicode.Cf, r):
			what = fmt.Sprintf("the invisible format character %U (such as a bidi override or a byte order mark); expected printable text", r)
		case unicode.IsSpace(r):
			what = fmt.Sprintf("the non-ASCII space %U; expected fields separated by spaces or tabs", r)
		default:
			continue
		}
		return col, "the line has " + what
	}
	return 0, ""
}

// utf16BOM describes a UTF-16 or UTF-32 byte order mark at the start of data, or "".
func utf16BOM(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte{0xff, 0xfe, 0, 0}), bytes.HasPrefix(data, []byte{0, 0, 0xfe, 0xff}):
		return "a UTF-32 byte order mark: the file is UTF-32"
	case bytes.HasPrefix(data, []byte{0xff, 0xfe}), bytes.HasPrefix(data, []byte{0xfe, 0xff}):
		return "a UTF-16 byte order mark: the file is UTF-16"
	}
	return ""
}

// splitFields splits a line into fields separated by spaces and tabs, up to a field
// starting with '#', and returns each field's 1-based character column.
func splitFields(line string) (fields []string, cols []int) {
	col, start, startCol := 0, -1, 0
	for i, r := range line + " " {
		col++
		if r == ' ' || r == '\t' {
			if start >= 0 {
				fields, cols = append(fields, line[start:i]), append(cols, startCol)
				start = -1
			}
			continue
		}
		if start < 0 {
			if r == '#' {
				break
			}
			start, startCol = i, col
		}
	}
	return fields, cols
}
