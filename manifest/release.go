package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/internal/jsonpos"
)

// Kinds of File.
const (
	KindRelease = "release"
	KindImages  = "images"
)

// File is a file of the release folder that was read.
type File struct {
	// Path is the file's path as reported in problems and origins.
	Path string
	// SHA256 is the lower-case hex SHA-256 of the file's bytes, for the report.
	SHA256 string
	// Kind is KindRelease or KindImages.
	Kind string
}

// ParseRelease reads one release JSON file. name is the file's path: its base name up to
// the first '_' is the version, and it names the file in problems. The release holds every
// image of the file, sorted by dest; no image list is applied. The error, if any, is
// *Errors, and the release then holds the images that could be read.
func ParseRelease(name string, data []byte, optFns ...Option) (Release, error) {
	opts, probs := newOptions(optFns)
	if len(probs) > 0 {
		return Release{}, probs.err()
	}
	rel, probs := parseRelease(name, data, opts)
	return rel, probs.err()
}

func parseRelease(name string, data []byte, opts options) (Release, Errors) {
	p := &jsonFile{file: name, data: data}
	rel := Release{Files: []File{newFile(name, data, KindRelease)}}
	rel.Version, p.probs = versionOf(name)
	body, ok := p.text()
	if !ok {
		return rel, p.probs
	}
	var images json.RawMessage
	var imagesAt int
	p.object(body, p.bom, "", func(key string, val []byte, at int) {
		switch key {
		case "version":
			var v string
			if err := json.Unmarshal(val, &v); err != nil {
				p.at(at, "version", "expected a string, got %s", kindOf(val))
			} else if rel.Version != "" && v != rel.Version {
				p.at(at, "version", "version %q disagrees with the file name, which says %q", v, rel.Version)
			}
		case "metadata":
			p.object(val, at, "metadata", func(key string, val []byte, at int) {
				if key == "images" {
					images, imagesAt = val, at
				}
			})
		}
	})
	if len(p.probs) > 0 && images == nil {
		return rel, p.probs
	}
	if images == nil {
		p.at(0, "metadata.images", "missing; expected an object of images keyed by name, each with source and dest")
		return rel, p.probs
	}
	n := 0
	p.object(images, imagesAt, "metadata.images", func(key string, val []byte, at int) {
		n++
		path := "metadata.images[" + strconv.Quote(key) + "]"
		if img, ok := p.image(val, at, path, opts); ok {
			img.Version = rel.Version
			rel.Images = append(rel.Images, img)
		}
	})
	if n == 0 && kindOf(images) == "an object" {
		p.at(imagesAt, "metadata.images", "empty release: expected at least one image")
	}
	rel.Images = dedupe(rel.Images, &p.probs)
	sortImages(rel.Images)
	return rel, p.probs
}

// image reads one entry of metadata.images.
func (p *jsonFile) image(entry []byte, entryAt int, path string, opts options) (Image, bool) {
	img := Image{Origin: Origin{File: p.file, Line: p.line(entryAt), Path: path}}
	var source, dest, dig string
	var sourceAt, destAt, digAt int
	var hasSource, hasDest, hasDigest bool
	nprobs := len(p.probs)
	str := func(val []byte, at int, field string, dst *string) bool {
		if err := json.Unmarshal(val, dst); err != nil {
			p.at(at, path+"."+field, "expected a string, got %s", kindOf(val))
			return false
		}
		return true
	}
	if !p.object(entry, entryAt, path, func(key string, val []byte, at int) {
		switch key {
		case "source":
			hasSource, sourceAt = str(val, at, key, &source), at
		case "dest":
			hasDest, destAt = str(val, at, key, &dest), at
		case "digest":
			hasDigest, digAt = str(val, at, key, &dig), at
		case "layers":
			img.Layers = p.layers(val, at, path+".layers")
		default:
			if img.Extra == nil {
				img.Extra = map[string]json.RawMessage{}
			}
			img.Extra[key] = json.RawMessage(val)
		}
	}) {
		return img, false
	}
	if len(p.probs) > nprobs {
		return img, false
	}
	const wantSource = "expected a reference pinned by digest, like registry/repository[:tag]@sha256:<64 hex>"
	switch {
	case !hasSource:
		p.at(entryAt, path, "missing source; %s", wantSource)
	default:
		src, err := parseSource(source)
		if err == nil {
			_, err = parseRegistryHost(src.Registry)
		}
		switch {
		case err != nil:
			p.at(sourceAt, path+".source", "%q: %v; %s", source, err, wantSource)
		case src.Digest == "":
			p.at(sourceAt, path+".source", "%q has no digest; a release pins every image: %s", source, wantSource)
		default:
			img.Source = src
			img.Vendor = SameRegistry(src.Registry, opts.VendorRegistry)
		}
	}
	if hasDigest && img.Source.Digest != "" {
		if d, err := digest.Parse(dig); err != nil {
			p.at(digAt, path+".digest", "%q: %v; expected sha256:<64 hex>", dig, err)
		} else if d != img.Source.Digest {
			p.at(digAt, path+".digest", "%s disagrees with the digest of source, %s", d, img.Source.Digest)
		}
	}
	if !hasDest {
		p.at(entryAt, path, "missing dest; expected repository:tag relative to the target prefix")
	} else if d, msg := parseDest(dest, opts); msg != "" {
		p.at(destAt, path+".dest", "%s", msg)
	} else {
		img.Dest = d
	}
	return img, len(p.probs) == nprobs
}

