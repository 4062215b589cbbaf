// Command clidemo is `make demo`: the tmsync command line's main job, `tmsync sync`, on a
// local world that needs no AWS account. It starts, in this process on 127.0.0.1, the
// vendor's side of a small release (internal/exampletest: a registry behind a throwaway
// token, a signed attestation server) and a target registry; then it runs the command
// line itself (cmd/tmsync/app, what bin/tmsync runs) in a demo folder: a sync, the same
// sync again (nothing to copy), `tmsync report` of the first run, and the files each left.
//
//	make demo                  # folder ./demo-run, the world torn down at the end
//	make demo DEMO_KEEP=1      # the world kept up until Ctrl-C, with commands to try
//	go run -tags "..." ./examples/clidemo -dir DIR -keep -tmsync bin/tmsync
//
// The vendor token is never printed nor put on a command line: the runs read it from
// TM_TOKEN, and it is written to DIR/token (mode 0600) for the commands of -keep.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/tmsync/tmsync/cmd/tmsync/app"
	"github.com/tmsync/tmsync/internal/exampletest"
)

// options are the demo's flags.
type options struct {
	dir    string // the demo folder
	keep   bool   // keep the world up until ctx ends, and print commands to try
	tmsync string // the binary the printed commands run
	// ready, when set, is called once keep mode has printed its commands (for tests).
	ready func()
}

// marker marks a folder the demo made: a folder without it is not emptied.
const marker = ".tmsync-demo"

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", "demo-run", "the demo folder: the release, the reports and the error logs (emptied first if an earlier demo made it)")
	flag.BoolVar(&o.keep, "keep", false, "keep the registries and the attestation server up until Ctrl-C, and print commands to try against them")
	flag.StringVar(&o.tmsync, "tmsync", "bin/tmsync", "the tmsync binary the printed commands run (make build writes bin/tmsync)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "clidemo: unexpected arguments %q (flags only)\n", flag.Args())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, o, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the demo; it returns the exit status: that of the first sync when it failed, 2
// when the demo could not start.
func run(ctx context.Context, o options, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintln(stderr, "clidemo:", err)
		return 2
	}
	if err := prepareDir(o.dir); err != nil {
		return fail(err)
	}
	images, err := exampletest.Release()
	if err != nil {
		return fail(err)
	}
	w, err := exampletest.Start(ctx, images)
	if err != nil {
		return fail(err)
	}
	defer w.Close()

	d := demo{dir: o.dir, w: w}
	if err := d.writeInputs(); err != nil {
		return fail(err)
	}
	// The runs read the token from TM_TOKEN, as an operator's would; app.Run takes it out
	// of the environment while it runs.
	restore := setEnv("TM_TOKEN", w.Token)
	defer restore()

	fmt.Fprintf(stdout, "== tmsync demo: the vendor's registry %s (user _tm, a throwaway token), its attestation server\n", w.Vendor)
	fmt.Fprintf(stdout, "   %s, and the bank's target registry %s, all in this process.\n", w.Attestations.URL, w.Target)
	fmt.Fprintf(stdout, "   The release folder %s holds the release JSON and the attestor's public key.\n\n", d.path("release"))

	first := d.syncArgs("sync-error.log", "report.json", "junit.xml")
	fmt.Fprintf(stdout, "== 1. sync the release (the token in TM_TOKEN):\n\n   $ %s\n\n", shellLine(o.tmsync, first))
	code := app.Run(ctx, append([]string{"tmsync"}, first...), stdout, stderr)
	if code == 0 {
		again := d.syncArgs("sync-error-rerun.log", "report-rerun.json", "")
		fmt.Fprintf(stdout, "\n== 2. the same sync again: every image is already there, nothing is copied:\n\n   $ %s\n\n", shellLine(o.tmsync, again))
		if c := app.Run(ctx, append([]string{"tmsync"}, again...), stdout, stderr); c != 0 {
			fmt.Fprintf(stderr, "clidemo: the second sync exited %d\n", c)
			code = c
		}
		fmt.Fprintf(stdout, "\n== 3. the first sync's report, as `tmsync report` prints it:\n\n   $ %s\n\n", shellLine(o.tmsync, []string{"report", d.path("report.json")}))
		if c := app.Run(ctx, []string{"tmsync", "report", d.path("report.json")}, stdout, stderr); c != 0 && code == 0 {
			code = c
		}
	} else {
		fmt.Fprintf(stderr, "clidemo: the sync exited %d; its error log is %s\n", code, d.path("sync-error.log"))
	}
	restore() // keep mode's commands read the token from its file
	d.printFiles(stdout)
	if code != 0 || !o.keep {
		return code
	}

	d.printCommands(stdout, o.tmsync)
	if o.ready != nil {
		o.ready()
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "\n== stopped: the registries and the attestation server are gone; the files stay.")
	return 0
}

