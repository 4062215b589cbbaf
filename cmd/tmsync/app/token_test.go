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
