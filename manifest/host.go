package manifest

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// CanonicalRegistry returns the canonical form of a registry host ("host" or "host:port"),
// the form in which two spellings of one registry are equal. It is for comparing hosts
// (is this the vendor's registry? may the vendor's credentials go there?), not for
// connecting: keep the operator's spelling to connect.
//
// The canonical form is:
//   - lower case, with one trailing dot of a fully qualified name dropped
//     ("Docker.External.ThoughtMachine.io." is "docker.external.thoughtmachine.io");
//   - without the port when it is 443, the https port a bare host means, and with the port
//     as a plain decimal number otherwise (":0443" is dropped too). Port 80 is kept: a
//     registry named "host:80" is reached on another port than "host" (which means https
//     on 443), and treating the two as one would let a credential meant for the TLS
//     endpoint go to port 80. An image named on the vendor's host at another port is
//     therefore not on the vendor's registry (the vendor serves its registry on 443);
//   - "localhost" for every spelling of this machine's loopback registry: "localhost",
//     "127.0.0.1", "::1" or "[::1]" (any IPv6 spelling of it, IPv4-mapped
//     "[::ffff:127.0.0.1]" too), and the unspecified addresses "0.0.0.0" and "[::]",
//     which connect to this machine. Other 127.x.y.z addresses and "*.localhost" names
//     are other hosts;
//   - an IPv4 address in dotted decimal, an IPv6 address in brackets in its RFC 5952
//     form.
//
// It returns an error, and no host, for anything else: an empty host; non-ASCII
// characters (write an internationalized name in its ASCII "xn--" form: Unicode
// lookalikes are never folded onto an ASCII host); a URL, a path, a userinfo ("user@"),
// white space or any character not allowed in a host name; empty, over-long or
// hyphen-edged labels; a bad or zero port; an IPv6 zone; and numeric hosts that are not a
// dotted-decimal IPv4 address ("127.1", "0x7f000001", "127.000.0.1", "1.2.3.4.5"), which
// some resolvers read as addresses and others as names.
func CanonicalRegistry(host string) (string, error) {
	h, err := parseRegistryHost(host)
	if err != nil {
		return "", err
	}
	return h.canonical(), nil
}

// SameRegistry reports whether a and b name the same registry: both are valid hosts
// (CanonicalRegistry) and their canonical forms are equal. A host that is not valid is
// the same registry as nothing, not even itself.
func SameRegistry(a, b string) bool {
	ca, err := CanonicalRegistry(a)
	if err != nil {
		return false
	}
	cb, err := CanonicalRegistry(b)
	return err == nil && ca == cb
}

// registryHost is a parsed registry host.
type registryHost struct {
	name     string // lower-case host name without trailing dot, dotted IPv4, or "[ipv6]"
	port     string // decimal port, "" for none or 443
	loopback bool   // this machine: localhost, 127.0.0.1, ::1, 0.0.0.0, ::
}

func (h registryHost) canonical() string {
	name := h.name
	if h.loopback {
		name = "localhost"
	}
	return joinPort(name, h.port)
}

// tidy is the host as written but in canonical case, without trailing dot or default
// port: the form tmsync connects to. Loopback names are kept as written.
func (h registryHost) tidy() string { return joinPort(h.name, h.port) }

func joinPort(name, port string) string {
	if port == "" {
		return name
	}
	return name + ":" + port
}

const maxHostLen = 253 + len(":65535") + len("[]")

