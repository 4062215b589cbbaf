package regauth

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
)

// show renders challenges as `scheme{k=v;…}` with sorted keys, token68 as `scheme[t]`.
func show(cs []Challenge) string {
	var parts []string
	for _, c := range cs {
		if c.Token68 != "" {
			parts = append(parts, c.Scheme+"["+c.Token68+"]")
			continue
		}
		keys := make([]string, 0, len(c.Params))
		for k := range c.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var kv []string
		for _, k := range keys {
			kv = append(kv, k+"="+c.Params[k])
		}
		parts = append(parts, c.Scheme+"{"+strings.Join(kv, ";")+"}")
	}
	return strings.Join(parts, " ")
}

func TestRegauthParseChallenge(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`Basic realm="r"`, `basic{realm=r}`},
		{`Bearer realm="https://auth.example/token",service="registry.example",scope="repository:x:pull"`,
			`bearer{realm=https://auth.example/token;scope=repository:x:pull;service=registry.example}`},
		// A quoted comma is part of the value, not a separator.
		{`Bearer realm="https://a/t?x=1,2",scope="repository:a:pull,push",service="s"`,
			`bearer{realm=https://a/t?x=1,2;scope=repository:a:pull,push;service=s}`},
		// Escaped quotes and backslashes inside a quoted value.
		{`Bearer realm="https://a/t",error="say \"hi\", \\ bye"`, `bearer{error=say "hi", \ bye;realm=https://a/t}`},
		// White space around '=' and ',' (BWS / OWS), tabs, empty list elements.
		{"Bearer  realm = \"https://a/t\" ,\tservice=s ,, scope=x", `bearer{realm=https://a/t;scope=x;service=s}`},
		// Case: scheme and names are case-insensitive, values are kept as sent.
		{`BEARER Realm="https://A/T",SERVICE=Reg`, `bearer{realm=https://A/T;service=Reg}`},
		{`bAsIc REALM=x`, `basic{realm=x}`},
		// Token values without quotes.
		{`Bearer realm=https://a/t,service=reg`, `bearer{realm=https://a/t;service=reg}`},
		// Several challenges in one header.
		{`Basic realm="b", Bearer realm="https://a/t",service="s"`, `basic{realm=b} bearer{realm=https://a/t;service=s}`},
		{`Bearer realm="https://a/t", scope="a,b", Basic realm="x, y"`, `bearer{realm=https://a/t;scope=a,b} basic{realm=x, y}`},
		{`Negotiate, Bearer realm="https://a/t"`, `negotiate{} bearer{realm=https://a/t}`},
		{`Negotiate abc+/==, Basic realm=x`, `negotiate[abc+/==] basic{realm=x}`},
		{`Bearer realm="https://a/t", Negotiate`, `bearer{realm=https://a/t} negotiate{}`},
		// A name given twice keeps the first value.
		{`Bearer realm="https://good/t",realm="https://evil/t"`, `bearer{realm=https://good/t}`},
		{`Bearer service="x"`, `bearer{service=x}`},
		// RFC 7235 reads "realm=" alone as a token68: a Bearer without a realm.
		{`Bearer realm=`, `bearer[realm=]`},
		{``, ``},
		{` , `, ``},
	} {
		got, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
		}
		if s := show(got); s != tc.want {
			t.Errorf("Parse(%q) = %s\n want %s", tc.in, s, tc.want)
		}
	}
}

