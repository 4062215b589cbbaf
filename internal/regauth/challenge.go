package regauth

import (
	"fmt"
	"net/http"
	"strings"
)

// Challenge is one challenge of a WWW-Authenticate header (RFC 7235 section 4.1).
type Challenge struct {
	// Scheme is the auth scheme in lower case: "basic", "bearer", ….
	Scheme string
	// Params holds the auth-params by lower-case name, values unquoted and unescaped. A
	// name given twice keeps its first value.
	Params map[string]string
	// Token68 is the challenge's token68 form (`Negotiate abc==`), "" if it has params.
	Token68 string
}

// Realm is the challenge's realm parameter ("" without one).
func (c Challenge) Realm() string { return c.Params["realm"] }

// Service is the challenge's service parameter ("" without one).
func (c Challenge) Service() string { return c.Params["service"] }

// Challenges parses every WWW-Authenticate header of h: a server may send several
// headers, and several challenges in one. A header that does not parse ends the list
// with an error; the challenges read before it are returned.
func Challenges(h http.Header) ([]Challenge, error) {
	var all []Challenge
	for _, v := range h.Values("WWW-Authenticate") {
		cs, err := Parse(v)
		all = append(all, cs...)
		if err != nil {
			return all, err
		}
	}
	return all, nil
}

// Pick is the challenge a client answers: the first Basic or Bearer challenge in the
// server's order. A Bearer challenge without a realm cannot be answered and is passed
// over. This is more lenient than containers/image (the copies), which reads only the
// first challenge of each header, allows no space around "=" and cuts an unquoted value
// at ':': a header it misreads can pass here. Real registries send the plain forms.
func Pick(cs []Challenge) (Challenge, bool) {
	for _, c := range cs {
		switch {
		case c.Scheme == "basic":
			return c, true
		case c.Scheme == "bearer" && c.Realm() != "":
			return c, true
		}
	}
	return Challenge{}, false
}

// Parse reads the challenges of one WWW-Authenticate header value:
//
//	challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//	auth-param = token BWS "=" BWS ( token / quoted-string )
//
// Challenges and auth-params are separated by commas. An unquoted value may be any run
// of visible characters but comma and quote (registries send unquoted URLs). Quoted
// values may hold commas and backslash-escaped quotes; the scheme and parameter names
// are case-insensitive. On a syntax error Parse returns the challenges read before it
// (the one being read too, when it already has parameters: `realm="…",service="x"
// scope="y"` still names its realm) and an error naming the byte offset. A header of
// more than MaxChallenges challenges, or a challenge of more than MaxParams parameters,
// is cut there with an error: a hostile registry cannot make the parser build without
// bound from a 10 MB header.
func Parse(h string) ([]Challenge, error) {
	p := parser{s: h}
	var out []Challenge
	for {
		p.skipListSeparators()
		if p.eof() {
			return out, nil
		}
		if len(out) == MaxChallenges {
			return out, p.errorf("more than %d challenges", MaxChallenges)
		}
		scheme := p.token()
		if scheme == "" {
			return out, p.errorf("expected an auth scheme")
		}
		c := Challenge{Scheme: strings.ToLower(scheme), Params: map[string]string{}}
		if p.eof() || p.peek() == ',' {
			out = append(out, c)
			continue
		}
		if p.peek() != ' ' && p.peek() != '\t' {
			return out, p.errorf("expected a space after the scheme %q", Clip(scheme))
		}
		p.skipSpace()
		if t, ok := p.token68(); ok {
			c.Token68 = t
			out = append(out, c)
			continue
		}
		if err := p.params(c.Params); err != nil {
			if len(c.Params) > 0 {
				out = append(out, c)
			}
			return out, err
		}
		out = append(out, c)
	}
}

// MaxChallenges and MaxParams bound what Parse builds from one header.
const (
	MaxChallenges = 16
	MaxParams     = 32
)

type parser struct {
	s   string
	pos int
}

func (p *parser) eof() bool  { return p.pos >= len(p.s) }
func (p *parser) peek() byte { return p.s[p.pos] }

