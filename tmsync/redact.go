package tmsync

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
)

// Redacted replaces a secret in any text tmsync prints, logs or writes.
const Redacted = "[REDACTED]"

// minSecretLen is the shortest secret that is redacted: replacing every occurrence of a
// one- or two-letter password would garble every line and hide nothing.
const minSecretLen = 4

// Redactor removes secrets (the vendor token, registry passwords) from text that tmsync
// did not write: a registry or the attestation server can echo the credential it was sent
// in an error body, which then reaches an error message. Every output of a run goes
// through one Redactor: the console, the log records, the report's fields, the error log
// and the JUnit file.
//
// For each secret it removes the secret as it is, URL-escaped (query and path), JSON-
// escaped, and base64 in the standard and URL alphabets at each of the three byte
// alignments, and those base64 forms URL-escaped: so "Basic base64(user:token)", base64
// of the token alone, the token inside a larger base64 blob (an auth.json entry) and an
// Authorization header echoed in a redirect URL are all caught. A form's percent-escapes
// match with their hex digits in either case, each on its own ("%2f...%3D"), and so do
// those of an escape escaped again ("%252f"); the secret's own characters match exactly,
// except that a secret holding a percent-escape of its own ("p%2fss") also matches with
// that escape's hex digits in the other case. It also removes the secret quoted as other
// encoders quote it (quotedForms: Go's %q, JSON without HTML escapes or with `\/`,
// ASCII-only \u escapes), as servers and clients other than Go's write it in a URL, a
// JSON string or an HTML page (echoForms: RFC 3986's and Python's percent-escapes,
// System.Text.Json's "\u002B", "&amp;"...; the hex digits of a JSON \u escape and of an
// HTML "&#x2B;", like a percent-escape's, match in either case), and what a cut text kept
// of a form next to its "..." or "…" (redactCuts). A Redactor is safe for concurrent
// use; its zero value redacts nothing until Add is called.
type Redactor struct {
	mu       sync.RWMutex
	secrets  map[string]bool
	patterns []pattern // longest first, so that a longer form is replaced before its parts
	// byFirst lists, by first byte, the indexes in patterns of the patterns, in patterns'
	// order; pairs has a bit set for each pattern's first two bytes (both cases of a
	// folding second byte): a place in the text where no pattern begins costs a lookup.
	byFirst [256][]int
	pairs   *[1 << 16 / 64]uint64
	// windows are the minCut-byte pieces of the patterns: a piece a cut kept of a form
	// holds one at its cut end (redactCuts).
	windows map[string]bool
}

// pattern is a form of a secret, the hex digits of its percent-escapes, JSON \u escapes
// and HTML hex escapes (and those escapes' 'x') in upper case; fold marks those bytes,
// which match a lower-case letter too.
type pattern struct {
	s    string
	fold []bool // nil when s has no escape
}

// NewRedactor returns a Redactor of secrets.
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Add(secrets...)
	return r
}

// Add adds secrets. Empty and very short ones (under four bytes) are ignored.
func (r *Redactor) Add(secrets ...string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.secrets == nil {
		r.secrets = map[string]bool{}
	}
	changed := false
	for _, s := range secrets {
		if len(s) < minSecretLen || r.secrets[s] {
			continue
		}
		r.secrets[s] = true
		changed = true
	}
	if !changed {
		return
	}
	seen := map[string]bool{}
	r.patterns = r.patterns[:0]
	for s := range r.secrets {
		for _, f := range secretForms(s) {
			p := newPattern(f)
			if len(p.s) >= minSecretLen && !seen[p.s] {
				seen[p.s] = true
				r.patterns = append(r.patterns, p)
			}
		}
	}
	sort.Slice(r.patterns, func(i, j int) bool {
		if len(r.patterns[i].s) != len(r.patterns[j].s) {
			return len(r.patterns[i].s) > len(r.patterns[j].s)
		}
		return r.patterns[i].s < r.patterns[j].s
	})
	r.byFirst = [256][]int{}
	r.pairs = new([1 << 16 / 64]uint64)
	for i, p := range r.patterns {
		r.byFirst[p.s[0]] = append(r.byFirst[p.s[0]], i)
		second := []byte{p.s[1]}
		if p.fold != nil && p.fold[1] && 'A' <= p.s[1] && p.s[1] <= 'Z' {
			second = append(second, p.s[1]+('a'-'A'))
		}
		for _, c := range second {
			k := uint(p.s[0])<<8 | uint(c)
			r.pairs[k/64] |= 1 << (k % 64)
		}
	}
	r.windows = map[string]bool{}
	for _, p := range r.patterns {
		for i := 0; i+minCut <= len(p.s); i++ {
			k := windowKey(p.s[i : i+minCut])
			r.windows[string(k[:])] = true
		}
	}
}

