package tmsync

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/tmsync/tmsync/manifest"
)

const redactToken = "tm-tok/en+5f2a=9c81&d7e3"

func TestRedactorForms(t *testing.T) {
	r := NewRedactor(redactToken, "", "ab") // empty and short secrets are ignored
	b64 := func(enc *base64.Encoding, s string) string { return enc.EncodeToString([]byte(s)) }
	authJSON, _ := json.Marshal(map[string]any{"username": "_tm", "password": redactToken, "serveraddress": "h"})
	for name, text := range map[string]string{
		"raw":                "denied: " + redactToken + " is wrong",
		"query escaped":      "GET /token?password=" + url.QueryEscape(redactToken),
		"path escaped":       "GET /v2/" + url.PathEscape(redactToken) + "/manifests",
		"json escaped":       string(must1(json.Marshal("x" + redactToken))),
		"basic user:token":   "Authorization: Basic " + b64(base64.StdEncoding, "_tm:"+redactToken),
		"basic url alphabet": b64(base64.URLEncoding, "_tm:"+redactToken),
		"raw url no padding": b64(base64.RawURLEncoding, "u:"+redactToken),
		"token alone base64": b64(base64.StdEncoding, redactToken),
		"other user":         b64(base64.StdEncoding, "someone-else:"+redactToken),
		"inside json in b64": b64(base64.StdEncoding, string(authJSON)),
		"twice":              redactToken + redactToken,
	} {
		got := r.Redact(text)
		if strings.Contains(got, redactToken) {
			t.Errorf("%s: token left in %q", name, got)
		}
		if !strings.Contains(got, Redacted) {
			t.Errorf("%s: nothing redacted in %q (from %q)", name, got, text)
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			if dec, err := enc.DecodeString(strings.TrimSpace(got)); err == nil && bytes.Contains(dec, []byte(redactToken)) {
				t.Errorf("%s: the token survives in base64 %q", name, got)
			}
		}
	}
	if got := r.Redact("ab cd no secret here"); got != "ab cd no secret here" {
		t.Errorf("text without a secret changed: %q", got)
	}
	var nilR *Redactor
	if nilR.Redact("x") != "x" || nilR.Clean("a\nb") != `a\nb` {
		t.Error("a nil Redactor must pass text through, sanitized by Clean")
	}
}

func must1[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"plain text: ok \\n stays":         "plain text: ok \\n stays",
		"a\nINFO: DONE":                    `a\nINFO: DONE`,
		"a\r\nb":                           `a\r\nb`,
		"\x1b[2J\x1b]0;title\x07":          `\x1b[2J\x1b]0;title\x07`,
		"nul\x00del\x7f":                   `nul\x00del\x7f`,
		"c1 \u009b31m csi":                 `c1 \u009b31m csi`,
		"bidi \u202egnp.exe \u2066x\u2069": `bidi \u202egnp.exe \u2066x\u2069`,
		"sep\u2028line":                    `sep\u2028line`,
		"bad utf8 \xff\xfe":                `bad utf8 \xff\xfe`,
		"unicode ok: é 漢字 ✓":               "unicode ok: é 漢字 ✓",
		"tab\there":                        `tab\there`,
	} {
		got := Sanitize(in)
		if got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
		if strings.ContainsAny(got, "\n\r\x1b\u202e") {
			t.Errorf("Sanitize(%q) kept a control character: %q", in, got)
		}
	}
}

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"a\nb", "\x1b[2J", "\u202e", "\xff", "ok"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Sanitize(s)
		for i, r := range got {
			if unsafeRune(r, len(string(r))) && !(r == 0xfffd && got[i:i+3] == "\uFFFD") {
				t.Fatalf("Sanitize(%q) = %q keeps %U", s, got, r)
			}
		}
		if Sanitize(got) != got {
			t.Fatalf("Sanitize is not idempotent on %q", s)
		}
	})
}

func FuzzRedact(f *testing.F) {
	f.Add("tm-token-1234", "prefix ", " suffix")
	f.Add("p@ss:w/rd", "Basic ", "")
	f.Add("ab%2fc/d+e", "100%", "%2")
	f.Fuzz(func(t *testing.T, secret, before, after string) {
		if len(secret) < minSecretLen {
			return
		}
		r := NewRedactor(secret)
		for _, text := range []string{
			before + secret + after,
			before + base64.StdEncoding.EncodeToString([]byte(before+secret+after)) + after,
			before + url.QueryEscape(secret) + after,
		} {
			if got := r.Redact(text); strings.Contains(got, secret) && !strings.Contains(Redacted, secret) {
				t.Fatalf("secret %q left in %q", secret, got)
			}
		}
		for _, f := range []string{url.QueryEscape(secret), url.QueryEscape(url.PathEscape(secret))} {
			for _, mixed := range mixEscapes(f) {
				if got := r.Redact(before + mixed + after); strings.Contains(got, mixed) && !strings.Contains(Redacted, mixed) {
					t.Fatalf("secret %q: %q left in %q", secret, mixed, got)
				}
			}
		}
	})
}

