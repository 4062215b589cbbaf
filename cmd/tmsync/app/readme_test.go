package app

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestReadmeListsEveryCommand: the README's command table has a line for every command an
// operator can run (a subcommand by its full name: bundle verify, config show), each
// saying its exit statuses when it has more than one.
func TestReadmeListsEveryCommand(t *testing.T) {
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "| `tmsync ") {
			rows = append(rows, l)
		}
	}
	app := newApp(io.Discard, io.Discard, &cmdline{stderr: io.Discard})
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Name == "help" || c.Hidden {
				continue
			}
			name := prefix + c.Name
			if c.Action != nil {
				found := false
				for _, r := range rows {
					found = found || strings.Contains(r, "`tmsync "+name+" ") || strings.Contains(r, "`tmsync "+name+"`")
				}
				if !found {
					t.Errorf("README's command table has no line for tmsync %s", name)
				}
			}
			walk(name+" ", c.Subcommands)
		}
	}
	walk("", app.Commands)
	for _, r := range rows {
		for _, cmd := range []string{"export", "bundle verify", "config show", "completion"} {
			if strings.HasPrefix(r, "| `tmsync "+cmd) && !strings.Contains(r, "exit 0") {
				t.Errorf("README's line for tmsync %s says no exit status: %s", cmd, r)
			}
		}
	}
}
