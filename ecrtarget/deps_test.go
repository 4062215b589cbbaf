package ecrtarget_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies holds the direction of the module's dependencies: ecrtarget depends on
// the AWS SDK, go-digest and internal/jsonpos only, never on attestations or containers/image.
func TestDependencies(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := []string{
		"github.com/tmsync/tmsync/ecrtarget",
		"github.com/tmsync/tmsync/internal/jsonpos", // offsets to line and column; the standard library only
		"github.com/aws/aws-sdk-go-v2",
		"github.com/aws/smithy-go",
		"github.com/opencontainers/go-digest",
		"github.com/jmespath/go-jmespath", // used by SDK waiters
	}
	for _, dep := range strings.Fields(string(out)) {
		ok := false
		for _, a := range allowed {
			if dep == a || strings.HasPrefix(dep, a+"/") {
				ok = true
			}
		}
		if !ok {
			t.Errorf("ecrtarget depends on %s", dep)
		}
	}
}
