package manifest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
)

const (
	dg1 = "sha256:0679e877ba204cede473782d5aba962831a3449092da120aba7d24082efe3fde"
	dg2 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	tmr = "docker.external.thoughtmachine.io"
)

// relJSON is a release JSON with one image entry a line, the first on line 2.
func relJSON(entries ...string) string {
	return "{\"metadata\": {\"images\": {\n" + strings.Join(entries, ",\n") + "\n}}}\n"
}

// ent is one image entry; fields are "key": value pairs.
func ent(key string, fields ...string) string {
	return fmt.Sprintf("%q: {%s}", key, strings.Join(fields, ", "))
}

func src(s string) string  { return fmt.Sprintf(`"source": %q`, s) }
func dst(s string) string  { return fmt.Sprintf(`"dest": %q`, s) }
func good(n string) string { return ent(n, src(tmr+"/vault/"+n+"@"+dg1), dst("vault/"+n+":5.0.3")) }

// want is a problem a malformed input must give: the same file, line, column (when not
// 0) and path, and a message containing msg.
type want struct {
	file       string
	line, col  int
	path       string
	msg        string
	noLocation bool // the problem is about the file as a whole
}

func (w want) matches(p Problem) bool {
	return p.File == w.file && p.Line == w.line && (w.col == 0 || p.Column == w.col) &&
		p.Path == w.path && strings.Contains(p.Msg, w.msg)
}

