package tmsync

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// quotedForms are the spellings of s inside a quoted string as other encoders write it
// (a registry or a proxy echoing it in an error body, containers/image quoting that body):
// Go's %q (strconv.Quote: `\"`, `\\`, control characters escaped), the same in ASCII only
// (strconv.QuoteToASCII, as Python's json.dumps: `\u00e9`), JSON without Go's HTML escapes
// (`&`, `<`, `>` as they are), and JSON with '/' written `\/` (PHP, some Java encoders);
// and each of those, and Go's own JSON form, quoted once more by %q (a JSON error body
// that containers/image prints with %q). For a token of letters, digits and '-' they are
// all s itself.
func quotedForms(s string) []string {
	unquote := func(q string) string { return q[1 : len(q)-1] }
	forms := []string{unquote(strconv.Quote(s)), unquote(strconv.QuoteToASCII(s))}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(s) == nil {
		plain := unquote(strings.TrimSuffix(b.String(), "\n"))
		forms = append(forms, plain, strings.ReplaceAll(plain, "/", `\/`))
	}
	if j, err := json.Marshal(s); err == nil {
		forms = append(forms, strings.ReplaceAll(unquote(string(j)), "/", `\/`))
	}
	// A JSON body quoted again by %q (containers/image prints a registry's error body
	// so): each escape's backslash is escaped once more.
	for _, f := range append([]string(nil), forms...) {
		forms = append(forms, unquote(strconv.Quote(f)))
	}
	if j, err := json.Marshal(s); err == nil {
		forms = append(forms, unquote(strconv.Quote(unquote(string(j)))))
	}
	return forms
}

// minCut is the shortest piece of a secret that redactCuts removes at a cut: shorter ones
// say too little of it, and would match too much else.
const minCut = 6

// cutMarkers are what a writer puts where it cut a text short: containers/image cuts an
// error body at 50 bytes and adds "...", tmsync's own snippets add "…".
var cutMarkers = []string{"...", "…", `\u2026`}

// redactCuts removes what a cut left of a secret's forms: a text that ends, at a cut
// marker, with the start of a form (at least minCut bytes of it), or starts, after a
// marker, with its end. Redact removes whole forms; a body cut in the middle of the token
// keeps only part of it, which no whole form matches. Only texts with a marker are read,
// and only marks with a piece of a form (windows: the forms' minCut-byte pieces) next to
// them are looked at further; escapes' hex digits match in either case, as in whole forms,
// also those of an escape the cut split ("%2", "\u00e").
func redactCuts(s string, forms []pattern, windows map[string]bool) string {
	if !strings.Contains(s, "..") && !strings.Contains(s, "…") && !strings.Contains(s, `\u2026`) {
		return s
	}
	type span struct{ from, to int }
	var spans []span
	for _, m := range cutMarkers {
		for off := 0; off < len(s); {
			i := strings.Index(s[off:], m)
			if i < 0 {
				break
			}
			i += off
			end := i + len(m)
			off = end
			// A piece of a form next to the mark has one of the forms' windows there:
			// one lookup for a mark that has none (most), whatever the text's length.
			var before, after bool
			if i >= minCut {
				k := windowKey(s[i-minCut : i])
				before = windows[string(k[:])]
			}
			if end+minCut <= len(s) {
				k := windowKey(s[end : end+minCut])
				after = windows[string(k[:])]
			}
			if !before && !after {
				continue
			}
			for j := range forms {
				p := &forms[j]
				if before {
					if k := endIsStart(s[:i], p); k > 0 {
						spans = append(spans, span{i - k, i})
					}
				}
				if after {
					if k := startIsEnd(s[end:], p); k > 0 {
						spans = append(spans, span{end, end + k})
					}
				}
			}
		}
	}
	if len(spans) == 0 {
		return s
	}
	// In order of start, the longest first at one start; overlapping spans merge.
	slices.SortFunc(spans, func(a, b span) int {
		if a.from != b.from {
			return a.from - b.from
		}
		return b.to - a.to
	})
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		if sp.to <= last {
			continue
		}
		if sp.from < last {
			sp.from = last
		} else {
			b.WriteString(s[last:sp.from])
			b.WriteString(Redacted)
		}
		last = sp.to
	}
	b.WriteString(s[last:])
	return b.String()
}

// windowKey is w, minCut bytes, with the letters a-f in upper case: the key of the
// windows, so that a piece of a form written with its escapes' hex digits in lower case,
// or cut inside an escape, finds its window. The piece is then compared as whole forms
// are (pattern.matches).
func windowKey(w string) (k [minCut]byte) {
	for i := range k {
		c := w[i]
		if 'a' <= c && c <= 'f' {
			c -= 'a' - 'A'
		}
		k[i] = c
	}
	return k
}

// endIsStart is the length of the longest end of text that is a start of p, from minCut
// bytes to one short of p (a whole form is not a cut's): 0 when there is none.
func endIsStart(text string, p *pattern) int {
	for k := min(len(p.s)-1, len(text)); k >= minCut; k-- {
		if p.matches(text[len(text)-k:], 0) {
			return k
		}
	}
	return 0
}

// startIsEnd is the length of the longest start of text that is an end of p, from minCut
// bytes to one short of p: 0 when there is none.
func startIsEnd(text string, p *pattern) int {
	for k := min(len(p.s)-1, len(text)); k >= minCut; k-- {
		if p.matches(text[:k], len(p.s)-k) {
			return k
		}
	}
	return 0
}
