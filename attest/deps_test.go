package attest_test

import (
	"os/exec"
	"strings"
	"testing"
)

// attest is a leaf: it must not depend on AWS, containers/image or the rest of tmsync.
func TestDependencyDirection(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	for _, pkg := range []string{"github.com/tmsync/tmsync/attest", "github.com/tmsync/tmsync/attest/attesttest"} {
		out, err := exec.Command(goTool, "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, banned := range []string{"github.com/aws/", "github.com/containers/image", "go.podman.io/image", "github.com/google/go-containerregistry", "github.com/tmsync/tmsync/tmsync", "github.com/tmsync/tmsync/ecrtarget", "github.com/tmsync/tmsync/manifest"} {
				if strings.HasPrefix(dep, banned) {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
