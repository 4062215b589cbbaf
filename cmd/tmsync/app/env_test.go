package app

import (
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/tmsync/tmsync/tmsync"
)

// Every flag of tmsync's own can be set from the environment (TMSYNC_...); the old
// pipeline's flags keep the environment they had.
func TestEveryNewFlagHasAnEnvironmentVariable(t *testing.T) {
	for _, mode := range []tmsync.Mode{tmsync.ModeSync, tmsync.ModePlan, tmsync.ModeVerify} {
		for _, f := range modeFlags(mode) {
			name := f.Names()[0]
			envs := f.(cli.DocGenerationFlag).GetEnvVars()
			if oldFlags[name] {
				for _, e := range envs {
					if strings.HasPrefix(e, "TMSYNC_") {
						t.Errorf("%s: old pipeline flag given %s", name, e)
					}
				}
				continue
			}
			ok := false
			for _, e := range envs {
				ok = ok || strings.HasPrefix(e, "TMSYNC_")
			}
			if !ok {
				t.Errorf("%s %s: no TMSYNC_ environment variable (has %v)", mode, name, envs)
			}
		}
	}
	if got := envName("idle-timeout"); got != "TMSYNC_IDLE_TIMEOUT" {
		t.Errorf("envName = %s", got)
	}
}
