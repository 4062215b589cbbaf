package main

import (
	"testing"

	"github.com/tmsync/tmsync/attest/attesttest"
)

func testArmoredKey(t *testing.T) string {
	t.Helper()
	s, err := attesttest.NewSigner("test")
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.ArmoredPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return string(k)
}