func (p *parser) errorf(format string, a ...any) error {
	return fmt.Errorf("WWW-Authenticate at byte %d: %s", p.pos, fmt.Sprintf(format, a...))
}

func (p *parser) skipSpace() {
	for !p.eof() && (p.peek() == ' ' || p.peek() == '\t') {
		p.pos++
	}
}

// skipListSeparators skips white space and empty list elements (RFC 7230 section 7).
func (p *parser) skipListSeparators() {
	for !p.eof() && (p.peek() == ' ' || p.peek() == '\t' || p.peek() == ',') {
		p.pos++
	}
}

func isTchar(b byte) bool {
	switch {
	case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
}

func (p *parser) token() string {
	start := p.pos
	for !p.eof() && isTchar(p.peek()) {
		p.pos++
	}
	return p.s[start:p.pos]
}

// token68 reads a token68 when one stands here alone (followed by the end or a comma);
// otherwise it leaves the position as it was.
func (p *parser) token68() (string, bool) {
	start := p.pos
	for !p.eof() && isToken68Char(p.peek()) {
		p.pos++
	}
	if p.pos == start {
		return "", false
	}
	for !p.eof() && p.peek() == '=' {
		p.pos++
	}
	end := p.pos
	p.skipSpace()
	if p.eof() || p.peek() == ',' {
		return p.s[start:end], true
	}
	p.pos = start
	return "", false
}

func isToken68Char(b byte) bool {
	switch {
	case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		return true
	}
	return strings.IndexByte("-._~+/", b) >= 0
}

// params reads the auth-params of one challenge into m. It stops before a token that is
// not followed by "=": the scheme of the next challenge.
func (p *parser) params(m map[string]string) error {
	for first := true; ; first = false {
		mark := p.pos
		name := p.token()
		if name == "" {
			return p.errorf("expected a parameter name")
		}
		p.skipSpace()
		if p.eof() || p.peek() != '=' {
			if first {
				return p.errorf("expected '=' after %q", Clip(name))
			}
			p.pos = mark // a token after a comma without '=': the next challenge's scheme
			return nil
		}
		p.pos++ // '='
		p.skipSpace()
		var val string
		if !p.eof() && p.peek() == '"' {
			v, err := p.quoted()
			if err != nil {
				return err
			}
			val = v
		} else {
			val = p.bare()
			if val == "" {
				return p.errorf("expected a value for %q", Clip(name))
			}
		}
		key := strings.ToLower(name)
		if _, seen := m[key]; !seen {
			if len(m) == MaxParams {
				return p.errorf("more than %d parameters", MaxParams)
			}
			m[key] = val
		}
		p.skipSpace()
		if p.eof() {
			return nil
		}
		if p.peek() != ',' {
			return p.errorf("expected ',' after the value of %q", Clip(name))
		}
		// Commas separate both the params and the challenges: look past them.
		p.skipListSeparators()
		if p.eof() {
			return nil
		}
	}
}

// bare reads an unquoted value. RFC 7235 wants a token, but registries send unquoted
// URLs too (`realm=https://…`): everything up to white space or a comma is taken.
func (p *parser) bare() string {
	start := p.pos
	for !p.eof() && p.peek() > ' ' && p.peek() < 0x7f && p.peek() != ',' && p.peek() != '"' {
		p.pos++
	}
	return p.s[start:p.pos]
}

// quoted reads a quoted-string, undoing its backslash escapes.
func (p *parser) quoted() (string, error) {
	start := p.pos
	p.pos++ // opening quote
	var b strings.Builder
	for !p.eof() {
		c := p.peek()
		switch {
		case c == '"':
			p.pos++
			return b.String(), nil
		case c < 0x20 && c != '\t' || c == 0x7f:
			return "", p.errorf("control character in a quoted value")
		case c == '\\':
			p.pos++
			if p.eof() {
				break
			}
			if e := p.peek(); e < 0x20 && e != '\t' || e == 0x7f {
				return "", p.errorf("control character in a quoted value")
			}
			b.WriteByte(p.peek())
		default:
			b.WriteByte(c)
		}
		p.pos++
	}
	p.pos = start
	return "", p.errorf("unterminated quoted value")
}
