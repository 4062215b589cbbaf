package attest

import (
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sanitize makes remote text (occurrence names, error bodies, note names) safe to print on
// one line: control characters (newlines, carriage returns, ESC and the rest of C0 and C1,
// DEL), Unicode format characters (bidirectional overrides, zero-width characters) and
// invalid UTF-8 are replaced by Go escapes (\n, \x1b, \u202e, \xff). Other text, back
// slashes included, is unchanged, so an escape in the output was an odd byte in the input
// or a literal back slash. Every error this package builds from remote text goes through
// it.
func Sanitize(s string) string {
	clean := true
	for _, r := range s {
		if unsafeRune(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x` + strconv.FormatUint(uint64(s[i])>>4, 16) + strconv.FormatUint(uint64(s[i])&0xf, 16))
		case unsafeRune(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) ||
		r == '\u2028' || r == '\u2029'
}

// minRedactLen is the shortest secret Redact looks for inside base64 text; shorter secrets
// are redacted in their raw and URL-escaped forms only.
const minRedactLen = 6

// Redact replaces secret in s by "REDACTED": raw, URL-escaped (query and path escaping),
// and base64-encoded (standard and URL alphabets) at any offset, as in the base64 of
// "user:secret" of a Basic Authorization header. At each end of a base64 occurrence up to
// four characters that also depend on the neighbouring bytes may remain (a few bits of the
// secret's first and last bytes). Secrets shorter than 6 bytes are looked for raw and
// URL-escaped only. An empty secret changes nothing.
func Redact(s, secret string) string {
	if secret == "" {
		return s
	}
	forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret)}
	if len(secret) >= minRedactLen {
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			for k := 0; k < 3; k++ {
				forms = append(forms, base64Core(enc, secret, k))
			}
		}
	}
	for _, f := range forms {
		if f != "" {
			s = strings.ReplaceAll(s, f, "REDACTED")
		}
	}
	return s
}

// base64Core is the part of the base64 text of (k bytes, secret, ...) that depends on the
// bytes of secret only.
func base64Core(enc *base64.Encoding, secret string, k int) string {
	full := enc.EncodeToString(append(make([]byte, k), secret...))
	start := 0
	if k > 0 {
		start = 4 // the first group mixes prefix bytes and secret bytes
	}
	end := (k + len(secret)) / 3 * 4 // the last partial group depends on what follows
	if end <= start {
		return ""
	}
	return full[start:end]
}