// newPattern returns the pattern of a form: its percent-escapes ('%' and two hex digits)
// with their hex digits upper-cased and marked to fold, and so the escapes within the
// escape of a '%' ("%252f" is "%2f" escaped once more: its "2f" too); and so the four hex
// digits of a JSON \u escape (Go writes "\u003c", .NET "\u003C"), also when its
// backslash is percent-escaped ("%5Cu003c": a JSON text in a URL); and so the 'x' and the
// hex digits of an HTML hex escape (.NET writes "&#x2B;", others "&#x2b;", and HTML reads
// "&#X2B;" too).
func newPattern(f string) pattern {
	if strings.IndexByte(f, '%') < 0 && !strings.Contains(f, `\u`) && !strings.Contains(f, "&#") {
		return pattern{s: f}
	}
	b := []byte(f)
	fold := make([]bool, len(b))
	folded := false
	for i := 0; i+2 < len(b); i++ {
		if b[i] != '%' || !isHex(b[i+1]) || !isHex(b[i+2]) {
			continue
		}
		// "%25" is an escaped '%': the two hex digits after it are an escape's too.
		for j := i + 1; j+1 < len(b) && isHex(b[j]) && isHex(b[j+1]); j += 2 {
			for _, k := range []int{j, j + 1} {
				fold[k] = true
				if b[k] >= 'a' && b[k] <= 'f' {
					b[k] -= 'a' - 'A'
				}
			}
			folded = true
			if b[j] != '2' || b[j+1] != '5' {
				break
			}
		}
		i += 2
	}
	for i := 1; i+4 < len(b); i++ {
		// A 'u' after a backslash, or after an escape's "5C" (an escaped backslash).
		if b[i] != 'u' || b[i-1] != '\\' && !(i >= 3 && fold[i-1] && b[i-2] == '5' && b[i-1] == 'C') {
			continue
		}
		if !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
			continue
		}
		for k := i + 1; k <= i+4; k++ {
			fold[k] = true
			if b[k] >= 'a' && b[k] <= 'f' {
				b[k] -= 'a' - 'A'
			}
		}
		folded = true
		i += 4
	}
	for i := 0; i+4 < len(b); i++ {
		// "&#x", one or more hex digits, ';'.
		if b[i] != '&' || b[i+1] != '#' || b[i+2] != 'x' && b[i+2] != 'X' {
			continue
		}
		end := i + 3
		for end < len(b) && isHex(b[end]) {
			end++
		}
		if end == i+3 || end == len(b) || b[end] != ';' {
			continue
		}
		for k := i + 2; k < end; k++ {
			fold[k] = true
			if b[k] >= 'a' && b[k] <= 'z' {
				b[k] -= 'a' - 'A'
			}
		}
		folded = true
		i = end
	}
	if !folded {
		return pattern{s: f}
	}
	return pattern{s: string(b), fold: fold}
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// at reports whether p occurs in s at i, but for its first byte (byFirst matched it).
func (p *pattern) at(s string, i int) bool {
	return len(s)-i >= len(p.s) && p.matches(s[i+1:i+len(p.s)], 1)
}

// matches reports whether t is p.s[i:i+len(t)], the letters of p's escapes in either
// case: a whole form (at) or a piece a cut kept of one (redactCuts).
func (p *pattern) matches(t string, i int) bool {
	if p.fold == nil {
		return t == p.s[i:i+len(t)]
	}
	for j := 0; j < len(t); j++ {
		if c := t[j]; c != p.s[i+j] && !(p.fold[i+j] && 'a' <= c && c <= 'z' && c-('a'-'A') == p.s[i+j]) {
			return false
		}
	}
	return true
}

