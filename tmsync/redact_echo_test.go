package tmsync

import (
	"html"
	htmltemplate "html/template"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// assertSpellingGone: form, one spelling of a secret that r redacts, is removed from a
// JSON error body holding it, from that body printed with %q (as containers/image prints
// one), and from a text cut short in it: "..." after each of its starts, "…" before each
// of its ends, of minCut bytes or more.
func assertSpellingGone(t *testing.T, r *Redactor, name, form string) {
	t.Helper()
	body := `{"errors":[{"code":"DENIED","message":"denied ` + form + `"}]}`
	if got := r.Redact(body); strings.Contains(got, form) || !strings.Contains(got, Redacted) {
		t.Errorf("%s: %s not removed: %q", name, form, got)
	}
	q := strconv.Quote(form)
	inner := q[1 : len(q)-1]
	if got := r.Redact("reading manifest: " + strconv.Quote(body)); strings.Contains(got, inner) || !strings.Contains(got, Redacted) {
		t.Errorf("%s: %s quoted by %%q not removed: %q", name, form, got)
	}
	for k := minCut; k < len(form); k++ {
		start, end := form[:k], form[len(form)-k:]
		if got := r.Redact("denied " + start + "..."); strings.Contains(got, start) || !strings.Contains(got, Redacted) {
			t.Errorf("%s: %s cut to %q: kept in %q", name, form, start, got)
		}
		if got := r.Redact(`answer "…` + end + `" was sent`); strings.Contains(got, end) || !strings.Contains(got, Redacted) {
			t.Errorf("%s: %s cut to %q: kept in %q", name, form, end, got)
		}
	}
}

// TestRedactorJSONEscapes: a token echoed in a JSON body by an encoder that escapes more
// than Go's: .NET's System.Text.Json (ASP.NET Core's default: + & < > ' " ` and every
// non-ASCII character as \u002B..., hex in upper case), Gson (< > & = ' as \u003d..., lower
// case), Python's ensure_ascii (a surrogate pair past U+FFFF); and any of them with its hex
// digits in the other case, or mixed; and each in a URL, query-escaped ("%5Cu002B"). Each
// is removed whole, quoted by %q, and cut.
func TestRedactorJSONEscapes(t *testing.T) {
	for char, escapes := range map[string][]string{
		"+": {`\u002B`, `\u002b`},
		"=": {`\u003D`, `\u003d`},
		"&": {`\u0026`},
		"<": {`\u003C`, `\u003c`},
		">": {`\u003E`, `\u003e`},
		"'": {`\u0027`},
		`"`: {`\u0022`},
		"`": {`\u0060`},
		"é": {`\u00E9`, `\u00e9`},
		"😀": {`\uD83D\uDE00`, `\ud83d\ude00`, `\uD83d\uDe00`},
	} {
		token := "Tm" + char + "Tok-5f2a9c81"
		r := NewRedactor(token)
		for _, e := range escapes {
			form := "Tm" + e + "Tok-5f2a9c81"
			assertSpellingGone(t, r, "token "+strconv.Quote(token), form)
			assertSpellingGone(t, r, "token "+strconv.Quote(token)+" in a URL", url.QueryEscape(form))
			assertSpellingGone(t, r, "token "+strconv.Quote(token)+" in a URL, lower case", lowerHex(url.QueryEscape(form)))
		}
	}
	// A JSON text in a URL: its escapes' backslash percent-escaped, in either case.
	r := NewRedactor("Tm<Tok-5f2a9c81")
	for _, form := range []string{`Tm%5Cu003CTok-5f2a9c81`, `Tm%5cu003CTok-5f2a9c81`, `Tm%255Cu003cTok-5f2a9c81`} {
		assertSpellingGone(t, r, "in a URL", form)
	}
	// One token with all of them, as each encoder writes it whole.
	token := "Tm+Tok=en&1<2>3'4\"5`6\\7é-5f2a9c81"
	r = NewRedactor(token)
	for name, form := range map[string]string{
		"System.Text.Json": `Tm\u002BTok=en\u00261\u003C2\u003E3\u00274\u00225\u00606\\7\u00E9-5f2a9c81`,
		"lower case":       `Tm\u002bTok=en\u00261\u003c2\u003e3\u00274\u00225\u00606\\7\u00e9-5f2a9c81`,
		"Gson":             "Tm+Tok\\u003den\\u00261\\u003c2\\u003e3\\u00274\\\"5`6\\\\7é-5f2a9c81",
		"Go":               "Tm+Tok=en\\u00261\\u003c2\\u003e3'4\\\"5`6\\\\7é-5f2a9c81",
	} {
		assertSpellingGone(t, r, name, form)
		assertSpellingGone(t, r, name+" in a URL", url.QueryEscape(form))
	}
}

// TestRedactorPercentEncoders: a token in a URL as encoders other than Go's escape it,
// each character as the encoder writes it: RFC 3986's unreserved characters kept only
// (.NET's Uri.EscapeDataString, Python's quote(s, safe=""), curl), Python's quote (keeps
// '/'), JavaScript's encodeURIComponent (keeps ! ' ( ) *), Java's URLEncoder and .NET's
// WebUtility.UrlEncode (form encoding: a space is '+', '~' is escaped). Python's
// quote_plus is Go's url.QueryEscape. Each spelling is removed whole, with lower-case hex
// digits, query-escaped once more (a URL in a redirect's query), and cut.
func TestRedactorPercentEncoders(t *testing.T) {
	encoders := []string{"RFC 3986", "Python quote", "encodeURIComponent", "Java URLEncoder", ".NET UrlEncode"}
	spell := map[byte][5]string{
		'/':  {"%2F", "/", "%2F", "%2F", "%2F"},
		'+':  {"%2B", "%2B", "%2B", "%2B", "%2B"},
		'=':  {"%3D", "%3D", "%3D", "%3D", "%3D"},
		'&':  {"%26", "%26", "%26", "%26", "%26"},
		'!':  {"%21", "%21", "!", "%21", "!"},
		'*':  {"%2A", "%2A", "*", "*", "*"},
		'\'': {"%27", "%27", "'", "%27", "%27"},
		'(':  {"%28", "%28", "(", "%28", "("},
		')':  {"%29", "%29", ")", "%29", ")"},
		'~':  {"~", "~", "~", "%7E", "%7E"},
		' ':  {"%20", "%20", "%20", "+", "+"},
	}
	tokens := []string{"a/b+c=d&e!f*g'h(i)j~k l-5f2a9c81"}
	for c := range spell {
		tokens = append(tokens, "Tm"+string(c)+"Tok-5f2a9c81")
	}
	tested := 0
	for _, token := range tokens {
		r := NewRedactor(token)
		for i, enc := range encoders {
			var b strings.Builder
			for j := 0; j < len(token); j++ {
				if s, ok := spell[token[j]]; ok {
					b.WriteString(s[i])
				} else {
					b.WriteByte(token[j])
				}
			}
			form := b.String()
			if form == url.QueryEscape(token) || form == url.PathEscape(token) {
				continue // Go's own spelling: tested elsewhere
			}
			tested++
			name := enc + " of " + strconv.Quote(token)
			assertSpellingGone(t, r, name, form)
			assertSpellingGone(t, r, name+" lower case", lowerHex(form))
			assertSpellingGone(t, r, name+" in a query", url.QueryEscape(form))
		}
	}
	if tested < 15 {
		t.Errorf("only %d spellings differ from Go's: the test tests little", tested)
	}
}

// TestRedactorHTMLEscapes: a token on an HTML page (a proxy's or a registry's error page
// echoing the URL, a redirect's body), in the text or in a link's URL, as Go's
// html.EscapeString and Python's markupsafe write it (&#39; &#34;), as Go's html/template
// does (&#43; too), Python's html.escape (&quot; &#x27;), Java's and Squid's (&quot;
// &#39;), .NET's HtmlEncoder (&#x2B; too), PHP's htmlspecialchars (&#039;, or &apos;);
// and a hex escape with its digits or its 'x' in the other case (&#x2b; &#X2B;). The link
// is path-escaped ('&' and '+' stay), query-escaped or form-encoded by Java or .NET (a
// space's '+' stays), or by encodeURIComponent (an apostrophe stays). Each is removed
// whole and cut.
func TestRedactorHTMLEscapes(t *testing.T) {
	// html/template in a page's text, and in a link's URL (which it normalizes first).
	page := htmltemplate.Must(htmltemplate.New("page").Parse(`{{.}}|<a href="/v2/{{.}}">`))
	goTemplate := func(link bool) func(string) string {
		return func(s string) string {
			var b strings.Builder
			if err := page.Execute(&b, s); err != nil {
				t.Fatal(err)
			}
			text, href, _ := strings.Cut(b.String(), `|<a href="/v2/`)
			if link {
				return strings.TrimSuffix(href, `">`)
			}
			return text
		}
	}
	escapers := map[string]func(string) string{
		"Go":                    html.EscapeString,
		"Go html/template":      goTemplate(false),
		"Go html/template link": goTemplate(true),
		"Python":                strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#x27;").Replace,
		"Java":                  strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;").Replace,
		".NET":                  strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#x27;", "+", "&#x2B;").Replace,
		".NET lower hex":        strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#x27;", "+", "&#x2b;").Replace,
		".NET upper X":          strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#X27;", "+", "&#X2b;").Replace,
		"PHP":                   strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#039;").Replace,
		"PHP HTML5":             strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace,
	}
	tested := 0
	for _, token := range []string{"Tm&Tok-5f2a9c81", "Tm<Tok>-5f2a9c81", `Tm"Tok-5f2a9c81`, "Tm'Tok-5f2a9c81", "Tm+Tok-5f2a9c81",
		`Tm&Tok<en>'x"y+z-5f2a9c81`, "pass word-5f2a9c81", `Tm&Tok<en>'x"y+z w-5f2a9c81`} {
		r := NewRedactor(token)
		jsURI := strings.NewReplacer("&", "%26", "<", "%3C", ">", "%3E", `"`, "%22", "+", "%2B", " ", "%20").Replace(token)
		for name, e := range escapers {
			for where, plain := range map[string]string{"text": token, "path": url.PathEscape(token), "query": url.QueryEscape(token), "encodeURIComponent": jsURI} {
				form := e(plain)
				if form == plain {
					continue
				}
				tested++
				assertSpellingGone(t, r, name+" HTML escape of "+strconv.Quote(token)+" in "+where, form)
			}
		}
	}
	if tested < 100 {
		t.Errorf("only %d HTML spellings: the test tests little", tested)
	}
}

// TestRedactorPlainTokenNoEchoForms: a token of ASCII letters, digits, '-', '_' and '.'
// (the vendor's, a JWT) is written the same by every encoder: the other encoders' spellings
// add no form, so such a Redactor costs what it did. And a token with every character
// they escape gets a bounded number of forms.
func TestRedactorPlainTokenNoEchoForms(t *testing.T) {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
	rnd := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		b := make([]byte, minSecretLen+rnd.IntN(60))
		for i := range b {
			b[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		if urls, texts := echoForms(string(b)); len(urls)+len(texts) != 0 {
			t.Fatalf("token %q: other encoders' spellings %q %q", b, urls, texts)
		}
	}
	// The benchmark's Redactor: as many patterns as before the other encoders' spellings.
	for tok, want := range map[string]int{"tm-vendor-token-5f2a9c81d7e34b60": 4, "push-password-0123456789": 4, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0bSJ9.c2ln_LW0": 4} {
		if got := len(NewRedactor(tok).patterns); got != want {
			t.Errorf("token %q: %d patterns, want %d", tok, got, want)
		}
	}
	for tok, limit := range map[string]int{
		"Tm/T+k=n&a!b*c'd(e)f~g h<i>j\"k`l\\m-5f2a9c81": 160, // 108 without them, 149 with
		redactToken: 80, // 52 without them, 67 with
	} {
		if got := len(NewRedactor(tok).patterns); got > limit {
			t.Errorf("token %q: %d patterns, more than %d", tok, got, limit)
		}
	}
}
