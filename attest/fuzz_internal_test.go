package attest

import (
	"bytes"
	"crypto"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// FuzzDecodePage feeds the streaming page decoder arbitrary bytes under small limits.
func FuzzDecodePage(f *testing.F) {
	f.Add([]byte(`{"occurrences":[{"name":"a","resource":{"uri":"https://h/r@sha256:` + strings.Repeat("0", 64) + `"}}],"nextPageToken":"x"}`))
	f.Add([]byte(`{"occurrences":null,"extra":[1,{"a":2}]}`))
	f.Add([]byte(`{"occurrences":[1,2,3]}`))
	f.Add([]byte(`{"occurrences":[{},{},{}],"occurrences":[{}]}`))
	f.Add([]byte(`{"nextPageToken":"a"} trailing`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := &Client{log: slog.New(slog.DiscardHandler), limits: ListLimits{MaxOccurrences: 5, MaxBytes: 4096, MaxPageBytes: 2048, MaxPages: 3, Timeout: time.Second}}
		st := &listState{}
		br := &boundedReader{r: bytes.NewReader(b), limits: &c.limits, st: st}
		res, err := c.decodePage(br, st, 0, func(o Occurrence) bool { return len(o.Name)%2 == 0 })
		if err != nil {
			if !errors.Is(err, ErrBadResponse) && !errors.Is(err, ErrListingLimit) {
				t.Fatalf("error is neither a bad answer nor a limit: %v", err)
			}
			return
		}
		if res.served > c.limits.MaxOccurrences || len(res.kept) > res.served || len(b) > int(c.limits.MaxPageBytes) {
			t.Fatalf("served %d, kept %d, %d bytes accepted", res.served, len(res.kept), len(b))
		}
		for _, o := range res.kept {
			if len(o.Name)%2 != 0 || o.ResourceURI == "" {
				t.Fatalf("kept %+v", o)
			}
		}
	})
}

// FuzzCheckMessageHashes mutates messages signed with allowed and refused hashes.
func FuzzCheckMessageHashes(f *testing.F) {
	e, err := openpgp.NewEntity("fuzz", "", "fuzz@attest.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		f.Fatal(err)
	}
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA512, crypto.SHA3_256} {
		var buf bytes.Buffer
		w, err := openpgp.Sign(&buf, e, nil, &packet.Config{DefaultHash: h, DefaultCompressionAlgo: packet.CompressionZLIB})
		if err != nil {
			f.Fatal(err)
		}
		_, _ = w.Write([]byte(`{"critical":{}}`))
		_ = w.Close()
		f.Add(buf.Bytes())
		b := bytes.Clone(buf.Bytes())
		f.Add(b[:len(b)/2])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := checkMessageHashes(b)
		if err != nil && !errors.Is(err, ErrWeakHash) && !errors.Is(err, ErrBadEncoding) {
			t.Fatalf("unexpected error: %v", err)
		}
		if errors.Is(err, ErrWeakHash) && !strings.Contains(err.Error(), "uses ") {
			t.Fatalf("message: %v", err)
		}
	})
}

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"plain", "a\nINFO: DONE", "\x1b[2J", "\xff\xfe", "\u202e\u200b", "tab\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Sanitize(s)
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 out of %q: %q", s, out)
		}
		for _, r := range out {
			if unsafeRune(r) {
				t.Fatalf("Sanitize(%q) = %q keeps %U", s, out, r)
			}
		}
		if Sanitize(out) != out {
			t.Fatalf("not idempotent on %q", s)
		}
		if !strings.ContainsFunc(s, unsafeRune) && !strings.Contains(s, "\ufffd") && utf8.ValidString(s) && out != s {
			t.Fatalf("changed clean text %q to %q", s, out)
		}
	})
}

func FuzzRedact(f *testing.F) {
	f.Add("before ", "s3cr3t-token", " after")
	f.Add("", "p@ss w/rd", "")
	f.Fuzz(func(t *testing.T, pre, secret, post string) {
		// Surroundings that share no byte with the secret (or with "REDACTED") cannot
		// rebuild it around a replacement.
		if len(secret) < minRedactLen || strings.ContainsAny(pre+post+"REDACTED", secret) {
			return
		}
		for _, form := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret)} {
			out := Redact(pre+form+post, secret)
			if strings.Contains(out, secret) || strings.Contains(out, form) || !strings.Contains(out, "REDACTED") {
				t.Fatalf("Redact(%q) = %q", pre+form+post, out)
			}
		}
	})
}
