package app

import (
	"os"
	"regexp"
	"strings"
)

// secretEnv are the environment variables that hold secrets tmsync reads. The command
// takes them out of its environment before anything can start a child process
// (containers/image runs the docker-credential-* helpers an auth.json names, which
// inherit the environment): a helper for an upstream registry must not see the vendor
// token or the AWS keys.
//
// The AWS SDK reads its static keys from the environment once, when the configuration is
// loaded (setup), so they are removed after that, by setup; TM_TOKEN is removed
// here, first thing.
var secretEnv = []string{"TM_TOKEN"}

// takeSecretEnv returns the vendor token from TM_TOKEN and removes every secret variable
// from the environment. The token is trimmed of surrounding white space (a trailing
// newline or CRLF from a file or a CI variable), as the Secrets Manager secret's is;
// blank reports a TM_TOKEN that is set, not empty, and white space only. An empty
// TM_TOKEN is no token, as an unset one. The returned function puts the variables back:
// main exits without calling it; tests that call run several times in one process need it.
func takeSecretEnv() (token string, blank bool, restore func()) {
	saved := map[string]string{}
	for _, k := range append(secretEnv, awsSecretEnv...) {
		if v, ok := os.LookupEnv(k); ok {
			saved[k] = v
		}
	}
	raw := os.Getenv("TM_TOKEN")
	token = strings.TrimSpace(raw)
	blank = raw != "" && token == ""
	for _, k := range secretEnv {
		os.Unsetenv(k)
	}
	return token, blank, func() {
		for k, v := range saved {
			os.Setenv(k, v)
		}
	}
}

// awsSecretEnv are removed by setup once the AWS configuration is loaded; they are
// saved here to be put back for the next run of a test.
var awsSecretEnv = []string{"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"}

// argSecrets are the secrets written on the command line, found before any flag is
// parsed so that an error about any argument is redacted: the value of --srcpasswd (as
// given and trimmed) and of a flag tmsync does not have named like a token's (tokenFlag),
// and the password of a reference with credentials in it
// (user:password@host/repo).
func argSecrets(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := strings.TrimLeft(args[i], " \t") // " --srcpasswd=X" is an argument, echoed as one
		if a == "--" {
			continue
		}
		if name, ok := strings.CutPrefix(strings.TrimLeft(a, "-"), "srcpasswd"); ok && strings.HasPrefix(a, "-") {
			switch {
			case name == "" && i+1 < len(args):
				out = append(out, args[i+1], strings.TrimSpace(args[i+1]))
			case strings.HasPrefix(name, "="):
				out = append(out, name[1:], strings.TrimSpace(name[1:]))
			}
		}
		// A flag tmsync does not have but that looks like the token's place (--token,
		// --TM_TOKEN): the run refuses it, and its value is a token all the same.
		if name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "="); strings.HasPrefix(a, "-") && tokenFlag.MatchString(name) && !isSyncFlag(name) && !strings.HasPrefix(name, "srcpasswd") {
			switch {
			case hasVal:
				out = append(out, val, strings.TrimSpace(val))
			case i+1 < len(args) && !strings.HasPrefix(args[i+1], "-"):
				out = append(out, args[i+1], strings.TrimSpace(args[i+1]))
			}
		}
		if ui, ok := refUserinfo(a); ok {
			out = append(out, ui)
			if _, pass, ok := strings.Cut(ui, ":"); ok {
				out = append(out, pass)
			}
		}
	}
	return out
}

// refDigest is a digest at the end of a reference (@sha256:...), the only "@" a
// reference has other than one after credentials.
// The encoded part is 32 characters or more (a port, "@reg:5000", is not a digest).
var refDigest = regexp.MustCompile(`@[A-Za-z0-9_+.-]+:[A-Za-z0-9=_-]{32,}$`)

// refUserinfo is the user:password of a reference written with credentials in it,
// [scheme://]user:password@host/repo[:tag][@digest]: a registry reference has no such
// part, and a token pasted there must not be echoed back.
func refUserinfo(s string) (string, bool) {
	if strings.HasPrefix(s, "arn:") {
		return "", false // an AWS ARN (a secret's, a key's): its ':' and '@' are no credentials
	}
	if _, rest, ok := strings.Cut(s, "://"); ok {
		s = rest
	}
	s = refDigest.ReplaceAllString(s, "")
	i := strings.LastIndex(s, "@")
	if i <= 0 || strings.HasPrefix(strings.TrimSpace(s), "-") {
		return "", false // no "@" left, or a flag
	}
	// user:password@ whatever follows (host/repo, a single name, host:port); the user (a
	// token alone) only before host/repo: "name@host" alone may be an e-mail address.
	if !strings.Contains(s[:i], ":") && !strings.Contains(s[i:], "/") {
		return "", false
	}
	return s[:i], true
}

// maskRef is s with the credentials of a reference (see refUserinfo) replaced by
// user:[REDACTED], whatever their length (the Redactor leaves secrets under four bytes).
func maskRef(s string) string {
	ui, ok := refUserinfo(s)
	if !ok {
		return s
	}
	user, _, ok := strings.Cut(ui, ":")
	if !ok { // the token alone, as the user
		return strings.Replace(s, ui+"@", "[REDACTED]@", 1)
	}
	return strings.Replace(s, ui+"@", user+":[REDACTED]@", 1)
}

// maskRefs is maskRef of each of refs.
func maskRefs(refs []string) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = maskRef(r)
	}
	return out
}
