package attest_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
)

// gnupg is a throwaway GNUPGHOME driven through the gpg command, to prove interop with how
// vendors sign (gpg --armor --sign).
type gnupg struct {
	t    *testing.T
	home string
}

func newGnuPG(t *testing.T) *gnupg {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skip("gpg not installed")
	}
	home := t.TempDir() // removed after the agent is killed (cleanups run last-in first-out)
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	g := &gnupg{t: t, home: home}
	t.Cleanup(func() {
		kill := exec.Command("gpgconf", "--kill", "gpg-agent")
		kill.Env = append(os.Environ(), "GNUPGHOME="+home)
		_ = kill.Run()
	})
	return g
}

func (g *gnupg) run(stdin []byte, args ...string) []byte {
	g.t.Helper()
	cmd := exec.Command("gpg", append([]string{"--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+g.home)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		g.t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes()
}

var fprRE = regexp.MustCompile(`(?m)^fpr:+([0-9A-F]{40}):`)

// genKey makes a key and returns its primary fingerprint.
func (g *gnupg) genKey(uid string, args ...string) string {
	g.run(nil, append([]string{"--quick-gen-key", uid}, args...)...)
	out := g.run(nil, "--with-colons", "--list-keys", uid)
	m := fprRE.FindSubmatch(out)
	if m == nil {
		g.t.Fatalf("no fingerprint in %s", out)
	}
	return string(m[1])
}

// sign signs payload with the given gpg mode flags ("--sign", "--clearsign", ...).
func (g *gnupg) sign(uid string, payload []byte, flags ...string) []byte {
	dir := g.t.TempDir()
	in := filepath.Join(dir, "payload.json")
	if err := os.WriteFile(in, payload, 0o600); err != nil {
		g.t.Fatal(err)
	}
	outFile := filepath.Join(dir, "out")
	g.run(nil, append(append([]string{"--local-user", uid, "--output", outFile}, flags...), in)...)
	b, err := os.ReadFile(outFile)
	if err != nil {
		g.t.Fatal(err)
	}
	return b
}

func pgpOccurrence(t *testing.T, sub attest.Subject, sig []byte, keyID string) attest.Occurrence {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{
		"name":     "projects/tm-attestations-project/occurrences/gpg",
		"resource": map[string]string{"uri": sub.ResourceURL()},
		"kind":     "ATTESTATION",
		"attestation": map[string]any{"attestation": map[string]any{"pgpSignedAttestation": map[string]string{
			"signature": string(sig), "contentType": "SIMPLE_SIGNING_JSON", "pgpKeyId": keyID,
		}}},
	})
	o, err := attest.ParseOccurrence(raw)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func genericOccurrence(t *testing.T, sub attest.Subject, sig, payload []byte, keyID string) attest.Occurrence {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{
		"name":     "projects/tm-attestations-project/occurrences/gpg-generic",
		"resource": map[string]string{"uri": sub.ResourceURL()},
		"kind":     "ATTESTATION",
		"attestation": map[string]any{"attestation": map[string]any{"genericSignedAttestation": map[string]any{
			"contentType":       "SIMPLE_SIGNING_JSON",
			"serializedPayload": base64.StdEncoding.EncodeToString(payload),
			"signatures":        []map[string]string{{"publicKeyId": keyID, "signature": base64.StdEncoding.EncodeToString(sig)}},
		}}},
	})
	o, err := attest.ParseOccurrence(raw)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestGPGInterop(t *testing.T) {
	g := newGnuPG(t)
	fprEd := g.genKey("Vendor Ed <ed@vendor.invalid>", "ed25519", "sign", "never")
	fprRSA := g.genKey("Vendor RSA <rsa@vendor.invalid>", "rsa2048", "default", "never")
	// A second key signing with a subkey, as release keys often do.
	fprSub := g.genKey("Vendor Sub <sub@vendor.invalid>", "ed25519", "cert", "never")
	g.run(nil, "--quick-add-key", fprSub, "ed25519", "sign", "never")

	kr, err := attest.ReadKeyring(bytes.NewReader(g.run(nil, "--armor", "--export")))
	if err != nil {
		t.Fatal(err)
	}
	if len(kr) != 3 {
		t.Fatalf("keyring holds %d keys, want 3", len(kr))
	}
	v := mustVerifier(t, kr)
	payload := attesttest.Payload(attest.TypeAtomic, dgA, repo+":5.0.3", "gpg", 1700000000)

	for _, k := range []struct{ uid, fpr string }{{"ed@vendor.invalid", fprEd}, {"rsa@vendor.invalid", fprRSA}, {"sub@vendor.invalid", fprSub}} {
		t.Run(k.uid, func(t *testing.T) {
			armored := g.sign(k.uid, payload, "--armor", "--sign")
			binary := g.sign(k.uid, payload, "--sign")
			for name, o := range map[string]attest.Occurrence{
				"pgp armored":     pgpOccurrence(t, subA, armored, k.fpr),
				"pgp binary b64":  pgpOccurrence(t, subA, []byte(base64.StdEncoding.EncodeToString(binary)), k.fpr),
				"generic armored": genericOccurrence(t, subA, armored, payload, k.fpr),
				"generic binary":  genericOccurrence(t, subA, binary, payload, k.fpr),
			} {
				ver, err := v.Verify(subA, []attest.Occurrence{o})
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				if ver.Fingerprint != k.fpr || ver.Creator != "gpg" {
					t.Errorf("%s: %+v", name, ver)
				}
			}
			// The same signature does not vouch for another digest.
			subB := attest.Subject{Repository: repo, Digest: dgB}
			if _, err := v.Verify(subB, []attest.Occurrence{pgpOccurrence(t, subB, armored, k.fpr)}); !errors.Is(err, attest.ErrDigestMismatch) {
				t.Errorf("other digest: %v", err)
			}
			for name, tc := range map[string]struct {
				flags []string
				want  error
			}{
				"clearsign":       {[]string{"--clearsign"}, attest.ErrClearSigned},
				"detached armor":  {[]string{"--armor", "--detach-sign"}, attest.ErrDetached},
				"detached binary": {[]string{"--detach-sign"}, attest.ErrDetached},
			} {
				sig := g.sign(k.uid, payload, tc.flags...)
				if _, err := v.Verify(subA, []attest.Occurrence{genericOccurrence(t, subA, sig, payload, k.fpr)}); !errors.Is(err, tc.want) {
					t.Errorf("%s: error = %v, want %v", name, err, tc.want)
				}
			}
		})
	}
	// Another GnuPG key, not in the keyring.
	g2 := newGnuPG(t)
	fprX := g2.genKey("Attacker <x@evil.invalid>", "ed25519", "sign", "never")
	sig := g2.sign("x@evil.invalid", payload, "--armor", "--sign")
	if _, err := v.Verify(subA, []attest.Occurrence{pgpOccurrence(t, subA, sig, fprX)}); !errors.Is(err, attest.ErrUnknownKey) {
		t.Errorf("unknown gpg key: %v", err)
	}
}

func TestGPGRevokedKey(t *testing.T) {
	g := newGnuPG(t)
	fpr := g.genKey("Vendor <v@vendor.invalid>", "ed25519", "sign", "never")
	payload := attesttest.Payload(attest.TypeAtomic, dgA, repo, "gpg", 1700000000)
	sig := g.sign("v@vendor.invalid", payload, "--armor", "--sign")
	rev, err := os.ReadFile(filepath.Join(g.home, "openpgp-revocs.d", fpr+".rev"))
	if err != nil {
		t.Fatal(err)
	}
	g.run(bytes.ReplaceAll(rev, []byte(":-----BEGIN"), []byte("-----BEGIN")), "--import")
	kr, err := attest.ReadKeyring(bytes.NewReader(g.run(nil, "--armor", "--export", fpr)))
	if err != nil {
		t.Fatal(err)
	}
	v := mustVerifier(t, kr)
	if _, err := v.Verify(subA, []attest.Occurrence{pgpOccurrence(t, subA, sig, fpr)}); !errors.Is(err, attest.ErrKeyRevoked) {
		t.Fatalf("error = %v, want ErrKeyRevoked", err)
	}
}

// Class 2 interop: gpg signatures made with a weak digest are refused, SHA-2 ones accepted,
// for a primary key and a signing subkey.
func TestGPGDigestAlgorithms(t *testing.T) {
	g := newGnuPG(t)
	fprRSA := g.genKey("Vendor RSA <rsa@vendor.invalid>", "rsa2048", "sign", "never")
	fprSub := g.genKey("Vendor Sub <sub@vendor.invalid>", "rsa2048", "cert", "never")
	g.run(nil, "--quick-add-key", fprSub, "rsa2048", "sign", "never")
	kr, err := attest.ReadKeyring(bytes.NewReader(g.run(nil, "--armor", "--export")))
	if err != nil {
		t.Fatal(err)
	}
	v := mustVerifier(t, kr)
	payload := attesttest.Payload(attest.TypeAtomic, dgA, repo, "gpg", 1700000000)
	weakSigned := 0
	for _, k := range []struct{ uid, fpr string }{{"rsa@vendor.invalid", fprRSA}, {"sub@vendor.invalid", fprSub}} {
		for _, algo := range []string{"SHA256", "SHA512", "SHA224", "SHA1", "MD5", "RIPEMD160"} {
			for _, armored := range []bool{true, false} {
				flags := []string{"--digest-algo", algo, "--sign"}
				if armored {
					flags = append(flags, "--armor")
				}
				sig, ok := g.trySign(k.uid, payload, flags...)
				if !ok {
					t.Logf("gpg refuses to sign with %s; covered by the go-crypto tests", algo)
					continue
				}
				_, err := v.Verify(subA, []attest.Occurrence{genericOccurrence(t, subA, sig, payload, k.fpr)})
				weak := algo == "SHA1" || algo == "MD5" || algo == "RIPEMD160"
				if weak {
					weakSigned++
				}
				switch {
				case weak && !errors.Is(err, attest.ErrWeakHash):
					t.Errorf("%s %s armored=%v: error = %v, want ErrWeakHash", k.uid, algo, armored, err)
				case !weak && err != nil:
					t.Errorf("%s %s armored=%v: %v", k.uid, algo, armored, err)
				}
			}
		}
	}
	if weakSigned == 0 {
		t.Error("gpg made no weak-digest signature: the interop test checked nothing")
	}
}

// trySign is sign that reports gpg's refusal instead of failing the test.
func (g *gnupg) trySign(uid string, payload []byte, flags ...string) ([]byte, bool) {
	dir := g.t.TempDir()
	in := filepath.Join(dir, "payload.json")
	if err := os.WriteFile(in, payload, 0o600); err != nil {
		g.t.Fatal(err)
	}
	outFile := filepath.Join(dir, "out")
	cmd := exec.Command("gpg", append(append([]string{"--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", "",
		"--local-user", uid, "--output", outFile}, flags...), in)...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+g.home)
	if out, err := cmd.CombinedOutput(); err != nil {
		g.t.Logf("gpg %s: %v: %s", strings.Join(flags, " "), err, out)
		return nil, false
	}
	b, err := os.ReadFile(outFile)
	if err != nil {
		g.t.Fatal(err)
	}
	return b, true
}
