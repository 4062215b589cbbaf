package tmsync

import (
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestSubjectKey: the bundle attestor matches a run's subject to a bundle image by
// digest and repository path, whatever host spelling --srcdomain gives at import, and
// never across repositories or digests.
func TestSubjectKey(t *testing.T) {
	d := digest.FromString("a")
	same := []string{"127.0.0.1:5000/vault/core", "docker.external.thoughtmachine.io/vault/core", "localhost/vault/core", "vault/core"}
	for _, r := range same {
		if got := subjectKey(r, d); got != "vault/core@"+d.String() {
			t.Errorf("subjectKey(%q) = %q", r, got)
		}
	}
	if subjectKey("vault/core", d) == subjectKey("vault/core2", d) || subjectKey("vault/core", d) == subjectKey("vault/core", digest.FromString("b")) {
		t.Error("different repositories or digests share a key")
	}
	// A first component without a dot or colon is a path, not a host.
	if got := subjectKey("vault/xpl/payees", d); got != "vault/xpl/payees@"+d.String() {
		t.Errorf("subjectKey kept the path badly: %q", got)
	}
}