// secretForms are the spellings of s that may appear in text: raw, escaped, and base64.
func secretForms(s string) []string {
	forms := []string{s, url.QueryEscape(s), url.PathEscape(s)}
	if j, err := json.Marshal(s); err == nil {
		forms = append(forms, strings.Trim(string(j), `"`))
	}
	forms = append(forms, quotedForms(s)...)
	// The escaped forms go into base64 too: a JSON document with the token in it, then
	// encoded, holds its JSON escape.
	for _, f := range append([]string(nil), forms...) {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			for _, c := range base64Cores(enc, f) {
				// A standard-alphabet core holds '+' and '/': once it is in a URL (a
				// redirect to "...?auth=Basic+X3Rt%2B..."), it is escaped.
				forms = append(forms, c, url.QueryEscape(c), url.PathEscape(c))
			}
		}
	}
	// Other encoders' spellings (echoForms) are what a server echoes, not what a client
	// encodes: they are not base64-encoded, which keeps their number small. Their URL
	// spellings are escaped once more below, as Go's are.
	urls, texts := echoForms(s)
	forms = append(forms, urls...)
	// A URL carried in another URL's query (a redirect's "next=") is query-escaped once
	// more, its path-escaped parts too; and maybe once more again.
	for _, f := range append([]string(nil), forms...) {
		if q := url.QueryEscape(f); q != f {
			forms = append(forms, q, url.QueryEscape(q))
		}
	}
	// Percent-escapes are case-insensitive (%2f is %2F), and so are a JSON \u escape's
	// hex digits: newPattern marks them.
	return append(forms, texts...)
}

// base64Cores returns, for each of the three byte offsets s can start at inside a base64
// stream, the run of characters that depend on the bytes of s alone: whatever bytes
// surround s ("user:" before the token, the rest of a JSON document after it), its
// encoding contains one of them.
func base64Cores(enc *base64.Encoding, s string) []string {
	var out []string
	n := len(s)
	for k := 0; k < 3; k++ {
		b := make([]byte, k+n)
		copy(b[k:], s)
		e := enc.EncodeToString(b)
		first := (8*k + 5) / 6    // first character whose 6 bits all come from s
		last := (8*(k+n) - 6) / 6 // last such character
		if last >= first && last < len(e) {
			out = append(out, e[first:last+1])
		}
	}
	return out
}

// Redact returns s with every form of every secret replaced by [REDACTED].
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.pairs == nil {
		return s
	}
	return redactCuts(r.redactForms(s), r.patterns, r.windows)
}

// redactForms replaces every whole form of every secret in s; r.mu is held.
func (r *Redactor) redactForms(s string) string {
	// Leftmost first and, at one place, the longest pattern (strings.Replacer's rule).
	var b strings.Builder
	last := 0
	for i := 0; i+1 < len(s); {
		if k := uint(s[i])<<8 | uint(s[i+1]); r.pairs[k/64]&(1<<(k%64)) == 0 {
			i++
			continue
		}
		n := 0
		for _, k := range r.byFirst[s[i]] {
			if p := &r.patterns[k]; p.at(s, i) {
				n = len(p.s)
				break
			}
		}
		if n == 0 {
			i++
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:i])
		b.WriteString(Redacted)
		i += n
		last = i
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// Clean is Redact then Sanitize: what every remote string goes through before it is
// printed, logged or written to a report.
func (r *Redactor) Clean(s string) string { return Sanitize(r.Redact(s)) }

// cleanError keeps an error's chain for errors.Is and errors.As but prints it cleaned.
type cleanError struct {
	msg string
	err error
}

func (e *cleanError) Error() string { return e.msg }
func (e *cleanError) Unwrap() error { return e.err }

// CleanError returns err with its message cleaned (Clean), still unwrapping to err. A
// *StartError stays a *StartError.
func (r *Redactor) CleanError(err error) error {
	if err == nil {
		return nil
	}
	var se *StartError
	if errors.As(err, &se) && se == err {
		return &StartError{Op: r.Clean(se.Op), Err: &cleanError{msg: r.Clean(se.Err.Error()), err: se.Err}}
	}
	msg := r.Clean(err.Error())
	if msg == err.Error() {
		return err
	}
	return &cleanError{msg: msg, err: err}
}

// cleanStrings replaces, in place, every string reachable from v (a pointer) by clean of
// it: struct fields, slices, maps and pointers. The report is cleaned with it, so that a
// field added later cannot be forgotten.
func cleanStrings(v reflect.Value, clean func(string) string) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			cleanStrings(v.Elem(), clean)
		}
	case reflect.String:
		if v.CanSet() {
			v.SetString(clean(v.String()))
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				cleanStrings(v.Field(i), clean)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			cleanStrings(v.Index(i), clean)
		}
	case reflect.Map:
		if v.IsNil() {
			return
		}
		for _, k := range v.MapKeys() {
			val := v.MapIndex(k)
			if val.Kind() == reflect.String {
				v.SetMapIndex(k, reflect.ValueOf(clean(val.String())).Convert(val.Type()))
			}
		}
	}
}

