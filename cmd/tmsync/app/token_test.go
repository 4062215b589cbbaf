package app

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestArgsNeverPrintTheToken(t *testing.T) {
	a := Args{SrcUser: "_tm", SrcPassword: "tok-9f8e7d", SrcDomain: "vendor.example"}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("args", "args", a)
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%v %+v %#v %s", a, a, a, a), logged.String()} {
		if strings.Contains(s, "tok-9f8e7d") {
			t.Fatalf("token printed: %s", s)
		}
		if !strings.Contains(s, "vendor.example") {
			t.Fatalf("args not printed: %s", s)
		}
	}
}

func TestParseTokenSecret(t *testing.T) {
	if tok, err := parseTokenSecret("s", `{"TM_TOKEN":" abc "}`); err != nil || tok != "abc" {
		t.Fatalf("got %q %v", tok, err)
	}
	for _, bad := range []string{`abc-secret-value`, `{"token":"abc-secret-value"}`, `{"TM_TOKEN":""}`, `{"TM_TOKEN":1}`} {
		_, err := parseTokenSecret("s", bad)
		if err == nil || strings.Contains(err.Error(), "abc-secret-value") {
			t.Errorf("%s: err %v (want an error that does not quote the secret)", bad, err)
		}
	}
}

// TestECRRegistrySpellings: copy logs in to ECR whatever the spelling of its host, and
// to nothing that only looks like it.
func TestECRRegistrySpellings(t *testing.T) {
	const canon = "123456789012.dkr.ecr.eu-west-2.amazonaws.com"
	for _, h := range []string{canon, "123456789012.DKR.ECR.EU-WEST-2.AMAZONAWS.COM", canon + ":443", canon + ".", canon + ".:443"} {
		if got, region, ok := ecrRegistry(h); !ok || got != canon || region != "eu-west-2" {
			t.Errorf("%s: %q %q %v, want %s in eu-west-2", h, got, region, ok, canon)
		}
	}
	if _, region, ok := ecrRegistry("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com"); !ok || region != "us-east-1" {
		t.Errorf("FIPS endpoint: %q %v", region, ok)
	}
	for _, h := range []string{canon + ":5000", "12345678901.dkr.ecr.eu-west-2.amazonaws.com", "123456789012.dkr.ecr.eu-west-2.amazonaws.com.evil.example",
		"evil.example", "123456789012.dkr.ecr.eu-west-2.amazonaws.com@evil.example", ""} {
		if _, _, ok := ecrRegistry(h); ok {
			t.Errorf("%q taken for ECR", h)
		}
	}
}