func TestCleanHandlerAndObserver(t *testing.T) {
	var logs bytes.Buffer
	var events []Event
	red := NewRedactor(redactToken)
	e, err := New(fakeTargetForRedact{}, fakeAttestorForRedact{}, WithRedactor(red),
		WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))),
		WithObserver(ObserverFunc(func(e Event) { events = append(events, e) })))
	if err != nil {
		t.Fatal(err)
	}
	evil := "denied " + redactToken + "\nINFO: DONE \x1b[2J"
	e.opts.logger.Error(evil, "err", errors.New(evil), "image", evil, slog.Group("g", "k", evil))
	e.opts.logger.With("attr", evil).Info("x")
	e.opts.observer.Event(Event{Kind: EventFail, Image: "a\nb", Message: evil})
	out := logs.String() + fmt.Sprint(events)
	if strings.Contains(out, redactToken) || strings.Contains(out, "\x1b") || strings.Contains(out, `\u001b`) {
		t.Errorf("log or event not cleaned:\n%s", out)
	}
	if events[0].Message != `denied [REDACTED]\nINFO: DONE \x1b[2J` || events[0].Image != `a\nb` {
		t.Errorf("event %+v", events[0])
	}
	se := red.CleanError(startErr("reading", errors.New(evil)))
	var got *StartError
	if !errors.As(se, &got) || strings.Contains(se.Error(), redactToken) || strings.Contains(se.Error(), "\n") {
		t.Errorf("start error %q (%T)", se, se)
	}
}

func TestReportCleanEveryField(t *testing.T) {
	evil := redactToken + "\n\x1b[2J"
	r := &Report{Caller: evil, Target: evil, Images: []ImageRecord{{Dest: evil, Source: evil, Reason: evil,
		Attestation: &Attestation{Occurrence: evil}, Scan: map[string]int{"HIGH": 1}}},
		Repositories: []Repository{{Name: evil, Changes: []string{evil}, State: map[string]string{"k": evil}}}}
	r.Clean(NewRedactor(redactToken))
	b, _ := json.Marshal(r)
	if bytes.Contains(b, []byte(redactToken)) || bytes.Contains(b, []byte(`\u001b`)) || bytes.Contains(b, []byte(`\n`)) && !bytes.Contains(b, []byte(`\\n`)) {
		t.Errorf("report not cleaned: %s", b)
	}
	// A report read from a file is printed sanitized even if it was never cleaned.
	raw := &Report{Images: []ImageRecord{{Dest: "x\nINFO: DONE", Outcome: OutcomeFailed, Step: "copy", Reason: "y\x1b[2J"}}}
	var sum bytes.Buffer
	_ = raw.EncodeSummary(&sum)
	for _, l := range append(raw.ErrorLines(), strings.Split(sum.String(), "\n")...) {
		if strings.HasPrefix(l, "INFO: DONE") || strings.Contains(l, "\x1b") {
			t.Errorf("forged line: %q", l)
		}
	}
	if raw.Images[0].Dest != "x\nINFO: DONE" {
		t.Error("printing a report changed it")
	}
}

type fakeTargetForRedact struct{ Target }
type fakeAttestorForRedact struct{ Attestor }

