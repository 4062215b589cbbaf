package bundle_test

import (
	"os/exec"
	"strings"
	"testing"
)

// bundle sits below the engine: tmsync wires it in, so it must not import tmsync, the
// CLI, ECR or AWS (a bank's tool verifies a bundle without them), nor
// go-containerregistry (tests only).
func TestDependencyDirection(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-tags", "containers_image_openpgp containers_image_storage_stub containers_image_docker_daemon_stub exclude_graphdriver_btrfs",
		"github.com/tmsync/tmsync/tmsync/bundle").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "github.com/tmsync/tmsync/tmsync" || strings.HasPrefix(dep, "github.com/tmsync/tmsync/cmd") ||
			strings.HasPrefix(dep, "github.com/tmsync/tmsync/ecrtarget") || strings.HasPrefix(dep, "github.com/aws/") ||
			strings.HasPrefix(dep, "github.com/google/go-containerregistry") {
			t.Errorf("bundle depends on %s", dep)
		}
	}
}
