package attesttest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/attest/attesttest"
)

func get(t *testing.T, u, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func TestServer(t *testing.T) {
	s, err := attesttest.NewSigner("vendor")
	if err != nil {
		t.Fatal(err)
	}
	var subs []attest.Subject
	srv := attesttest.NewServer("tok")
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") || !strings.HasSuffix(srv.URL, "/occurrences") {
		t.Errorf("URL = %s", srv.URL)
	}
	for i := range 5 {
		sub := attest.Subject{Repository: "h.example/r", Digest: digest.FromString(fmt.Sprint(i))}
		occ, err := s.Occurrence(sub, attesttest.Generic())
		if err != nil {
			t.Fatal(err)
		}
		srv.Add(occ)
		subs = append(subs, sub)
	}
	if code, _ := get(t, srv.URL, "bad"); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
	if code, _ := get(t, srv.URL+"x", "tok"); code != 404 {
		t.Errorf("wrong path: %d", code)
	}
	code, m := get(t, srv.URL+"?pageSize=2", "tok")
	if code != 200 || len(m["occurrences"].([]any)) != 2 || m["nextPageToken"] == "" {
		t.Fatalf("page 1: %d %v", code, m)
	}
	_, m = get(t, srv.URL+"?pageSize=2&pageToken="+m["nextPageToken"].(string), "tok")
	_, m = get(t, srv.URL+"?pageSize=2&pageToken="+m["nextPageToken"].(string), "tok")
	if len(m["occurrences"].([]any)) != 1 || m["nextPageToken"] != nil {
		t.Fatalf("last page: %v", m)
	}
	f := url.QueryEscape(`resourceUrl="` + subs[3].ResourceURL() + `"`)
	_, m = get(t, srv.URL+"?filter="+f, "tok")
	if len(m["occurrences"].([]any)) != 1 {
		t.Fatalf("filtered: %v", m)
	}
	srv.IgnoreFilter(true)
	_, m = get(t, srv.URL+"?filter="+f, "tok")
	if len(m["occurrences"].([]any)) != 5 {
		t.Fatalf("ignored filter: %v", m)
	}
	srv.FailNext(attesttest.Failure{Status: 503, RetryAfter: "2"})
	if code, _ := get(t, srv.URL, "tok"); code != 503 {
		t.Errorf("FailNext: %d", code)
	}
	if srv.Requests() != 8 {
		t.Errorf("Requests = %d", srv.Requests())
	}
}

func TestSignerFingerprint(t *testing.T) {
	s, err := attesttest.NewSignerWith("v", attesttest.RSAKey())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Fingerprint()) != 40 || !strings.HasSuffix(s.Fingerprint(), s.KeyID()) {
		t.Errorf("fingerprint %s key id %s", s.Fingerprint(), s.KeyID())
	}
	pub, err := s.ArmoredPublicKey()
	if err != nil || !strings.Contains(string(pub), "BEGIN PGP PUBLIC KEY BLOCK") || strings.Contains(string(pub), "PRIVATE") {
		t.Errorf("public key: %v\n%s", err, pub)
	}
}
