package tmsync

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Sanitize makes text that tmsync did not write safe to print on one line: it escapes
// every byte or rune that could start a new line, move the cursor, repaint a terminal or
// reorder what a reader sees. A registry's error body, an occurrence name from the
// attestation server or a line of a release file can carry "\nINFO: ... DONE" or
// "\x1b[2J"; after Sanitize they are visible as \n and \x1b, on the line that quotes them.
//
// Escaped: C0 controls and DEL (\n, \r, \t, \x1b...), C1 controls (U+0080-U+009F), the
// Unicode line and paragraph separators, the bidirectional marks, embeddings, overrides
// and isolates, and bytes that are not UTF-8 (\xff). Printable text, backslashes
// included, is left as it is.
func Sanitize(s string) string {
	clean := true
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if unsafeRune(r, n) {
			clean = false
			break
		}
		i += n
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r, n):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func unsafeRune(r rune, n int) bool {
	switch {
	case r == utf8.RuneError && n == 1: // not UTF-8
		return true
	case r < 0x20 || r == 0x7f: // C0, DEL
		return true
	case r >= 0x80 && r <= 0x9f: // C1 (CSI is U+009B)
		return true
	case r == 0x2028 || r == 0x2029: // line and paragraph separators
		return true
	case r == 0x061c || r == 0x200e || r == 0x200f: // bidi marks
		return true
	case r >= 0x202a && r <= 0x202e: // bidi embeddings and overrides
		return true
	case r >= 0x2066 && r <= 0x2069: // bidi isolates
		return true
	case r == 0xfeff: // byte order mark, invisible
		return true
	}
	return false
}
