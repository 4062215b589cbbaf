package tmsync

import (
	"bytes"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
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

// echoForms are the spellings of s that servers and clients other than Go's write, where
// they differ from s and from Go's URL escapes: in a URL (urlEncoders), in a JSON string
// (jsonEncoders; each also quoted by %q, as containers/image prints an error body, and
// query-escaped, a JSON text in a URL: "%5Cu002B") and on an HTML page (htmlEscapers, of
// s and of its URL spellings that keep an HTML-special character: '&' and '+' in a path,
// a space's '+' in a query and in a form's encoding, an apostrophe by
// encodeURIComponent). urls are the URL spellings, texts the others. For a secret of
// ASCII letters, digits, '-', '_' and '.' there are none.
func echoForms(s string) (urls, texts []string) {
	seen := map[string]bool{s: true, url.QueryEscape(s): true, url.PathEscape(s): true}
	add := func(to *[]string, f string) {
		if !seen[f] {
			seen[f] = true
			*to = append(*to, f)
		}
	}
	for _, e := range urlEncoders {
		add(&urls, percentEscape(s, e.keep, e.plus))
	}
	for _, e := range jsonEncoders {
		j := jsonEscape(s, e.hex, e.ascii)
		q := strconv.Quote(j)
		add(&texts, j)
		add(&texts, q[1:len(q)-1])
		// Once, not twice more as the URL spellings are (secretForms): a JSON text in a
		// URL in another URL's query is far-fetched, and Go's own JSON form is among those.
		add(&texts, url.QueryEscape(j))
	}
	// url.QueryEscape(s) is in seen, so not in urls: it is a base here all the same, and
	// so are Java's and .NET's form encodings that are the same as it.
	for _, f := range append([]string{s, url.QueryEscape(s), url.PathEscape(s)}, urls...) {
		for _, h := range htmlEscapers {
			add(&texts, h.Replace(f))
		}
	}
	return urls, texts
}

// urlEncoders are percent-encoders other than Go's url.QueryEscape and url.PathEscape:
// the bytes each keeps as they are besides ASCII letters and digits, and whether it
// writes a space as '+' (else "%20"). Python's quote_plus is url.QueryEscape.
var urlEncoders = []struct {
	keep string
	plus bool
}{
	{"-._~", false},      // RFC 3986's unreserved only: .NET's Uri.EscapeDataString, Python's quote(s, safe=""), curl
	{"-._~/", false},     // Python's urllib.parse.quote (safe="/" by default)
	{"-._~!'()*", false}, // JavaScript's encodeURIComponent
	{"-._*", true},       // Java's URLEncoder (a form's encoding: '~' escaped)
	{"-._!*()", true},    // .NET's WebUtility.UrlEncode and HttpUtility.UrlEncode (this one in lower case)
}

// percentEscape is s with every byte but ASCII letters, digits and those in keep written
// %XX (upper-case hex), a space '+' when plus is set.
func percentEscape(s, keep string, plus bool) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(keep, c) >= 0:
			b.WriteByte(c)
		case c == ' ' && plus:
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// jsonEncoders are JSON encoders that escape more than Go's encoding/json: the ASCII
// characters each writes as a \u escape, and whether it writes every character past ASCII
// so. Their hex digits' case does not matter (newPattern).
var jsonEncoders = []struct {
	hex   string
	ascii bool
}{
	{"\"&'+<>`", true}, // .NET's System.Text.Json, so ASP.NET Core's by default ("\u002B", "\u00E9")
	{"&'<=>", false},   // Gson by default (HTML-safe: "\u003d")
	{"", true},         // Python's json.dumps, Newtonsoft's and Jackson's escaping of non-ASCII: past U+FFFF a surrogate pair
}

// jsonEscape is s inside a JSON string as an encoder of jsonEncoders writes it: '"' and
// '\' escaped, control characters as JSON's short escapes or \u00XX, and as \uXXXX (upper-
// case hex) the characters in hex, U+2028 and U+2029, and with ascii every character past
// ASCII (UTF-16: a surrogate pair past U+FFFF). A byte that is not UTF-8 is U+FFFD, as an
// encoder that reads the text as Unicode sees it.
func jsonEscape(s, hex string, ascii bool) string {
	const digits = "0123456789ABCDEF"
	var b strings.Builder
	u := func(r rune) {
		b.WriteString(`\u`)
		for shift := 12; shift >= 0; shift -= 4 {
			b.WriteByte(digits[r>>shift&15])
		}
	}
	for _, r := range s {
		switch {
		case r < 0x80 && strings.ContainsRune(hex, r):
			u(r)
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\b', r == '\f', r == '\n', r == '\r', r == '\t':
			b.WriteString(strconv.QuoteRune(r)[1:3])
		case r < 0x20, r == '\u2028', r == '\u2029', ascii && r >= 0x7f && r <= 0xffff:
			u(r)
		case ascii && r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			u(r1)
			u(r2)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// htmlEscapers are how pages that may echo a URL or a text with a secret in it (a proxy's
// or a registry's error page, a redirect's body) escape it. A hex escape's digits and its
// 'x' match in either case (newPattern): "&#x2b;" is "&#x2B;". The characters some escaper
// writes in hex another writes in decimal: '+' (html/template), an apostrophe (Go's,
// Java's). Numeric escapes of every other character (ESAPI's "&#x2f;") are not here: no
// such page in front of a registry is known.
var htmlEscapers = []*strings.Replacer{
	// Go's html.EscapeString (text/template, http.Redirect's body), Python's markupsafe (Jinja, Flask)
	strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;"),
	// Go's html/template (a page's text and its links' URLs)
	strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "+", "&#43;"),
	// Python's html.escape (Werkzeug's redirect body)
	strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#x27;"),
	// Java's (Spring's HtmlUtils, Tomcat's error page), Squid's error pages
	strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;"),
	// .NET's HtmlEncoder.Default (Razor pages)
	strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#x27;", "+", "&#x2B;"),
	// PHP's htmlspecialchars with ENT_QUOTES and HTML 4.01 (PHP 8.1's default flags)
	strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#039;"),
	// PHP's htmlspecialchars with ENT_QUOTES and ENT_HTML5, ENT_XHTML or ENT_XML1
	strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;"),
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

// windowKey is w, minCut bytes, with the letters a-f and x in upper case: the key of the
// windows, so that a piece of a form written with its escapes' hex digits (or an HTML
// escape's 'x') in lower case, or cut inside an escape, finds its window. The piece is
// then compared as whole forms are (pattern.matches).
func windowKey(w string) (k [minCut]byte) {
	for i := range k {
		c := w[i]
		if 'a' <= c && c <= 'f' || c == 'x' {
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
