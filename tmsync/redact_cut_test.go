package tmsync

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRedactorCutSecrets: a registry's error body echoing the token, cut short by
// containers/image (50 bytes and "...", then %q) or by tmsync's own snippets ("…"), keeps
// part of it; that part is removed as the whole token is. Short pieces (under minCut), a
// cut elsewhere and text without a marker are left as they are.
func TestRedactorCutSecrets(t *testing.T) {
	const token = "tm-vendor-token-5f2a9c81d7e34b60-a1b2c3d4e5f6a7b8"
	r := NewRedactor(token)
	basic := base64.StdEncoding.EncodeToString([]byte("_tm:" + token))
	for _, c := range []struct{ in, leak string }{
		// containers/image: the body's first 50 bytes, "...", then %q.
		{fmt.Sprintf("reading manifest: %q", ("credential rejected: " + token)[:50]+"..."), token[:29]},
		{"answer {\"a\":\"" + token[:17] + "…", token[:17]},
		{"answer {\"a\":\"" + token[:17] + `\u2026"}`, token[:17]},
		{"...then " + "…" + token[20:] + " was sent", token[20:]},
		{"Authorization: Basic " + basic[:30] + "...", basic[:30]},
		{token[:10] + "... and " + token[:12] + "…", token[:10]},
	} {
		got := r.Redact(c.in)
		if strings.Contains(got, c.leak) || !strings.Contains(got, Redacted) {
			t.Errorf("Redact(%q) = %q: keeps %q", c.in, got, c.leak)
		}
	}
	// A piece of a form with escapes, in lower case: as whole forms, either case; also
	// when the cut split an escape, its hex digits on one side ("%c3%a", "…f", "…9").
	r2 := NewRedactor("Tm/Tok-5f2a9c81d7e34b60", "Tm-Tök-é-5f2a9c81d7e34b60")
	for _, cut := range []string{
		"next=Tm%2FTok-5f2a...", "next=Tm%2fTok-5f2a...", "next=Tm%252fTok-5f2...", "…Tok-5f2a9c81d7e34b60",
		"…fTok-5f2a9c81d7e34b60", "…2fTok-5f2a9c81d7e34b60", "…252fTok-5f2a9c81d7e34b60",
		"next=Tm-T%c3%b6k-%c3%a...", "…3%b6k-%c3%a9-5f2a9c81d7e34b60", "…b6k-%c3%a9-5f2a9c81d7e34b60",
		`{"m":"Tm-T\u00f6k-\u00e...`, `{"m":"Tm-T\u00F6k-\u00E...`, `…e9-5f2a9c81d7e34b60"}`, `…6k-\u00e9-5f2a9c81d7e34b60"}`,
	} {
		if got := r2.Redact(cut); !strings.Contains(got, Redacted) || strings.Contains(got, "Tok-5f2") || strings.Contains(got, "k-%") || strings.Contains(got, `k-\u`) || strings.Contains(got, "9-5f2") {
			t.Errorf("Redact(%q) = %q: the piece kept", cut, got)
		}
	}
	for _, keep := range []string{
		"no marker here: " + token[:20] + " and more",
		"short: tm-ve...",
		"a cut elsewhere: hello world...",
		"...",
		"…" + token[:5],
	} {
		if got := r.Redact(keep); got != keep {
			t.Errorf("Redact(%q) = %q, want it unchanged", keep, got)
		}
	}
}