// setEnv sets the environment variable name to value, and returns a function that puts
// it back as it was (it may be called more than once).
func setEnv(name, value string) (restore func()) {
	prev, had := os.LookupEnv(name)
	os.Setenv(name, value)
	return sync.OnceFunc(func() {
		if had {
			os.Setenv(name, prev)
		} else {
			os.Unsetenv(name)
		}
	})
}

// prepareDir makes dir, or empties it when an earlier demo made it; a folder the demo
// did not make is refused when it holds anything.
func prepareDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	case len(entries) == 0:
	default:
		if _, err := os.Stat(filepath.Join(dir, marker)); err != nil {
			return fmt.Errorf("%s is not empty and was not made by the demo: give another -dir (DEMO_DIR=...)", dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, marker), []byte("made by tmsync's demo (examples/clidemo): emptied by the next demo\n"), 0o644)
}

// demo is one demo folder and its world.
type demo struct {
	dir string
	w   *exampletest.World
}

func (d demo) path(name ...string) string {
	return filepath.Join(append([]string{d.dir}, name...)...)
}

// writeInputs copies the world's release folder into the demo folder, with the
// attestor's public key in it (where sync looks for src_attestor.pgp by default), and
// writes the token for the commands of keep mode, readable by this user only.
func (d demo) writeInputs() error {
	rel := d.path("release")
	if err := os.Mkdir(rel, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(d.w.ReleaseDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(d.w.ReleaseDir, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(rel, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	if _, err := d.w.WriteKey(rel); err != nil {
		return err
	}
	f, err := os.OpenFile(d.path("token"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(f, d.w.Token); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// source are the flags that name the vendor's side: its registry (plain HTTP), the
// attestation server, the release folder (which holds src_attestor.pgp) and the key's
// fingerprint, which pins it (as a bank pins the vendor's, given out of band).
func (d demo) source() []string {
	return []string{"--srcdomain", d.w.Vendor, "--src_attestions_address", d.w.Attestations.URL,
		"--insecure-registry", d.w.Vendor, "--release-dir", d.path("release"),
		"--src-attestor-fingerprint", d.w.KeyFingerprint()}
}

// target are the flags of the bank's side: a plain registry instead of ECR.
func (d demo) target() []string {
	return []string{"--target", "registry", "--trg-registry", d.w.Target, "--insecure-registry", d.w.Target}
}

// runArgs are the arguments of a sync, plan or verify writing its files into the demo
// folder (report and junit left out when "").
func (d demo) runArgs(mode, errorLog, report, junit string) []string {
	a := append(append([]string{mode}, d.target()...), d.source()...)
	a = append(a, "--error-log", d.path(errorLog))
	if report != "" {
		a = append(a, "--report", d.path(report))
	}
	if junit != "" {
		a = append(a, "--junit", d.path(junit))
	}
	return a
}

func (d demo) syncArgs(errorLog, report, junit string) []string {
	return d.runArgs("sync", errorLog, report, junit)
}

// printFiles lists the demo folder's files and what each is.
func (d demo) printFiles(w io.Writer) {
	type file struct{ name, what string }
	var files []file
	// The release folder as writeInputs made it: the world's release files and the key.
	entries, _ := os.ReadDir(d.path("release"))
	for _, e := range entries {
		what := "a file of the release folder"
		switch {
		case strings.HasSuffix(e.Name(), "_release.json"):
			what = "the release folder's release JSON (what the vendor ships): the images, by digest"
		case e.Name() == "src_attestor.pgp":
			what = "the vendor attestor's public key (a throwaway one) that verified every image"
		}
		files = append(files, file{"release/" + e.Name(), what})
	}
	files = append(files, []file{
		{"sync-error.log", "the first sync's error log"},
		{"report.json", "the first sync's JSON report (the images copied, their digests and attestations)"},
		{"junit.xml", "the first sync's JUnit XML report, one test case per image"},
		{"sync-error-rerun.log", "the second sync's error log"},
		{"report-rerun.json", "the second sync's JSON report (every image already present)"},
		{"token", "the throwaway vendor token, readable by you only (0600): never printed"},
	}...)
	fmt.Fprintf(w, "\n== the files, in %s:\n\n", d.dir)
	for _, f := range files {
		p := d.path(f.name)
		what := f.what
		st, err := os.Stat(p)
		switch {
		case err != nil:
			what = "not written: " + what
		case strings.HasSuffix(f.name, ".log") && st.Size() == 0:
			what += ": empty, every image is in place"
		case strings.HasSuffix(f.name, ".log"):
			what += fmt.Sprintf(": %d bytes, read it", st.Size())
		}
		fmt.Fprintf(w, "  %-40s %s\n", p, what)
	}
}

// printCommands prints the commands to try against the world, to paste in another
// shell from this one's folder.
func (d demo) printCommands(w io.Writer, bin string) {
	cwd, _ := os.Getwd()
	fmt.Fprintf(w, "\n== the world stays up until Ctrl-C. Try the command line against it, in another shell, from %s:\n\n", cwd)
	fmt.Fprintf(w, "export TM_TOKEN=\"$(cat %s)\"\n", shellQuote(d.path("token")))
	if _, err := os.Stat(bin); err != nil {
		fmt.Fprintf(w, "# %s is not there: `make build` writes bin/tmsync\n", bin)
	}
	cmds := []struct {
		what string
		args []string
	}{
		{"what a sync would do (nothing: every image is there)", d.runArgs("plan", "plan-error.log", "", "")},
		{"check the target against the release, without copying", d.runArgs("verify", "verify-error.log", "verify.json", "")},
		{"sync again", d.syncArgs("sync-error-again.log", "report-again.json", "")},
		{"verify the release and write it into an air-gapped bundle",
			append(append([]string{"export"}, d.source()...), "--error-log", d.path("export-error.log"), "--to", d.path("bundle"))},
		{"check the bundle offline, with your copy of the attestor's key",
			[]string{"bundle", "verify", "--src_attestor", d.path("release", "src_attestor.pgp"), "--srcdomain", d.w.Vendor, d.path("bundle")}},
		{"print a saved report", []string{"report", d.path("report.json")}},
	}
	for _, c := range cmds {
		fmt.Fprintf(w, "\n# %s\n%s\n", c.what, shellLine(bin, c.args))
	}
	fmt.Fprintln(w, "\n(Ctrl-C here stops the world.)")
}

// shellLine is bin and args as a shell command: its command words on the first line,
// then each flag (with its value) and each argument after a flag on a line of its own.
func shellLine(bin string, args []string) string {
	var b strings.Builder
	b.WriteString(shellQuote(bin))
	flags := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		flags = flags || strings.HasPrefix(a, "-")
		if flags {
			b.WriteString(" \\\n    ")
		} else {
			b.WriteString(" ")
		}
		b.WriteString(shellQuote(a))
		if strings.HasPrefix(a, "--") && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			i++
			b.WriteString(" " + shellQuote(args[i]))
		}
	}
	return b.String()
}

// shellQuote quotes s for a POSIX shell when it holds anything but safe characters.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=@%+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