// Clean redacts and sanitizes every string field of the report (reasons, sources,
// occurrence names, repository changes...). The engine cleans the report it returns; the
// command line cleans it again after adding to it, before writing it.
func (r *Report) Clean(red *Redactor) {
	cleanStrings(reflect.ValueOf(r), red.Clean)
}

// cleanObserver passes every event through the run's Redactor.
type cleanObserver struct {
	next Observer
	red  *Redactor
}

func (o cleanObserver) Event(e Event) {
	e.Image, e.Message = o.red.Clean(e.Image), o.red.Clean(e.Message)
	o.next.Event(e)
}

// cleanHandler is a slog.Handler that cleans a record's message and every attribute's
// value before the next handler sees it.
type cleanHandler struct {
	next slog.Handler
	red  *Redactor
}

func (h cleanHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h cleanHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.red.Clean(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h cleanHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(h.red.Clean(a.Key), h.red.Clean(v.String()))
	case slog.KindGroup:
		var as []any
		for _, g := range v.Group() {
			as = append(as, h.attr(g))
		}
		return slog.Group(h.red.Clean(a.Key), as...)
	case slog.KindAny:
		// errors, Stringers and anything else: as the text a handler would print.
		return slog.String(h.red.Clean(a.Key), h.red.Clean(v.String()))
	}
	return slog.Attr{Key: h.red.Clean(a.Key), Value: v}
}

func (h cleanHandler) WithAttrs(as []slog.Attr) slog.Handler {
	cleaned := make([]slog.Attr, len(as))
	for i, a := range as {
		cleaned[i] = h.attr(a)
	}
	return cleanHandler{next: h.next.WithAttrs(cleaned), red: h.red}
}

func (h cleanHandler) WithGroup(name string) slog.Handler {
	return cleanHandler{next: h.next.WithGroup(h.red.Clean(name)), red: h.red}
}

// AddAuthFile adds the passwords and identity tokens of an auth.json (the "auths"
// entries; credential helpers are not run) to the Redactor: an upstream registry that
// echoes its credential must not put it in tmsync's output either. A file that cannot be
// read adds nothing.
func (r *Redactor) AddAuthFile(path string) {
	if r == nil || path == "" {
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var f struct {
		Auths map[string]struct {
			Auth          string `json:"auth"`
			IdentityToken string `json:"identitytoken"`
		} `json:"auths"`
	}
	if json.Unmarshal(data, &f) != nil {
		return
	}
	for _, a := range f.Auths {
		r.Add(a.IdentityToken)
		if dec, err := base64.StdEncoding.DecodeString(a.Auth); err == nil {
			if _, pass, ok := strings.Cut(string(dec), ":"); ok {
				r.Add(pass)
			}
		}
	}
}

// Handler returns a slog.Handler that cleans (Clean) every record's message and
// attributes, then passes it to next: for log records that do not come through the
// engine (the command line's own, containers/image's).
func (r *Redactor) Handler(next slog.Handler) slog.Handler { return cleanHandler{next: next, red: r} }