func TestMalformed(t *testing.T) {
	long := strings.Repeat("a", 240)
	tests := []struct {
		name  string
		files map[string]string
		want  []want
	}{
		{"json missing colon", map[string]string{"5.0.3_release.json": "{\n  \"metadata\" {}\n}"},
			[]want{{file: "5.0.3_release.json", line: 2, col: 14, msg: "invalid JSON"}}},
		{"json truncated", map[string]string{"5.0.3_release.json": "{\"metadata\": {\n\"images\": {"},
			[]want{{file: "5.0.3_release.json", line: 2, col: 11, msg: "unexpected end of JSON input"}}},
		{"json trailing comma", map[string]string{"5.0.3_release.json": relJSON(good("a") + ",")},
			[]want{{file: "5.0.3_release.json", line: 3, col: 1, msg: "invalid JSON"}}},
		{"json trailing data", map[string]string{"5.0.3_release.json": relJSON(good("a")) + "x"},
			[]want{{file: "5.0.3_release.json", line: 4, col: 1, msg: "after top-level value"}}},
		{"json after BOM and multibyte", map[string]string{"5.0.3_release.json": "\ufeff{\"é\": tru}"},
			[]want{{file: "5.0.3_release.json", line: 1, col: 10, msg: "in literal true"}}},
		{"json not UTF-8", map[string]string{"5.0.3_release.json": "{\n\"a\": \"\xff\"}"},
			[]want{{file: "5.0.3_release.json", line: 2, col: 7, msg: "not UTF-8"}}},
		{"list not UTF-8", map[string]string{"3.3.11_images.txt": "vault/a:1\nvault/b:1\xfe\n"},
			[]want{{file: "3.3.11_images.txt", line: 2, col: 10, msg: "not UTF-8"}}},
		{"document is a list", map[string]string{"5.0.3_release.json": "[]"},
			[]want{{file: "5.0.3_release.json", line: 1, col: 1, msg: "the document is a list; expected an object"}}},
		{"metadata missing", map[string]string{"5.0.3_release.json": `{"version": "5.0.3"}`},
			[]want{{file: "5.0.3_release.json", line: 1, path: "metadata.images", msg: "missing"}}},
		{"images is a list", map[string]string{"5.0.3_release.json": "{\"metadata\": {\n\"images\": []}}"},
			[]want{{file: "5.0.3_release.json", line: 2, col: 11, path: "metadata.images", msg: "is a list; expected an object"}}},
		{"empty release", map[string]string{"5.0.3_release.json": "{\"metadata\": {\"images\": {}}}"},
			[]want{{file: "5.0.3_release.json", line: 1, path: "metadata.images", msg: "empty release"}}},
		{"entry not an object", map[string]string{"5.0.3_release.json": relJSON(good("a"), `"b": "vault/b:1"`)},
			[]want{{file: "5.0.3_release.json", line: 3, path: `metadata.images["b"]`, msg: "is a string; expected an object"}}},
		{"missing source", map[string]string{"5.0.3_release.json": relJSON(good("a"), ent("b", dst("vault/b:1")))},
			[]want{{file: "5.0.3_release.json", line: 3, path: `metadata.images["b"]`, msg: "missing source"}}},
		{"missing dest", map[string]string{"5.0.3_release.json": relJSON(ent("b", src(tmr+"/vault/b@"+dg1)), good("a"))},
			[]want{{file: "5.0.3_release.json", line: 2, path: `metadata.images["b"]`, msg: "missing dest"}}},
		{"source not a string", map[string]string{"5.0.3_release.json": relJSON(good("a"), ent("b", `"source": 42`, dst("vault/b:1")))},
			[]want{{file: "5.0.3_release.json", line: 3, path: `metadata.images["b"].source`, msg: "expected a string, got a number"}}},
		{"source without digest", map[string]string{"5.0.3_release.json": relJSON(good("a"), ent("b", src(tmr+"/vault/b:5.0.3"), dst("vault/b:5.0.3")))},
			[]want{{file: "5.0.3_release.json", line: 3, path: `metadata.images["b"].source`, msg: "has no digest"}}},
		{"source digest too short", map[string]string{"5.0.3_release.json": relJSON(ent("b", src(tmr+"/vault/b@sha256:abc"), dst("vault/b:1")))},
			[]want{{file: "5.0.3_release.json", line: 2, path: `metadata.images["b"].source`, msg: "invalid checksum digest length"}}},
		{"source digest unknown algorithm", map[string]string{"5.0.3_release.json": relJSON(ent("b", src(tmr+"/vault/b@md5:"+strings.Repeat("a", 32)), dst("vault/b:1")))},
			[]want{{file: "5.0.3_release.json", line: 2, path: `metadata.images["b"].source`, msg: "unsupported digest algorithm"}}},
		{"source upper case", map[string]string{"5.0.3_release.json": relJSON(ent("b", src(tmr+"/Vault/b@"+dg1), dst("vault/b:1")))},
			[]want{{file: "5.0.3_release.json", line: 2, path: `metadata.images["b"].source`, msg: "must be lowercase"}}},
		{"digest field disagrees", map[string]string{"5.0.3_release.json": relJSON(good("a"), ent("b", src(tmr+"/vault/b:1@"+dg1), dst("vault/b:1"), `"digest": "`+dg2+`"`))},
			[]want{{file: "5.0.3_release.json", line: 3, path: `metadata.images["b"].digest`, msg: "disagrees with the digest of source"}}},
		{"digest field malformed", map[string]string{"5.0.3_release.json": relJSON(ent("b", src(tmr+"/vault/b:1@"+dg1), dst("vault/b:1"), `"digest": "sha256:xyz"`))},
			[]want{{file: "5.0.3_release.json", line: 2, path: `metadata.images["b"].digest`, msg: "expected sha256:<64 hex>"}}},
		{"same dest two sources in a release", map[string]string{"5.0.3_release.json": relJSON(good("a"), ent("b", src(tmr+"/vault/b@"+dg2), dst("vault/a:5.0.3")))},
			[]want{{file: "5.0.3_release.json", line: 3, path: `metadata.images["b"]`, msg: "expected one source per dest"}}},
		{"same dest two sources across releases", map[string]string{
			"5.0.3_release.json": relJSON(good("a")),
			"5.0.4_release.json": relJSON(ent("a", src(tmr+"/vault/a@"+dg2), dst("vault/a:5.0.3")))},
			[]want{{file: "5.0.4_release.json", line: 2, path: `metadata.images["a"]`, msg: "expected one source per dest"}}},
		{"same dest in a v4 list and a release", map[string]string{
			"5.0.3_release.json":  relJSON(good("a")),
			"5.0.2_tm_images.txt": "vault/a:5.0.3\n"},
			[]want{{file: "5.0.3_release.json", line: 2, path: `metadata.images["a"]`, msg: "has source " + tmr + "/vault/a@" + dg1 + " here but " + tmr + "/vault/a:5.0.3 at 5.0.2_tm_images.txt:1"}}},
		{"dest upper case", map[string]string{"5.0.3_release.json": relJSON(ent("b", src(tmr+"/vault/b@"+dg1), dst("Vault/b:1")))},
			[]want{{file: "5.0.3_release.json", line: 2, path: `metadata.images["b"].dest`, msg: `"3rdparty/tm/Vault/b" is not a valid ECR repository name`}}},
		{"dest double underscore not ECR", map[string]string{"5.0.3_release.json": relJSON(ent("b", src(tmr+"/vault/b@"+dg1), dst("vault/b__c:1")))},
			[]want{{file: "5.0.3_release.json", line: 2, path: `metadata.images["b"].dest`, msg: "not a valid ECR repository name"}}},
		{"dest too long with prefix", map[string]string{"5.0.3_release.json": relJSON(ent("b", src(tmr+"/vault/b@"+dg1), dst("vault/"+long+":1")))},
			[]want{{file: "5.0.3_release.json", line: 2, path: `metadata.images["b"].dest`, msg: "expected 2 to 256"}}},
		{"dest without tag", map[string]string{"5.0.3_release.json": relJSON(ent("b", src(tmr+"/vault/b@"+dg1), dst("vault/b")))},
			[]want{{file: "5.0.3_release.json", line: 2, path: `metadata.images["b"].dest`, msg: "has no tag"}}},
		{"dest host port is not a tag", map[string]string{"5.0.3_release.json": relJSON(ent("b", src(tmr+"/vault/b@"+dg1), dst("localhost:5000/vault")))},
			[]want{{file: "5.0.3_release.json", line: 2, path: `metadata.images["b"].dest`, msg: "has no tag"}}},
		{"dest with digest", map[string]string{"5.0.3_release.json": relJSON(ent("b", src(tmr+"/vault/b@"+dg1), dst("vault/b:1@"+dg1)))},
			[]want{{file: "5.0.3_release.json", line: 2, path: `metadata.images["b"].dest`, msg: "has a digest"}}},
		{"duplicate image key", map[string]string{"5.0.3_release.json": relJSON(good("a"), good("b"), good("a"))},
			[]want{{file: "5.0.3_release.json", line: 4, col: 1, path: `metadata.images["a"]`, msg: `duplicate key "a" (first at line 2)`}}},
		{"duplicate field in entry", map[string]string{"5.0.3_release.json": relJSON(ent("a", src(tmr+"/vault/a@"+dg1), dst("vault/a:1"), dst("vault/a:2")))},
			[]want{{file: "5.0.3_release.json", line: 2, path: `metadata.images["a"].dest`, msg: "duplicate key"}}},
		{"version disagrees with file name", map[string]string{"5.0.3_release.json": "{\"version\": \"5.0.4\",\n" + relJSON(good("a"))[1:]},
			[]want{{file: "5.0.3_release.json", line: 1, col: 13, path: "version", msg: `"5.0.4" disagrees with the file name`}}},
		{"layers not a list", map[string]string{"5.0.3_release.json": relJSON(ent("a", src(tmr+"/vault/a@"+dg1), dst("vault/a:1"), `"layers": {"digest": 1}`))},
			[]want{{file: "5.0.3_release.json", line: 2, path: `metadata.images["a"].layers`, msg: "expected a list"}}},
		{"layer digest malformed", map[string]string{"5.0.3_release.json": relJSON(ent("a", src(tmr+"/vault/a@"+dg1), dst("vault/a:1"), `"layers": [{"digest": "`+dg1+`"}, {"digest": "sha256:12"}]`))},
			[]want{{file: "5.0.3_release.json", line: 2, path: `metadata.images["a"].layers[1].digest`, msg: "invalid checksum digest length"}}},
		{"list with three fields", map[string]string{"3.3.11_byo_images.txt": "# x\nvault/a:1  docker.io/a/b:1 extra\n"},
			[]want{{file: "3.3.11_byo_images.txt", line: 2, col: 28, msg: "3 fields"}}},
		{"list bad external location", map[string]string{"3.3.11_byo_images.txt": "vault/a:1\nvault/b:1 docker.io/a/b@sha256:zz\n"},
			[]want{{file: "3.3.11_byo_images.txt", line: 2, col: 11, msg: "external location"}}},
		{"list external location without tag or digest", map[string]string{"3.3.11_byo_images.txt": "vault/b:1 grafana/grafana\n"},
			[]want{{file: "3.3.11_byo_images.txt", line: 1, col: 11, msg: "neither tag nor digest"}}},
		{"list bad dest", map[string]string{"3.3.11_images.txt": "\r\n  vault/B:1\r\n"},
			[]want{{file: "3.3.11_images.txt", line: 2, col: 3, msg: "must be lowercase"}}},
		{"list dest without tag", map[string]string{"3.3.11_images.txt": "vault/a\n"},
			[]want{{file: "3.3.11_images.txt", line: 1, col: 1, msg: "has no tag"}}},
		{"list names a dest the release lacks", map[string]string{
			"5.0.3_release.json":  relJSON(good("a")),
			"5.0.3_tm_images.txt": "vault/a:5.0.3\nvault/zz:5.0.3\n"},
			[]want{{file: "5.0.3_tm_images.txt", line: 2, msg: "dest vault/zz:5.0.3 is not in the release JSON"}}},
		{"list external location disagrees with release", map[string]string{
			"5.0.3_release.json":   relJSON(good("a")),
			"5.0.3_byo_images.txt": "vault/a:5.0.3 docker.io/other/a@" + dg1 + "\n"},
			[]want{{file: "5.0.3_byo_images.txt", line: 1, msg: "disagrees with the release's source"}}},
		{"v4 lists give two sources", map[string]string{
			"3.3.11_byo_images.txt":      "vault/a:1 docker.io/x/a:1\n",
			"3.3.11_more_byo_images.txt": "vault/a:1 docker.io/y/a:1\n"},
			[]want{{file: "3.3.11_more_byo_images.txt", line: 1, msg: "expected one source per dest"}}},
		{"v4 lists are empty", map[string]string{"3.3.11_images.txt": "# nothing yet\n\n"},
			[]want{{file: "3.3.11_images.txt", msg: "has no image to sync", noLocation: true}}},
		{"release with lists naming nothing", map[string]string{
			"5.0.3_release.json":  relJSON(good("a")),
			"5.0.3_tm_images.txt": "# none\n"},
			[]want{{file: "5.0.3_release.json", msg: "has no image to sync", noLocation: true}}},
		{"broken release with lists: no noise from the lists", map[string]string{
			"5.0.3_release.json":  relJSON(good("a"), ent("b", src(tmr+"/vault/b:1"), dst("vault/b:5.0.3"))),
			"5.0.3_tm_images.txt": "vault/a:5.0.3\nvault/b:5.0.3\n"},
			[]want{{file: "5.0.3_release.json", line: 3, path: `metadata.images["b"].source`, msg: "has no digest"}}},
		{"two release files for a version", map[string]string{
			"5.0.3_release.json":       relJSON(good("a")),
			"5.0.3_other_release.json": relJSON(good("b"))},
			[]want{{file: "5.0.3_release.json", msg: "a second release file for version 5.0.3", noLocation: true}}},
		{"file name without version", map[string]string{"release.json": relJSON(good("a"))},
			[]want{{file: "release.json", msg: "has no version", noLocation: true}}},
		{"list with CR-only line endings", map[string]string{"3.3.11_tm_registry_images.txt": "vault/a:1\rvault/b:1\r"},
			[]want{{file: "3.3.11_tm_registry_images.txt", line: 1, col: 10, msg: "carriage return (CR) not followed by a line feed"}}},
		{"byo list with CR-only line endings is not one record from docker.io", map[string]string{"3.3.11_byo_images.txt": "vault/a:1\rgrafana/grafana:1\r"},
			[]want{{file: "3.3.11_byo_images.txt", line: 1, col: 10, msg: "carriage return"}}},
		{"list with a bare CR after CRLF lines", map[string]string{"3.3.11_images.txt": "vault/a:1\r\nvault/b:1\rx\r\n\r\n"},
			[]want{{file: "3.3.11_images.txt", line: 2, col: 10, msg: "carriage return"}}},
		{"list ending with a bare CR", map[string]string{"3.3.11_images.txt": "vault/a:1\r\nvault/b:1\r"},
			[]want{{file: "3.3.11_images.txt", line: 2, col: 10, msg: "carriage return"}}},
		{"list with CR CR LF", map[string]string{"3.3.11_images.txt": "vault/a:1\r\r\n"},
			[]want{{file: "3.3.11_images.txt", line: 1, col: 10, msg: "carriage return"}}},
		{"list with a NUL", map[string]string{"3.3.11_images.txt": "vault/a:1\nvault/b:1\x00\n"},
			[]want{{file: "3.3.11_images.txt", line: 2, col: 10, msg: "NUL"}}},
		{"list with a NUL in a comment", map[string]string{"3.3.11_images.txt": "vault/a:1\n# \x00 x\n"},
			[]want{{file: "3.3.11_images.txt", line: 2, col: 3, msg: "NUL"}}},
		{"list not UTF-8 after CRLF lines", map[string]string{"3.3.11_images.txt": "vault/a:1\r\n\xc3\x28\r\n"},
			[]want{{file: "3.3.11_images.txt", line: 2, col: 1, msg: "not UTF-8"}}},
		{"list with overlong UTF-8", map[string]string{"3.3.11_images.txt": "vault/a:1\xc0\xaf\n"},
			[]want{{file: "3.3.11_images.txt", line: 1, col: 10, msg: "not UTF-8"}}},
		{"list in UTF-16", map[string]string{"3.3.11_images.txt": "\xff\xfev\x00a\x00\n\x00"},
			[]want{{file: "3.3.11_images.txt", line: 1, col: 1, msg: "UTF-16"}}},
		{"list with a byte order mark inside", map[string]string{"3.3.11_images.txt": "\ufeffvault/a:1\n\ufeffvault/b:1\n"},
			[]want{{file: "3.3.11_images.txt", line: 2, col: 1, msg: "U+FEFF"}}},
		{"list with a line separator", map[string]string{"3.3.11_byo_images.txt": "vault/a:1\u2028grafana/grafana:1\n"},
			[]want{{file: "3.3.11_byo_images.txt", line: 1, col: 10, msg: "U+2028"}}},
		{"list with a next line (C1)", map[string]string{"3.3.11_byo_images.txt": "vault/a:1\u0085grafana/grafana:1\n"},
			[]want{{file: "3.3.11_byo_images.txt", line: 1, col: 10, msg: "control character U+0085"}}},
		{"list with a vertical tab", map[string]string{"3.3.11_byo_images.txt": "vault/a:1\vgrafana/grafana:1\n"},
			[]want{{file: "3.3.11_byo_images.txt", line: 1, col: 10, msg: "control character U+000B"}}},
		{"list with a no-break space", map[string]string{"3.3.11_byo_images.txt": "vault/a:1\u00a0grafana/grafana:1\n"},
			[]want{{file: "3.3.11_byo_images.txt", line: 1, col: 10, msg: "non-ASCII space U+00A0"}}},
		{"list with a bidi override in a comment", map[string]string{"3.3.11_images.txt": "vault/a:1 # \u202e1:b/tluav\n"},
			[]want{{file: "3.3.11_images.txt", line: 1, col: 13, msg: "U+202E"}}},
		{"list with an escape sequence", map[string]string{"3.3.11_images.txt": "# \x1b[2K\x1b[1AINFO: DONE\nvault/a:1\n"},
			[]want{{file: "3.3.11_images.txt", line: 1, col: 3, msg: "control character U+001B"}}},
		{"json with a NUL byte", map[string]string{"5.0.3_release.json": "{\"metadata\": {\"images\": {\n\"a\x00\": 1}}}"},
			[]want{{file: "5.0.3_release.json", line: 2, col: 3, msg: "NUL byte"}}},
		{"json with an escaped NUL", map[string]string{"5.0.3_release.json": relJSON(ent("a", src(tmr+"/vault/a@"+dg1), dst("vault/a:1"), `"note": "x\u0000"`))},
			[]want{{file: "5.0.3_release.json", line: 2, col: 165, msg: `\u0000 (NUL)`}}},
		{"json with a lone high surrogate in a key", map[string]string{"5.0.3_release.json": "{\"metadata\": {\"images\": {\n\"a\\uD800\": {}}}}"},
			[]want{{file: "5.0.3_release.json", line: 2, col: 3, msg: `\uD800 is half of a UTF-16 surrogate pair`}}},
		{"json with a high surrogate before a non-surrogate", map[string]string{"5.0.3_release.json": "{\"metadata\": {\"images\": {\n\"a\\ud800\\u0041\": {}}}}"},
			[]want{{file: "5.0.3_release.json", line: 2, col: 3, msg: `\ud800 is half`}}},
		{"json with two high surrogates", map[string]string{"5.0.3_release.json": "{\"metadata\": {\"images\": {\n\"a\\ud800\\ud800\": {}}}}"},
			[]want{{file: "5.0.3_release.json", line: 2, col: 3, msg: `\ud800 is half`}}},
		{"json with a lone low surrogate in a source", map[string]string{"5.0.3_release.json": relJSON(ent("a", `"source": "x\udc00"`, dst("vault/a:1")))},
			[]want{{file: "5.0.3_release.json", line: 2, col: 19, msg: `\udc00 is the low half`}}},
		{"json in UTF-16", map[string]string{"5.0.3_release.json": "\xfe\xff\x00{\x00}"},
			[]want{{file: "5.0.3_release.json", line: 1, col: 1, msg: "UTF-16"}}},
		{"json in UTF-32", map[string]string{"5.0.3_release.json": "\xff\xfe\x00\x00{\x00\x00\x00"},
			[]want{{file: "5.0.3_release.json", line: 1, col: 1, msg: "UTF-32"}}},
		{"release source whose first component is no host nor a path", map[string]string{"5.0.3_release.json": relJSON(ent("a", src("00.0_0/0@"+dg1), dst("vault/a:1")))},
			[]want{{file: "5.0.3_release.json", line: 2, path: `metadata.images["a"].source`, msg: "registry host is empty"}}},
		{"byo location whose first component is no host nor a path", map[string]string{"3.3.11_byo_images.txt": "vault/a:1 00.0_0/0:1\n"},
			[]want{{file: "3.3.11_byo_images.txt", line: 1, col: 11, msg: "registry host is empty"}}},
		{"release source on a numeric host", map[string]string{"5.0.3_release.json": relJSON(ent("a", src("127.1:5000/vault/a@"+dg1), dst("vault/a:1")))},
			[]want{{file: "5.0.3_release.json", line: 2, path: `metadata.images["a"].source`, msg: "dotted decimal"}}},
		{"byo location on a numeric host", map[string]string{"3.3.11_byo_images.txt": "vault/a:1 0x7f000001.1:5000/a:1\n"},
			[]want{{file: "3.3.11_byo_images.txt", line: 1, col: 11, msg: "dotted decimal"}}},
		{"vendor list with a second field", map[string]string{"3.3.11_tm_registry_images.txt": "vault/a:1\nvault/b:1 docker.io/x/b@" + dg1 + "\n"},
			[]want{{file: "3.3.11_tm_registry_images.txt", line: 2, col: 11, msg: "only a byo list"}}},
		{"many problems at once", map[string]string{
			"5.0.3_release.json":    relJSON(good("a"), ent("b", dst("vault/b:1")), ent("c", src(tmr+"/vault/c:1"), dst("vault/c:1"))),
			"3.3.11_tm_images.txt":  "vault/a:1 b c\nvault/B:1\n",
			"5.0.4_release.json":    "{",
			"5.0.5_release.json":    "\xff",
			"5.0.6_byo_images.txt":  "x y z\n",
			"5.0.7_release.json":    relJSON(ent("a", src(tmr+"/vault/a@"+dg2), dst("vault/a:5.0.3"))),
			"ignored_file.yaml.txt": "not read",
		}, []want{
			{file: "3.3.11_tm_images.txt", line: 1, col: 13, msg: "3 fields"},
			{file: "3.3.11_tm_images.txt", line: 2, col: 1, msg: "lowercase"},
			{file: "5.0.3_release.json", line: 3, path: `metadata.images["b"]`, msg: "missing source"},
			{file: "5.0.3_release.json", line: 4, path: `metadata.images["c"].source`, msg: "has no digest"},
			{file: "5.0.4_release.json", line: 1, col: 1, msg: "unexpected end"},
			{file: "5.0.5_release.json", line: 1, col: 1, msg: "not UTF-8"},
			{file: "5.0.6_byo_images.txt", line: 1, col: 5, msg: "3 fields"},
			{file: "5.0.7_release.json", line: 2, path: `metadata.images["a"]`, msg: "has source " + tmr + "/vault/a@" + dg2 + " here but"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, data := range tc.files {
				fsys[name] = &fstest.MapFile{Data: []byte(data)}
			}
			_, err := LoadFS(fsys)
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("LoadFS = %v, want *Errors", err)
			}
			for _, w := range tc.want {
				found := false
				for _, p := range *errs {
					found = found || w.matches(p)
				}
				if !found {
					t.Errorf("no problem %+v among:\n%v", w, err)
				}
			}
			if len(*errs) != len(tc.want) {
				t.Errorf("%d problems, want %d:\n%v", len(*errs), len(tc.want), err)
			}
		})
	}
	if len(tests) < 30 {
		t.Errorf("%d malformed cases, want at least 30", len(tests))
	}
}