// TestRedactorQuotedForms: a token with the characters other encoders escape, written
// as Go's %q, JSON without HTML escapes, JSON with `\/` and ASCII-only \u escapes,
// and those \u escapes with their hex digits in upper case (.NET writes "\u003C", Go
// "\u003c"), is removed in each.
func TestRedactorQuotedForms(t *testing.T) {
	for _, token := range []string{`Tm"Tok&en<1>-5f2a9c81`, `ab\cd/ef+gh==`, "tökén-é-5f2a9c81", "tab\there-5f2a9c81", "Tm/Tok-5f2a9c81d7e34b60aa"} {
		r := NewRedactor(token)
		jsonPlain := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\t", `\t`).Replace(token)
		for _, form := range []string{
			strconv.Quote(token),
			strconv.QuoteToASCII(token),
			`"` + jsonPlain + `"`,
			`"` + strings.ReplaceAll(jsonPlain, "/", `\/`) + `"`,
			upperUHex(strconv.QuoteToASCII(token)),
			upperUHex(string(must1(json.Marshal(token)))),
		} {
			line := "error body: {\"message\":" + form + "}"
			if got := r.Redact(line); strings.Contains(got, strings.Trim(form, `"`)) {
				t.Errorf("token %q, form %s: not removed: %q", token, form, got)
			}
			// The JSON body printed with %q, as containers/image prints an error body.
			quoted := strconv.Quote(`{"m":` + form + `}`)
			inner := strings.Trim(strconv.Quote(strings.Trim(form, `"`)), `"`)
			if got := r.Redact("reading manifest: " + quoted); strings.Contains(got, inner) {
				t.Errorf("token %q, form %s quoted by %%q: not removed: %q", token, form, got)
			}
		}
	}
}

// upperUHex writes the hex digits of s's \u escapes in upper case.
func upperUHex(s string) string {
	return regexp.MustCompile(`\\u[0-9a-f]{4}`).ReplaceAllStringFunc(s, func(e string) string { return `\u` + strings.ToUpper(e[2:]) })
}

func BenchmarkRedactCut(b *testing.B) {
	const token = "tm-vendor-token-5f2a9c81d7e34b60-a1b2c3d4e5f6a7b8"
	r := NewRedactor(token, "registry-password-93c1e07a")
	line := fmt.Sprintf("ERROR: vault/core:5.0.3: reading manifest: %q", ("credential rejected: " + token)[:50]+"...")
	for b.Loop() {
		r.Redact(line)
	}
}

// TestRedactorCutCost: a text full of cut marks (a registry's long error message) costs
// one lookup a mark, not a comparison with every form: 1 MiB of "..." redacts in well
// under a second (about 5 µs a byte before).
func TestRedactorCutCost(t *testing.T) {
	r := NewRedactor("tm-vendor-token-5f2a9c81d7e34b60-a1b2c3d4e5f6a7b8", "registry-password-93c1e07a")
	// Linear, not quadratic: 4 times the text may cost up to 8 times the time (linear
	// gives 4, the quadratic first version 16). Compared with itself, not with a clock
	// bound, so that a loaded machine does not fail it; the fastest of 3 tries each.
	cost := func(text string, check func(got string)) time.Duration {
		best := time.Duration(1<<63 - 1)
		for range 3 {
			start := time.Now()
			got := r.Redact(text)
			best = min(best, time.Since(start))
			check(got)
		}
		return best
	}
	for _, c := range []struct {
		name, unit string
		check      func(t *testing.T, text, got string)
	}{
		{"cut marks", "x...", func(t *testing.T, text, got string) {
			if got != text {
				t.Fatalf("text without a secret changed")
			}
		}},
		// Every mark with a piece of the token before it: each found.
		{"pieces and marks", "tm-ven...", func(t *testing.T, _, got string) {
			if strings.Contains(got, "tm-ven") {
				t.Fatalf("a piece before a mark kept")
			}
		}},
	} {
		small, large := strings.Repeat(c.unit, 1<<15), strings.Repeat(c.unit, 1<<17)
		ts := cost(small, func(got string) { c.check(t, small, got) })
		tl := cost(large, func(got string) { c.check(t, large, got) })
		if tl > 8*ts+50*time.Millisecond {
			t.Errorf("%s: %d KiB in %s, 4 times as much in %s: not linear", c.name, len(small)>>10, ts, tl)
		}
		t.Logf("%s: %d KiB in %s, %d KiB in %s", c.name, len(small)>>10, ts, len(large)>>10, tl)
	}
	text := strings.Repeat("x...", 1<<18)
	// With a piece before one mark in the middle: found, and only it.
	text = text[:1<<19] + "tm-vendor-tok..." + text[1<<19:]
	if got := r.Redact(text); strings.Contains(got, "tm-vendor-tok") || len(got) != len(text)-len("tm-vendor-tok")+len(Redacted) {
		t.Errorf("the piece in the middle: not removed alone")
	}
}