func parseRegistryHost(s string) (registryHost, error) {
	bad := func(format string, args ...any) (registryHost, error) {
		return registryHost{}, fmt.Errorf("registry host %q: %s", s, fmt.Sprintf(format, args...))
	}
	switch {
	case s == "":
		return registryHost{}, fmt.Errorf("registry host is empty; expected host[:port]")
	case len(s) > maxHostLen:
		return bad("%d bytes; a host name has at most 253", len(s))
	}
	switch {
	case strings.IndexFunc(s, func(r rune) bool { return r >= 0x80 }) >= 0:
		return bad("has non-ASCII characters; expected an ASCII host name (an internationalized name in its xn-- form)")
	case strings.ContainsAny(s, "/?#"):
		return bad("is a URL or a reference, not a host; expected host[:port]")
	case strings.Contains(s, "@"):
		return bad("has a userinfo (user@); expected host[:port]")
	case strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		return bad("has white space or a control character; expected host[:port]")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isHostByte(c) {
			return bad("has the character %q, which a host does not have; expected host[:port]", c)
		}
	}
	var hostPart, port string
	switch {
	case s[0] == '[':
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return bad("has '[' without ']'; expected [IPv6 address][:port]")
		}
		hostPart, port = s[1:end], s[end+1:]
		if port != "" && port[0] != ':' {
			return bad("has %q after ']'; expected [IPv6 address][:port]", port)
		}
		if port != "" {
			port = port[1:]
			if port == "" {
				return bad("has ':' without a port")
			}
		}
		a, err := netip.ParseAddr(hostPart)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return bad("%q in brackets is not an IPv6 address without zone", hostPart)
		}
		return withPort(ipHost(a), port, bad)
	case strings.Count(s, ":") > 1:
		// A bare IPv6 address, which cannot carry a port.
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return bad("is not host[:port] nor an IPv6 address; write an IPv6 address with a port as [address]:port")
		}
		return ipHost(a), nil
	case strings.ContainsAny(s, "[]"):
		return bad("has a bracket outside of [IPv6 address]")
	}
	hostPart, port, hasPort := strings.Cut(s, ":")
	if hasPort && port == "" {
		return bad("has ':' without a port")
	}
	name := strings.ToLower(strings.TrimSuffix(hostPart, "."))
	if name == "" {
		return bad("has no host name; expected host[:port]")
	}
	if len(name) > 253 {
		return bad("host name has %d characters; at most 253", len(name))
	}
	labels := strings.Split(name, ".")
	numeric := true
	for _, l := range labels {
		switch {
		case l == "":
			return bad("has an empty label (\"..\" or a leading '.')")
		case len(l) > 63:
			return bad("label %q has %d characters; at most 63", l, len(l))
		case l[0] == '-' || l[len(l)-1] == '-':
			return bad("label %q begins or ends with '-'", l)
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return bad("label %q has %q; host names have letters, digits and '-'", l, c)
			}
		}
		numeric = numeric && looksNumeric(l)
	}
	if numeric || isDigits(labels[len(labels)-1]) {
		// An address, or what inet_aton would read as one: only dotted decimal is
		// unambiguous.
		a, err := netip.ParseAddr(name)
		if err != nil || !a.Is4() || a.String() != name {
			return bad("is numeric but not an IPv4 address in dotted decimal (like 127.0.0.1)")
		}
		return withPort(ipHost(a), port, bad)
	}
	return withPort(registryHost{name: name, loopback: name == "localhost"}, port, bad)
}

func withPort(h registryHost, port string, bad func(string, ...any) (registryHost, error)) (registryHost, error) {
	if port == "" {
		return h, nil
	}
	if !isDigits(port) {
		return bad("port %q is not a number", port)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return bad("port %q is not in 1 to 65535", port)
	}
	if n != 443 {
		h.port = strconv.FormatUint(n, 10)
	}
	return h, nil
}

// ipHost is the host of an address; the address must be valid and without zone.
func ipHost(a netip.Addr) registryHost {
	a = a.Unmap()
	h := registryHost{loopback: a.IsUnspecified() || a == netip.IPv6Loopback() || a == netip.AddrFrom4([4]byte{127, 0, 0, 1})}
	if a.Is4() {
		h.name = a.String()
	} else {
		h.name = "[" + a.String() + "]"
	}
	return h
}

func isHostByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '-' || c == ':' || c == '[' || c == ']'
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// looksNumeric reports whether inet_aton could read label as a number: decimal, octal
// or 0x hex.
func looksNumeric(l string) bool {
	if len(l) > 1 && (l[:2] == "0x") {
		for i := 2; i < len(l); i++ {
			if c := l[i]; !(isDigit(c) || c >= 'a' && c <= 'f') {
				return false
			}
		}
		return true
	}
	return isDigits(l)
}
