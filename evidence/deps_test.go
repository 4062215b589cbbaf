package evidence_test

import (
	"os/exec"
	"strings"
	"testing"
)

// evidence sits beside the engine: it may use attest, go-containerregistry, sigstore and
// the KMS client, but not containers/image, cosign or the rest of tmsync (the engine
// imports evidence, not the other way round).
func TestDependencyDirection(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/tmsync/tmsync/evidence").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	for _, dep := range deps {
		for _, banned := range []string{"github.com/containers/image", "go.podman.io/", "github.com/sigstore/cosign",
			"github.com/sigstore/rekor", "github.com/sigstore/fulcio", "github.com/theupdateframework",
			"github.com/tmsync/tmsync/tmsync", "github.com/tmsync/tmsync/cmd", "github.com/tmsync/tmsync/ecrtarget",
			"github.com/tmsync/tmsync/manifest", "github.com/tmsync/tmsync/internal"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("evidence depends on %s", dep)
			}
		}
	}
	for _, want := range []string{"github.com/tmsync/tmsync/attest", "github.com/google/go-containerregistry/pkg/v1/remote",
		"github.com/sigstore/sigstore/pkg/signature/payload"} {
		if !strings.Contains(" "+strings.Join(deps, " ")+" ", " "+want+" ") {
			t.Errorf("evidence no longer depends on %s: update this test", want)
		}
	}
}