func TestRegauthParseChallengeErrors(t *testing.T) {
	for _, tc := range []struct{ in, before string }{
		{`Bearer realm="https://a/t`, ``},                   // unterminated quote
		{`Bearer realm="https://a/t\`, ``},                  // escape at the end
		{`Bearer realm="x" service="y"`, `bearer{realm=x}`}, // no comma between params: the realm read so far is kept
		{`Bearer realm=,service=x`, `bearer[realm=]`},       // a token68, then "service=x" is no challenge
		{`Bearer realm = ,service=x`, ``},                   // no value
		{`Bearer realm="a"b`, `bearer{realm=a}`},            // text after a quoted value
		{"Bearer realm=\"a\x00b\"", ``},
		{"Bearer realm=\"a\\\x04b\"", ``},                    // an escaped control character
		{`Basic realm=x, Bearer realm="y`, `basic{realm=x}`}, // the first challenge survives
		{`="x"`, ``},                           // no scheme
		{`Bearer"realm"`, ``},                  // no space after the scheme
		{`Bearer foo bar`, ``},                 // neither token68 nor params
		{strings.Repeat("x", 1<<20) + `"`, ``}, // a huge scheme: the error quotes it clipped
	} {
		got, err := Parse(tc.in)
		if err == nil {
			t.Errorf("Parse(%q) = %s, want an error", tc.in, show(got))
			continue
		}
		if !strings.Contains(err.Error(), "WWW-Authenticate at byte") {
			t.Errorf("Parse(%q): error %q does not say where", tc.in, err)
		}
		if s := show(got); s != tc.before {
			t.Errorf("Parse(%q) kept %s, want %s", tc.in, s, tc.before)
		}
	}
}

func TestRegauthChallengesAndPick(t *testing.T) {
	h := http.Header{}
	h.Add("WWW-Authenticate", `Negotiate`)
	h.Add("Www-Authenticate", `Bearer service="no-realm"`)
	h.Add("WWW-Authenticate", `Bearer realm="https://a/t",service="s", Basic realm="r"`)
	cs, err := Challenges(h)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := Pick(cs)
	if !ok || c.Scheme != "bearer" || c.Realm() != "https://a/t" || c.Service() != "s" {
		t.Fatalf("Pick(%s) = %s %v, want the bearer with a realm", show(cs), show([]Challenge{c}), ok)
	}
	// The server's order decides between Basic and Bearer (as containers/image does).
	cs, _ = Parse(`Basic realm="r", Bearer realm="https://a/t"`)
	if c, ok := Pick(cs); !ok || c.Scheme != "basic" {
		t.Fatalf("Pick chose %s", show([]Challenge{c}))
	}
	for _, h := range []string{`Negotiate`, `Bearer service="x"`, ``, `Digest realm="x", NTLM`} {
		cs, _ := Parse(h)
		if c, ok := Pick(cs); ok {
			t.Errorf("Pick(%q) = %s, want none", h, show([]Challenge{c}))
		}
	}
}

// FuzzParse: Parse never panics, and what it returns renders and re-parses to the same
// challenges when the values are quoted again.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`Basic realm="r"`, `Bearer realm="https://a/t?x=1,2",service="s",scope="a,b"`,
		`Negotiate abc==, Basic realm=x`, `Bearer realm="a\"b"`, ` , ,`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := Parse(s)
		if err != nil {
			return
		}
		var parts []string
		for _, c := range cs {
			p := c.Scheme
			if c.Token68 != "" {
				p += " " + c.Token68
			}
			var kv []string
			for k, v := range c.Params {
				kv = append(kv, fmt.Sprintf(`%s="%s"`, k, strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v)))
			}
			sort.Strings(kv)
			if len(kv) > 0 {
				p += " " + strings.Join(kv, ", ")
			}
			parts = append(parts, p)
		}
		again, err := Parse(strings.Join(parts, ", "))
		if err != nil || show(again) != show(cs) {
			t.Fatalf("%q -> %s -> %q -> %s, %v", s, show(cs), strings.Join(parts, ", "), show(again), err)
		}
	})
}

// TestRegauthParseBounded: a hostile header (Go's client takes up to 10 MB of headers)
// is cut with an error, not built without bound, and the errors quote what the server
// sent clipped.
func TestRegauthParseBounded(t *testing.T) {
	got, err := Parse(strings.Repeat("a,", 1<<20))
	if err == nil || len(got) != MaxChallenges {
		t.Errorf("a million challenges: kept %d, error %v; want %d and an error", len(got), err, MaxChallenges)
	}
	var params strings.Builder
	for i := range MaxParams + 1 {
		fmt.Fprintf(&params, "p%d=1,", i)
	}
	got, err = Parse("Bearer realm=r," + params.String())
	if err == nil || len(got) != 1 || len(got[0].Params) != MaxParams || got[0].Realm() != "r" {
		t.Errorf("%d parameters: %v, error %v; want the first %d kept, realm first, and an error", MaxParams+2, got, err, MaxParams)
	}
	for _, h := range []string{strings.Repeat("x", 1<<20) + `"`, "Bearer " + strings.Repeat("n", 1<<20) + "=\"x\" y"} {
		if _, err := Parse(h); err == nil || len(err.Error()) > 300 {
			t.Errorf("a 1 MiB name: error of %d bytes (%v), want a short one", len(fmt.Sprint(err)), err != nil)
		}
	}
}
