package manifest

import (
	"strings"
	"testing"
	"testing/fstest"
)

// TestAcceptedEncodings: what the checks for odd bytes must still let through, and that
// LF, CRLF and a leading UTF-8 byte order mark read the same images.
func TestAcceptedEncodings(t *testing.T) {
	lf := "# vendor images, café\nvault/a:5.0.3\n\n  vault/b:5.0.3\t# trailing comment\n"
	var want []string
	for _, variant := range []struct{ name, data string }{
		{"LF", lf},
		{"CRLF", strings.ReplaceAll(lf, "\n", "\r\n")},
		{"BOM LF", "\ufeff" + lf},
		{"BOM CRLF", "\ufeff" + strings.ReplaceAll(lf, "\n", "\r\n")},
		{"no final newline", strings.TrimSuffix(lf, "\n")},
		{"CRLF no final newline", strings.TrimSuffix(strings.ReplaceAll(lf, "\n", "\r\n"), "\r\n")},
	} {
		es, err := ParseImageList("5.0.3_tm_registry_images.txt", []byte(variant.data))
		if err != nil {
			t.Fatalf("%s: %v", variant.name, err)
		}
		var got []string
		for _, e := range es {
			got = append(got, e.Source.String()+" "+e.Dest.String()+" "+e.Origin.String())
		}
		if want == nil {
			want = got
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") || len(got) != 2 {
			t.Errorf("%s: entries\n%s\nwant\n%s", variant.name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}

	// JSON: a leading BOM, a surrogate pair, an escaped backslash before "u0000", and
	// CRLF line endings are valid.
	for _, data := range []string{
		"\ufeff" + relJSON(good("a")),
		strings.ReplaceAll(relJSON(good("a")), "\n", "\r\n"),
		relJSON(good("a"), ent("\\ud83d\\ude00", src(tmr+"/vault/b@"+dg1), dst("vault/b:1"))),
		relJSON(ent("a", src(tmr+"/vault/a@"+dg1), dst("vault/a:1"), `"note": "C:\\u0000 \\\\ \" \ud83d\ude00"`)),
	} {
		f, err := LoadFS(fstest.MapFS{"5.0.3_release.json": {Data: []byte(data)}})
		if err != nil || len(f.Images()) == 0 {
			t.Errorf("%q: %v", data, err)
		}
	}
}