func TestRedactorAuthFile(t *testing.T) {
	p := t.TempDir() + "/auth.json"
	auth := base64.StdEncoding.EncodeToString([]byte("puller:upstream-pass-77"))
	if err := os.WriteFile(p, []byte(`{"auths":{"r.example":{"auth":"`+auth+`","identitytoken":"id-token-99"}},"credHelpers":{"x":"y"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := NewRedactor()
	r.AddAuthFile(p)
	r.AddAuthFile(p + ".missing")
	if got := r.Redact("a upstream-pass-77 b id-token-99 c " + auth); strings.Contains(got, "upstream-pass-77") || strings.Contains(got, "id-token-99") || strings.Contains(got, auth) {
		t.Errorf("auth file secrets left: %q", got)
	}
}

func FuzzTidyHost(f *testing.F) {
	for _, h := range []string{"Docker.External.io.:443", "127.0.0.1:05000", "[::1]:443", "LOCALHOST", "a..b", ""} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		got := tidyHost(h)
		if _, err := manifest.CanonicalRegistry(h); err == nil && !manifest.SameRegistry(h, got) {
			t.Fatalf("tidyHost(%q) = %q is another registry", h, got)
		}
	})
}

// TestRedactorEscapedBase64: an Authorization header echoed in a URL (a registry's redirect
// to "...?auth=Basic+X3Rt%2B...", then quoted in an error) is redacted: the standard
// base64 alphabet's '+' and '/' are escaped there, query or path style, in either case of
// the hex digits. The tokens are chosen so that their base64 holds '+' or '/' (the
// vendor's test token does not: these forms went unseen).
func TestRedactorEscapedBase64(t *testing.T) {
	for _, tok := range []string{"abc?def>ghi~jkl-5f2a9c81d7e34b60", "tm~vendor?token>5f2a9c81~~", "\xfb\xff\xbe-tok-\xfe\xfc-9c81"} {
		hdr := "Basic " + base64.StdEncoding.EncodeToString([]byte("_tm:"+tok))
		if !strings.ContainsAny(hdr, "+/") {
			t.Fatalf("token %q: its base64 holds neither '+' nor '/': the test tests nothing", tok)
		}
		r := NewRedactor(tok)
		for name, text := range map[string]string{
			"query escaped":       `Get "http://cdn.example/blob?auth=` + url.QueryEscape(hdr) + `": refused`,
			"path escaped":        "http://cdn.example/x/" + url.PathEscape(hdr) + "/y",
			"query escaped lower": "auth=" + lowerHex(url.QueryEscape(hdr)),
			"path escaped lower":  "/x/" + lowerHex(url.PathEscape(hdr)),
			"token lower escapes": "password=" + lowerHex(url.QueryEscape(tok)),
			"escaped twice":       "next=" + url.QueryEscape("http://cdn.example/blob?auth="+url.QueryEscape(hdr)),
		} {
			got := r.Redact(text)
			if !strings.Contains(got, Redacted) {
				t.Errorf("token %q, %s: nothing redacted in %q", tok, name, got)
			}
			plain, err := url.QueryUnescape(got)
			if err != nil {
				plain, _ = url.PathUnescape(got)
			}
			for _, core := range base64Cores(base64.StdEncoding, tok) {
				if strings.Contains(plain, core) || strings.Contains(strings.ReplaceAll(plain, " ", "+"), core) {
					t.Errorf("token %q, %s: its base64 survives in %q", tok, name, got)
				}
			}
			if strings.Contains(plain, tok) {
				t.Errorf("token %q, %s: the token survives in %q", tok, name, got)
			}
		}
	}
}

// lowerHex writes s's percent-escapes with lower-case hex digits.
func lowerHex(s string) string {
	return regexp.MustCompile(`%[0-9A-F]{2}`).ReplaceAllStringFunc(s, strings.ToLower)
}

// mixEscapes returns the spellings of s with the hex letters of its percent-escapes (and
// of the escapes inside an escaped '%', "%252f") in mixed case: alternating from upper,
// alternating from lower, and every letter the other way round.
func mixEscapes(s string) []string {
	esc := regexp.MustCompile(`%(?:25)*[0-9A-Fa-f]{2}`)
	var out []string
	for mode := range 3 {
		n := 0
		out = append(out, esc.ReplaceAllStringFunc(s, func(e string) string {
			b := []byte(e)
			for i := 1; i < len(b); i++ {
				c := b[i] | 0x20
				if c < 'a' || c > 'f' {
					continue
				}
				switch {
				case mode == 2 && b[i] == c, mode < 2 && (n+mode)%2 == 1:
					b[i] = c - ('a' - 'A')
				default:
					b[i] = c
				}
				n++
			}
			return string(b)
		}))
	}
	return out
}

// TestRedactorMixedCaseEscapes: every escaped form of a secret (query, path, escaped twice,
// and its base64 in the standard, URL and raw alphabets, escaped) is redacted with its
// escapes' hex digits in any mix of cases; the secret's own letters still match exactly,
// text around a secret is left byte for byte, and a text with no secret is not changed.
func TestRedactorMixedCaseEscapes(t *testing.T) {
	tokens := []string{
		redactToken, // '/', '+', '=', '&': %2F, %2B, %3D, %26
		"abc?def>ghi~jkl-5f2a9c81d7e34b60",
		"\xfb\xff\xbe-tok-\xfe\xfc-9c81\xab",
		"p%2fss%zz-100%-9c81", // a '%' of its own, a valid escape among them
		"fab-cafe/BEEF+d00d",  // starts with hex letters: after a "%2" in the text too
	}
	b64s := []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding}
	for _, tok := range tokens {
		r := NewRedactor(tok)
		var forms []string
		for _, f := range []string{tok, url.QueryEscape(tok), url.PathEscape(tok)} {
			forms = append(forms, f, url.QueryEscape(f)) // escaped twice: a URL in a query
		}
		for _, enc := range b64s {
			for _, plain := range []string{tok, "_tm:" + tok, `{"password":"` + tok + `"}`} {
				e := enc.EncodeToString([]byte(plain))
				forms = append(forms, url.QueryEscape("Basic "+e), url.PathEscape(e), url.QueryEscape(url.QueryEscape(e)))
			}
		}
		tested := 0
		for _, f := range forms {
			for _, mixed := range mixEscapes(f) {
				if mixed == f {
					continue
				}
				tested++
				for _, text := range []string{"auth=" + mixed + "&x=1", "100%" + mixed, "%2" + mixed + "%", mixed} {
					got := r.Redact(text)
					if !strings.Contains(got, Redacted) || strings.Contains(got, mixed) {
						t.Errorf("token %q: %q redacted to %q", tok, text, got)
						continue
					}
					for plain, i := got, 0; i < 3; i++ {
						if strings.Contains(plain, tok) {
							t.Errorf("token %q: it survives in %q, from %q", tok, got, text)
						}
						for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
							for _, core := range base64Cores(enc, tok) {
								if strings.Contains(plain, core) || strings.Contains(strings.ReplaceAll(plain, " ", "+"), core) {
									t.Errorf("token %q: its base64 survives in %q, from %q", tok, got, text)
								}
							}
						}
						if u, err := url.QueryUnescape(plain); err == nil {
							plain = u
						} else if u, err := url.PathUnescape(plain); err == nil {
							plain = u
						}
					}
				}
			}
		}
		if tested < 10 {
			t.Errorf("token %q: only %d mixed-case spellings: the test tests little", tok, tested)
		}
	}

	// The secret's own letters are case sensitive; escapes around it are left as they are.
	r := NewRedactor(redactToken, "fab-cafe/BEEF+d00d", "p%2fss%zz-100%-9c81")
	for _, text := range []string{
		"TM-TOK%2fEN%2B5F2A%3d9C81%26D7E3", // the query escape, its letters upper-cased
		"tm-tok%2fen%2b5f2a%3d9C81%26d7e3", // one letter of the token's own
		"FAB-cafe%2fbeef%2bd00d",
		"p%2fss%ZZ-100%-9c81", // the "%zz" is no escape: its letters are the secret's
		"no secret: a%2fb%3D%2525%zz 100% %",
	} {
		if got := r.Redact(text); got != text {
			t.Errorf("%q redacted to %q", text, got)
		}
	}
	for text, want := range map[string]string{
		"a%2fb " + url.QueryEscape(redactToken) + " c%3d":                        "a%2fb " + Redacted + " c%3d",
		"p%2Fss%zz-100%-9c81":                                                    Redacted, // the secret's own escape, in the other case
		"x%2525" + lowerHex(url.QueryEscape(url.QueryEscape(redactToken))) + "%": "x%2525" + Redacted + "%",
	} {
		if got := r.Redact(text); got != want {
			t.Errorf("%q redacted to %q, want %q", text, got, want)
		}
	}
}

// TestRedactLikeReplacer: on texts whose escapes are all in upper case, Redact's own scan
// replaces exactly what a strings.Replacer of the same patterns (longest first) does:
// texts made of a secret's forms, cut, overlapping and glued to text around them.
func TestRedactLikeReplacer(t *testing.T) {
	secrets := []string{redactToken, "aaaa-aaab", "tok%2Fen-%zz-9c81", "push-password-0123456789", "push-pass", "Tm+T~k<é>'(x) y-9c81"}
	r := NewRedactor(secrets...)
	var pairs, forms []string
	for _, p := range r.patterns {
		pairs = append(pairs, p.s, Redacted)
		forms = append(forms, p.s)
	}
	ref := strings.NewReplacer(pairs...)
	rnd := rand.New(rand.NewPCG(1, 2))
	junk := []string{"", "%", "%2", "a", "aaa", "+", "=", " ", "%25", "x%2F"}
	for range 20000 {
		var b strings.Builder
		for range 1 + rnd.IntN(4) {
			f := forms[rnd.IntN(len(forms))]
			i, j := 0, len(f)
			if rnd.IntN(3) == 0 { // a part of a form
				i = rnd.IntN(len(f))
				j = i + rnd.IntN(len(f)-i+1)
			}
			b.WriteString(junk[rnd.IntN(len(junk))] + f[i:j])
		}
		text := b.String()
		// The whole forms' pass (Redact also removes cut forms, which a Replacer cannot).
		r.mu.RLock()
		got := r.redactForms(text)
		r.mu.RUnlock()
		if want := ref.Replace(text); got != want {
			t.Fatalf("Redact(%q) = %q, strings.Replacer: %q", text, got, want)
		}
	}
}
