package tmsync

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoCommandLine holds the boundary between the library and the command line: package
// tmsync imports no CLI or terminal library (not even through a dependency), reads no
// environment variable and writes to no global stream. Those are cmd/tmsync's.
func TestNoCommandLine(t *testing.T) {
	// containers/image needs x/term itself (for docker's credential prompts, which tmsync
	// never reaches): the terminal library is refused as a direct import only.
	forbidden := []string{"github.com/urfave/cli", "golang.org/x/term", "github.com/tmsync/tmsync/cmd/"}
	if !testing.Short() {
		if out, err := exec.Command("go", "list", "-deps", ".").Output(); err == nil {
			for _, pkg := range strings.Fields(string(out)) {
				for _, f := range []string{"github.com/urfave/cli", "github.com/tmsync/tmsync/cmd/"} {
					if strings.HasPrefix(pkg, f) {
						t.Errorf("tmsync depends on %s: command-line and terminal code belong in cmd/tmsync", pkg)
					}
				}
			}
		}
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	banned := map[string]string{
		"os.Getenv": "reads the environment", "os.LookupEnv": "reads the environment",
		"os.Environ": "reads the environment", "os.ExpandEnv": "reads the environment",
		"os.Setenv": "changes the environment", "os.Unsetenv": "changes the environment",
		"os.Stdout": "writes to a global stream", "os.Stderr": "writes to a global stream",
		"os.Stdin": "reads a global stream", "os.Exit": "exits the process",
		"fmt.Print": "writes to stdout", "fmt.Printf": "writes to stdout", "fmt.Println": "writes to stdout",
		"log.Print": "writes to the global logger", "log.Printf": "writes to the global logger",
		"log.Println": "writes to the global logger", "log.Fatal": "exits the process",
		"slog.Info": "logs to the default logger", "slog.Warn": "logs to the default logger",
		"slog.Error": "logs to the default logger", "slog.Debug": "logs to the default logger",
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		// The names the file gives the packages, so that an alias cannot hide a call.
		alias := map[string]string{}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, fb := range forbidden {
				if strings.HasPrefix(path, fb) {
					t.Errorf("%s imports %s", name, path)
				}
			}
			local := path[strings.LastIndex(path, "/")+1:]
			if imp.Name != nil {
				local = imp.Name.Name
			}
			alias[local] = path
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			x, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			path, ok := alias[x.Name]
			if !ok {
				return true
			}
			key := path[strings.LastIndex(path, "/")+1:] + "." + sel.Sel.Name
			if path != "os" && path != "fmt" && path != "log" && path != "log/slog" {
				return true
			}
			if why, bad := banned[key]; bad {
				t.Errorf("%s: %s %s (%s): the library takes it as an option", fset.Position(sel.Pos()), key, why, name)
			}
			return true
		})
	}
	if checked < 10 {
		t.Fatalf("checked %d files: the test looks in the wrong folder", checked)
	}
}
