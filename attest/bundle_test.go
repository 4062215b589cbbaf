package attest_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
)

func TestBundleRoundTrip(t *testing.T) {
	vendor := mustSigner(t, "vendor")
	subs, occs := release(t, vendor, 10)
	srv := attesttest.NewServer(token, occs...)
	defer srv.Close()
	c := mustClient(t, srv.URL)
	all, err := c.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	created := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	if err := attest.WriteBundle(&buf, attest.Bundle{Address: "https://u:" + token + "@" + strings.TrimPrefix(srv.URL, "http://") + "?x=" + token, Created: created, Occurrences: all}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), token) {
		t.Fatal("token in bundle")
	}
	srv.Close() // offline from here on
	b, err := attest.ReadBundle(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b.Version != attest.BundleVersion || !b.Created.Equal(created) || len(b.Occurrences) != 10 {
		t.Fatalf("bundle = %+v", b)
	}
	v := mustVerifier(t, mustKeyring(t, vendor))
	x := attest.NewIndex(b.Occurrences)
	for _, s := range subs {
		if _, err := v.Verify(s, x.For(s)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBundleRejects(t *testing.T) {
	for name, in := range map[string]string{
		"not json":       "nope",
		"version 2":      `{"version":2,"occurrences":[]}`,
		"no version":     `{"occurrences":[]}`,
		"bad occurrence": `{"version":1,"occurrences":[{"name":"x"}]}`,
	} {
		if _, err := attest.ReadBundle(strings.NewReader(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := attest.WriteBundle(&bytes.Buffer{}, attest.Bundle{Occurrences: []attest.Occurrence{{Name: "no raw"}}}); err == nil {
		t.Error("occurrence without Raw written")
	}
	// A tampered bundle is caught by verification, not trusted.
	vendor := mustSigner(t, "vendor")
	o := mustOcc(t, vendor, subA)
	tampered := bytes.Replace(o.Raw, []byte(dgA.Encoded()), []byte(dgB.Encoded()), 1)
	var buf bytes.Buffer
	o2, err := attest.ParseOccurrence(tampered)
	if err != nil {
		t.Fatal(err)
	}
	if err := attest.WriteBundle(&buf, attest.Bundle{Occurrences: []attest.Occurrence{o2}}); err != nil {
		t.Fatal(err)
	}
	b, err := attest.ReadBundle(&buf)
	if err != nil {
		t.Fatal(err)
	}
	subB := attest.Subject{Repository: repo, Digest: dgB}
	if _, err := mustVerifier(t, mustKeyring(t, vendor)).Verify(subB, b.Occurrences); !errors.Is(err, attest.ErrDigestMismatch) {
		t.Fatalf("tampered bundle: %v", err)
	}
}
