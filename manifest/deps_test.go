package manifest

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies holds the layering: manifest is a leaf that reads files. It may use
// the reference parser and go-digest, and nothing of AWS, attestations, ECR, copying or
// the network.
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	allowed := map[string]bool{
		"github.com/tmsync/tmsync/manifest":         true,
		"github.com/tmsync/tmsync/internal/jsonpos": true, // offsets to line and column; the standard library only
		"github.com/opencontainers/go-digest":       true,
		"go.podman.io/image/v5/docker/reference":    true,
		"go.podman.io/storage/pkg/regexp":           true,
	}
	for _, pkg := range strings.Fields(string(out)) {
		first, _, _ := strings.Cut(pkg, "/")
		std := !strings.Contains(first, ".")
		switch {
		case std && pkg == "net/netip":
			// Address parsing only (CanonicalRegistry): no I/O.
		case std && (first == "net" || pkg == "os/exec" || pkg == "crypto/tls"):
			t.Errorf("manifest depends on %s; it must not do network or process I/O", pkg)
		case !std && !allowed[pkg]:
			t.Errorf("manifest depends on %s; allowed outside the standard library: the reference parser, go-digest and internal/jsonpos", pkg)
		}
	}
}
