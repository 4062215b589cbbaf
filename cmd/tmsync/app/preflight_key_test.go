package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tmsync/tmsync/attest/attesttest"
	"github.com/tmsync/tmsync/manifest"
)

// TestKeyCheckBounded: an attestation server that answers every page slowly and always
// with a next page holds the preflight's key check no longer than the preflight's
// timeout, and the check then says nothing (the run reports what it finds per image).
func TestKeyCheckBounded(t *testing.T) {
	var n atomic.Int64
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := n.Add(1)
		select {
		case <-time.After(1500 * time.Millisecond):
		case <-stop:
		}
		fmt.Fprintf(w, `{"occurrences":[],"nextPageToken":"p%d"}`, k)
	}))
	defer srv.Close()
	defer close(stop)
	s, err := attesttest.NewSigner("Vault Release Attestor")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := s.ArmoredPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	kf := filepath.Join(t.TempDir(), "src_attestor.pgp")
	if err := os.WriteFile(kf, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	rel, err := manifest.Load("../../../manifest/testdata/good/v5", manifest.WithVendorRegistry("docker.external.thoughtmachine.io"))
	if err != nil {
		t.Fatal(err)
	}
	ps := &problems{}
	start := time.Now()
	checkAttestorKey(context.Background(), ps, attestorConfig{KeyFile: kf, Address: srv.URL + "/v1/occurrences", Token: "tok_abcdefghij"}, rel)
	if took := time.Since(start); took > preflightTimeout+2*time.Second {
		t.Errorf("the key check took %s against a slow server (%d requests), want about the preflight timeout %s", took, n.Load(), preflightTimeout)
	}
	if n.Load() == 0 {
		t.Error("the key check asked nothing: the release has no pinned vendor image, the test tests nothing")
	}
	if len(ps.list) != 0 {
		t.Errorf("problems %v, want none (a slow server is not a wrong key)", ps.list)
	}
}
