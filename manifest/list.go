package manifest

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
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
func (e ListEntry) image(version string, opts Options) Image {
	return Image{
		Source:  e.Source,
		Dest:    e.Dest,
		Vendor:  e.Source.Registry == opts.VendorRegistry,
		Version: version,
		Origin:  e.Origin,
	}
}

// ParseImageList reads one image list (v4 *images.txt): one record a line, fields
// separated by white space; blank lines, lines starting with '#' and anything from a
// field starting with '#' are skipped. name is the file's path, used in problems. The
// error, if any, is *Errors, and the entries are then those that could be read.
func ParseImageList(name string, data []byte, opts Options) ([]ListEntry, error) {
	opts = opts.withDefaults()
	if probs := opts.validate(); len(probs) > 0 {
		return nil, probs.err()
	}
	entries, probs := parseImageList(name, data, opts)
	return entries, probs.err()
}

func parseImageList(name string, data []byte, opts Options) ([]ListEntry, Errors) {
	var probs Errors
	if !utf8.Valid(data) {
		at := invalidUTF8(data)
		line, col := lineCol(data, at)
		return nil, Errors{{File: name, Line: line, Column: col,
			Msg: fmt.Sprintf("not UTF-8 text (byte 0x%02x); expected a text file of image references", data[at])}}
	}
	data = bytes.TrimPrefix(data, bom)
	var entries []ListEntry
	for i, line := range strings.Split(string(data), "\n") {
		lineNo := i + 1
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
			e.Source, e.External = src, true
		}
		entries = append(entries, e)
	}
	return entries, probs
}

// splitFields splits a line into white-space separated fields up to a field starting
// with '#', and returns each field's 1-based character column.
func splitFields(line string) (fields []string, cols []int) {
	col, start, startCol := 0, -1, 0
	for i, r := range line + " " {
		col++
		if unicode.IsSpace(r) {
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