// layers reads the layers an image entry declares.
func (p *jsonFile) layers(val []byte, at int, path string) []Layer {
	var layers []Layer
	if err := json.Unmarshal(val, &layers); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			p.at(at, path, "%s is %s; expected a list of {\"digest\": \"sha256:...\", \"size\": N, \"mediaType\": \"...\"}", fieldOf(te), te.Value)
		} else {
			p.at(at, path, "%v; expected a list of {\"digest\", \"size\", \"mediaType\"}", err)
		}
		return nil
	}
	for i, l := range layers {
		if err := l.Digest.Validate(); err != nil {
			p.at(at, fmt.Sprintf("%s[%d].digest", path, i), "%q: %v; expected sha256:<64 hex>", l.Digest, err)
		}
	}
	return layers
}

func fieldOf(te *json.UnmarshalTypeError) string {
	if te.Field == "" {
		return "the value"
	}
	return te.Field
}

// jsonFile reads a JSON file value by value, remembering where each value starts so that
// problems can name a line as well as a path, and finding duplicate keys, which
// encoding/json would silently resolve to the last.
type jsonFile struct {
	file  string
	data  []byte // the whole file
	bom   int    // length of a leading byte order mark
	probs Errors
}

// text checks that the file is UTF-8 JSON without NUL, in raw bytes or escaped, and
// without escapes of lone UTF-16 surrogates (which encoding/json would silently read as
// U+FFFD), and returns it without its byte order mark. A UTF-8 byte order mark at the
// start is accepted; a UTF-16 or UTF-32 one is a problem.
func (p *jsonFile) text() ([]byte, bool) {
	if msg := utf16BOM(p.data); msg != "" {
		p.probs = append(p.probs, Problem{File: p.file, Line: 1, Column: 1, Msg: msg + "; expected a UTF-8 JSON document"})
		return nil, false
	}
	if at := bytes.IndexByte(p.data, 0); at >= 0 {
		line, col := jsonpos.LineCol(p.data, at)
		p.probs = append(p.probs, Problem{File: p.file, Line: line, Column: col, Msg: "a NUL byte; expected a UTF-8 JSON document"})
		return nil, false
	}
	if !utf8.Valid(p.data) {
		at := invalidUTF8(p.data)
		line, col := jsonpos.LineCol(p.data, at)
		p.probs = append(p.probs, Problem{File: p.file, Line: line, Column: col,
			Msg: fmt.Sprintf("not UTF-8 text (byte 0x%02x); expected a UTF-8 JSON document", p.data[at])})
		return nil, false
	}
	body := p.data
	if bytes.HasPrefix(body, bom) {
		p.bom = len(bom)
		body = body[len(bom):]
	}
	var raw json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		at := len(body)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			at = int(se.Offset) - 1
		}
		at = max(0, min(at, len(body)-1))
		line, col := jsonpos.LineCol(p.data, p.bom+at)
		p.probs = append(p.probs, Problem{File: p.file, Line: line, Column: col,
			Msg: fmt.Sprintf("invalid JSON: %v; expected a release document {\"metadata\": {\"images\": {...}}}", err)})
		return nil, false
	}
	if at, msg := badEscape(body); msg != "" {
		line, col := jsonpos.LineCol(p.data, p.bom+at)
		p.probs = append(p.probs, Problem{File: p.file, Line: line, Column: col, Msg: msg})
		return nil, false
	}
	return body, true
}

// badEscape finds, in valid JSON, the first \u escape that is not a character tmsync
// accepts: \u0000 (NUL), or half of a UTF-16 surrogate pair without its other half.
// It returns the escape's offset and what is wrong, or "".
func badEscape(b []byte) (int, string) {
	inString := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			inString = !inString
		case c == '\\' && inString:
			if b[i+1] != 'u' {
				i++
				continue
			}
			r := hex4(b[i+2 : i+6])
			switch {
			case r == 0:
				return i, "the escape \\u0000 (NUL) in a string; expected text"
			case r >= 0xd800 && r < 0xdc00:
				if i+12 <= len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
					if lo := hex4(b[i+8 : i+12]); lo >= 0xdc00 && lo < 0xe000 {
						i += 11
						continue
					}
				}
				return i, fmt.Sprintf("the escape \\u%s is half of a UTF-16 surrogate pair without its low half: not a character; expected text", b[i+2:i+6])
			case r >= 0xdc00 && r < 0xe000:
				return i, fmt.Sprintf("the escape \\u%s is the low half of a UTF-16 surrogate pair without its high half: not a character; expected text", b[i+2:i+6])
			}
			i += 5
		}
	}
	return 0, ""
}

// hex4 reads 4 hex digits, which valid JSON guarantees after \u.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case isDigit(c):
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// at records a problem at the value starting at byte at of the file.
func (p *jsonFile) at(at int, path, format string, args ...any) {
	line, col := jsonpos.LineCol(p.data, at)
	p.probs = append(p.probs, Problem{File: p.file, Line: line, Column: col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (p *jsonFile) line(at int) int {
	line, _ := jsonpos.LineCol(p.data, at)
	return line
}

// object calls fn for each member of the JSON object val, which starts at byte at of the
// file, with the member's value and where that value starts. It reports a value that is
// not an object, and duplicate keys, and returns false if it did either.
func (p *jsonFile) object(val []byte, at int, path string, fn func(key string, val []byte, at int)) bool {
	name := path
	if name == "" {
		name = "the document"
	}
	if kindOf(val) != "an object" {
		p.at(at+skipSpace(val, 0), path, "%s is %s; expected an object", name, kindOf(val))
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(val))
	if _, err := dec.Token(); err != nil { // '{'
		p.at(at, path, "%v", err)
		return false
	}
	seen := map[string]int{}
	ok := true
	for dec.More() {
		keyAt := skipSpaceComma(val, int(dec.InputOffset()))
		tok, err := dec.Token()
		if err != nil {
			p.at(at+keyAt, path, "%v", err)
			return false
		}
		key, _ := tok.(string)
		valAt := skipSpaceColon(val, int(dec.InputOffset()))
		var member json.RawMessage
		if err := dec.Decode(&member); err != nil {
			p.at(at+valAt, path, "%v", err)
			return false
		}
		if first, dup := seen[key]; dup {
			p.at(at+keyAt, memberPath(path, key), "duplicate key %q (first at line %d); expected each key once", key, p.line(first))
			ok = false
			continue
		}
		seen[key] = at + keyAt
		fn(key, member, at+valAt)
	}
	return ok
}

func memberPath(path, key string) string {
	if path == "metadata.images" {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

var bom = []byte("\xef\xbb\xbf")

func kindOf(val []byte) string {
	i := skipSpace(val, 0)
	if i >= len(val) {
		return "nothing"
	}
	switch val[i] {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

func skipSpaceComma(b []byte, i int) int {
	for i < len(b) && (isSpace(b[i]) || b[i] == ',') {
		i++
	}
	return i
}

func skipSpaceColon(b []byte, i int) int {
	for i < len(b) && (isSpace(b[i]) || b[i] == ':') {
		i++
	}
	return i
}

// invalidUTF8 returns the offset of the first byte that is not UTF-8.
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return 0
}
