package app

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// snapshot is every file under dir, by path, with its content ("/" for a folder).
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			files[p] = "/"
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			files[p] = "-> " + target
			return err
		}
		b, err := os.ReadFile(p)
		files[p] = string(b)
		return err
	})
	must(t, err)
	return files
}

// inputBed is a working folder holding one file of each kind a run reads: a --config
// file, the attestor key, an attestation bundle, the ECR settings files, an auth file,
// the bank's public key, a release folder, bundles (a folder, a tar, split parts) and an
// error log folder of its own. The test runs in it.
func inputBed(t *testing.T) string {
	t.Setenv("TM_TOKEN", "")
	os.Unsetenv("TM_TOKEN")
	for _, k := range []string{"AWS_REGION", "ECR_KMS_ARN", "TMSYNC_CONFIG", "TMSYNC_ERROR_LOG"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	dir := t.TempDir()
	t.Chdir(dir)
	for name, content := range map[string]string{
		"c.yaml": "concurrency: 4\n", "bad.yaml": "no-such-key: 1\n", "key.pgp": "key", "att.json": "{}",
		"policy.json": "{}", "lifecycle.json": "{}", "tags.txt": "[]", "auth.json": "{}", "bank.pem": "pem",
		"rel/5.0.3_release.json": "{}", "rel/5.0.3_images.txt": "", "bdir/bundle.json": "{}", "b.tar": "tar",
		"p.tar.000": "part0", "p.tar.001": "part1", "prev/bundle.json": "{}", "logs/.keep": "", "out/.keep": "", "out/x.tar.export.d/.keep": "", "kdir/key.pgp": "key2",
		"r1.json": "{}", "r2.json": "{}",
	} {
		must(t, os.MkdirAll(filepath.Dir(name), 0o755))
		must(t, os.WriteFile(name, []byte(content), 0o644))
	}
	must(t, os.Symlink("rel", "rel-link"))
	return dir
}

// TestOutputsNeverReplaceInputs: no output of any command (--report, --junit,
// --save-attestation-bundle, the error log, export's bundle --to, report merge's --output
// and --error-log) may be a file the command reads: the --config file, the attestor key,
// the attestation bundle, a settings file, the auth file, the bank's key, a release file,
// a bundle read (a file of its folder, its tar, one of its parts), export's --since. The
// run is refused, exit 2, the message naming the output's flag and the input's, and
// nothing is changed: no input is touched, and an error log that is the input is not
// written (the refusal is printed only); any other error log says the refusal.
// TestRegistryAuthFileIsInput: without --authfile, containers/image reads the file
// REGISTRY_AUTH_FILE names: an output over it would replace the registry credentials.
func TestRegistryAuthFileIsInput(t *testing.T) {
	dir := inputBed(t)
	t.Setenv("REGISTRY_AUTH_FILE", filepath.Join(dir, "auth.json"))
	before := snapshot(t, dir)
	code, out, errOut := runCLI(t, "sync", "--target", "registry", "--trg-registry", "127.0.0.1:1", "--release-dir", "rel",
		"--skip-preflight", "--error-log", "auth.json")
	if code != 2 || !strings.Contains(out+errOut, "--error-log auth.json: it is the $REGISTRY_AUTH_FILE file") {
		t.Errorf("exit %d, want 2 naming $REGISTRY_AUTH_FILE:\n%s%s", code, out, errOut)
	}
	after := snapshot(t, dir)
	for p, was := range before {
		if after[p] != was {
			t.Errorf("%s changed: %q, was %q", p, after[p], was)
		}
	}
}

func TestOutputsNeverReplaceInputs(t *testing.T) {
	dir := inputBed(t)
	errLog := filepath.Join("logs", "sync-error.log")
	common := []string{"--target", "registry", "--trg-registry", "127.0.0.1:1", "--release-dir", "rel", "--skip-preflight"}
	for _, c := range []struct {
		name string
		args []string
		want []string // on the console, each
	}{
		// The brief's case, in every command that writes a report.
		{"sync report over config", []string{"sync", "--config", "c.yaml", "--report", "c.yaml"}, []string{"--report c.yaml: it is the --config file"}},
		{"plan junit over config", []string{"plan", "--config", "c.yaml", "--junit", "./c.yaml"}, []string{"--junit ./c.yaml: it is the --config file"}},
		{"verify report over config", []string{"verify", "--config", "c.yaml", "--report", "out/../c.yaml"}, []string{"--report out/../c.yaml: it is the --config file"}},
		{"export report over config", []string{"export", "--to", "out/b", "--config", "c.yaml", "--report", filepath.Join(dir, "c.yaml")}, []string{"it is the --config file"}},
		{"sync save-attestation-bundle over config", []string{"sync", "--config", "c.yaml", "--save-attestation-bundle", "c.yaml"}, []string{"--save-attestation-bundle c.yaml: it is the --config file"}},
		{"error log over config", []string{"sync", "--config", "c.yaml", "--error-log", "c.yaml"}, []string{"--error-log c.yaml: it is the --config file"}},
		{"export error log over config", []string{"export", "--to", "out/b", "--config", "c.yaml", "--error-log", "c.yaml"}, []string{"--error-log c.yaml: it is the --config file"}},
		// The attestation bundle read, in every command that reads it.
		{"sync save over the attestation bundle", []string{"sync", "--attestation-bundle", "att.json", "--save-attestation-bundle", "att.json"},
			[]string{"--save-attestation-bundle att.json: it is the --attestation-bundle file"}},
		{"plan report over the attestation bundle", []string{"plan", "--attestation-bundle", "att.json", "--report", "att.json"}, []string{"--report att.json: it is the --attestation-bundle file"}},
		{"verify junit over the attestation bundle", []string{"verify", "--attestation-bundle", "att.json", "--junit", "att.json"}, []string{"it is the --attestation-bundle file"}},
		{"export save over the attestation bundle", []string{"export", "--to", "out/b", "--attestation-bundle", "att.json", "--save-attestation-bundle", "att.json"},
			[]string{"--save-attestation-bundle att.json: it is the --attestation-bundle file"}},
		{"error log over the attestation bundle", []string{"verify", "--attestation-bundle", "att.json", "--error-log", "att.json"}, []string{"--error-log att.json: it is the --attestation-bundle file"}},
		// The other input files.
		{"error log over the key", []string{"sync", "--src_attestor", "key.pgp", "--error-log", "key.pgp"}, []string{"--error-log key.pgp: it is the --src_attestor file"}},
		{"report over the policy", []string{"sync", "--target", "ecr", "--trg_ecr_policy_file_path", "policy.json", "--report", "policy.json"}, []string{"it is the --trg_ecr_policy_file_path file"}},
		{"junit over the lifecycle", []string{"plan", "--target", "ecr", "--trg_ecr_lifecycle_file_path", "lifecycle.json", "--junit", "lifecycle.json"}, []string{"it is the --trg_ecr_lifecycle_file_path file"}},
		{"report over the tags", []string{"sync", "--target", "ecr", "--trg_resource_tags_file_path", "tags.txt", "--report", "tags.txt"}, []string{"it is the --trg_resource_tags_file_path file"}},
		{"report over the auth file", []string{"sync", "--authfile", "auth.json", "--report", "auth.json"}, []string{"it is the --authfile file"}},
		{"export report over the auth file", []string{"export", "--to", "out/b", "--authfile", "auth.json", "--report", "auth.json"}, []string{"it is the --authfile file"}},
		{"report over the bank key", []string{"verify", "--bank-public-key", "bank.pem", "--report", "bank.pem"}, []string{"it is the --bank-public-key file"}},
		{"report as a release file", []string{"sync", "--report", "rel/6.0.0_release.json"}, []string{"a file of the release folder (its name ends with release.json)"}},
		{"junit as an image list, through a link", []string{"plan", "--junit", "rel-link/x_images.txt"}, []string{"a file of the release folder (its name ends with images.txt)"}},
		// Bundles read whole: their folder, their tar, their parts.
		{"report in the bundle folder", []string{"sync", "--from-bundle", "bdir", "--report", "bdir/report.json"}, []string{"--report bdir/report.json: it is inside the --from-bundle folder"}},
		{"report over the bundle's manifest", []string{"verify", "--from-bundle", "bdir", "--report", "bdir/bundle.json"}, []string{"--report bdir/bundle.json: it is inside the --from-bundle folder"}},
		{"junit over the bundle tar", []string{"sync", "--from-bundle", "b.tar", "--junit", "b.tar"}, []string{"--junit b.tar: it is the --from-bundle file"}},
		{"report over a part", []string{"plan", "--from-bundle", "p.tar.000", "--report", "p.tar.001"}, []string{"--report p.tar.001: it is a part of the --from-bundle bundle"}},
		{"report as a new part", []string{"sync", "--from-bundle", "p.tar", "--report", "p.tar.002"}, []string{"it is a part of the --from-bundle bundle"}},
		{"error log over an earlier bundle", []string{"sync", "--from-bundle", "bdir", "--earlier-bundle", "b.tar", "--error-log", "b.tar"}, []string{"--error-log b.tar: it is the --earlier-bundle file"}},
		// Export's own: --since read, --to written.
		{"report in the --since bundle", []string{"export", "--to", "out/b", "--since", "prev", "--report", "prev/bundle.json"}, []string{"--report prev/bundle.json: it is inside the --since folder"}},
		{"report over --since's bundle.json", []string{"export", "--to", "out/b", "--since", "prev/bundle.json", "--junit", "prev/bundle.json"}, []string{"it is the --since file"}},
		{"bundle tar over an input", []string{"export", "--to", "b.tar", "--attestation-bundle", "b.tar"}, []string{"--to b.tar: it is the --attestation-bundle file: the bundle would overwrite it"}},
		{"bundle tar over the report", []string{"export", "--to", "out/x.tar", "--report", "out/x.tar"}, []string{"--to out/x.tar: the same file as --report"}},
		{"report in the bundle folder written", []string{"export", "--to", "out", "--report", "out/report.json"}, []string{"--report out/report.json: inside the bundle folder"}},
		{"error log in the tar's work folder", []string{"export", "--to", "out/x.tar", "--error-log", "out/x.tar.export.d/e.log"}, []string{"--error-log out/x.tar.export.d/e.log: inside the bundle folder"}},
		{"bundle folder holding the key", []string{"export", "--to", "kdir", "--src_attestor", "kdir/key.pgp"}, []string{"--to kdir: the bundle folder " + filepath.Join(dir, "kdir") + " holds the --src_attestor kdir/key.pgp"}},
		{"bundle folder holding the release folder", []string{"export", "--to", "."}, []string{"--to .: the bundle folder " + dir + " holds the release folder --release-dir rel",
			"--error-log logs/sync-error.log: inside the bundle folder"}},
		{"bundle folder is --since", []string{"export", "--to", "prev", "--since", "prev"}, []string{"--to prev: the bundle folder " + filepath.Join(dir, "prev") + " holds the --since prev"}},
		{"report as a part of the bundle", []string{"export", "--to", "out/x.tar", "--split", "1G", "--report", "out/x.tar.001"}, []string{"--report out/x.tar.001: a part of the bundle --to out/x.tar"}},
		{"bundle parts over an input", []string{"export", "--to", "p.tar", "--split", "1G", "--since", "p.tar.000"}, []string{"--to p.tar: the --since p.tar.000 is named as a part of the bundle"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if !slices.Contains(args, "--error-log") {
				args = append(args, "--error-log", errLog)
			}
			if args[0] == "export" {
				args = append(args, "--release-dir", "rel")
			} else {
				args = append(args, common...)
				if slices.Contains(args, "ecr") { // the last --target wins: put ecr's back
					args = append(args, "--target", "ecr", "--trg-registry", "")
				}
			}
			before := snapshot(t, dir)
			os.Remove(errLog)
			code, out, errOut := runCLI(t, args...)
			console := out + errOut
			if code != 2 {
				t.Errorf("exit %d, want 2:\n%s", code, console)
			}
			for _, w := range c.want {
				if !strings.Contains(console, w) {
					t.Errorf("console lacks %q:\n%s", w, console)
				}
			}
			after := snapshot(t, dir)
			logged, logWritten := after[filepath.Join(dir, errLog)]
			delete(after, filepath.Join(dir, errLog))
			delete(before, filepath.Join(dir, errLog))
			for p, was := range before {
				if after[p] != was {
					t.Errorf("%s changed: %q, was %q", p, after[p], was)
				}
			}
			for _, p := range slices.Sorted(maps.Keys(after)) {
				if _, ok := before[p]; !ok {
					t.Errorf("%s was created", p)
				}
			}
			// The error log says the refusal, unless it is the output refused (then it is
			// not written, there or at its usual place).
			errorLogIsInput := strings.Contains(strings.Join(c.want, "\n"), "--error-log ")
			if !errorLogIsInput && (!logWritten || !strings.Contains(logged, c.want[0])) {
				t.Errorf("error log %q (written: %v), want the refusal %q", logged, logWritten, c.want[0])
			}
			if errorLogIsInput && logWritten {
				t.Errorf("the default error log was written: %q", logged)
			}
		})
	}
}

// TestRefusalsNeverReplaceInputs: a command line refused before its run starts (a bad
// value, a --config that does not read, a flag that does not parse, a stray argument, a
// blank TM_TOKEN) writes its error log to say so, but not when that log is one of the
// command line's inputs: then it is printed only, with why, and the input is untouched.
// The inputs are known however far the command line reads: a flag that does not parse
// leaves urfave/cli reading none, so they are read as given, from the environment
// (TMSYNC_CONFIG) and from the --config file, the default files looked for in the release
// folder given after the bad flag; a --config that does not read is read past its bad
// key. What cannot be read at all (a --config that is not YAML) is kept by the last rule:
// a command line not read whole writes no error log over a file that is not one.
func TestRefusalsNeverReplaceInputs(t *testing.T) {
	dir := inputBed(t)
	for _, c := range []struct {
		name  string
		env   string            // TM_TOKEN
		vars  map[string]string // environment variables
		files map[string]string // written for the case, removed after it
		args  []string
		input string
		want  string
		why   string // after "--error-log INPUT: "; "it is the " if empty
	}{
		{name: "bad value", args: []string{"sync", "--config", "c.yaml", "--error-log", "c.yaml", "--concurrency", "0"}, input: "c.yaml", want: "--concurrency 0"},
		{name: "bad value in export", args: []string{"export", "--to", "out/b", "--since", "prev/bundle.json", "--error-log", "prev/bundle.json", "--retries", "-1"}, input: "prev/bundle.json", want: "--retries -1"},
		{name: "config that does not read", args: []string{"plan", "--config", "bad.yaml", "--error-log", "bad.yaml"}, input: "bad.yaml", want: `no flag "no-such-key"`},
		{name: "config from the environment", vars: map[string]string{"TMSYNC_CONFIG": "bad.yaml"}, args: []string{"verify", "--error-log", "bad.yaml"}, input: "bad.yaml", want: `no flag "no-such-key"`},
		{name: "flag that does not parse, config before it", args: []string{"sync", "--config", "c.yaml", "--bogus", "--error-log", "c.yaml"}, input: "c.yaml", want: "no flag --bogus"},
		{name: "flag that does not parse, key after it", args: []string{"sync", "--bogus", "--src_attestor", "key.pgp", "--error-log", "key.pgp"}, input: "key.pgp", want: "no flag --bogus"},
		{name: "value that does not parse", args: []string{"export", "--to", "out/b", "--attestation-bundle", "att.json", "--error-log=att.json", "--concurrency", "x"}, input: "att.json", want: `--concurrency "x"`},
		{name: "stray argument", args: []string{"sync", "--src_attestor", "key.pgp", "--error-log", "key.pgp", "stray"}, input: "key.pgp", want: "unexpected arguments"},
		{name: "blank token", env: "  ", args: []string{"sync", "--authfile", "auth.json", "--error-log", "auth.json"}, input: "auth.json", want: "TM_TOKEN is set but blank"},
		// A flag that does not parse: the inputs of the environment, of the --config file,
		// and the default files of a release folder named after the bad flag.
		{name: "flag that does not parse, config from the environment", vars: map[string]string{"TMSYNC_CONFIG": "c.yaml"}, args: []string{"sync", "--bogus", "--error-log", "c.yaml"}, input: "c.yaml", want: "no flag --bogus"},
		{name: "flag that does not parse, key in the config", files: map[string]string{"c2.yaml": "src_attestor: key.pgp\n"},
			args: []string{"sync", "--config", "c2.yaml", "--bogus", "--error-log", "key.pgp"}, input: "key.pgp", want: "no flag --bogus"},
		{name: "flag that does not parse, key in the config from the environment", vars: map[string]string{"TMSYNC_CONFIG": "c2.yaml"}, files: map[string]string{"c2.yaml": "src_attestor: [key.pgp]\nattestation-bundle: att.json\n"},
			args: []string{"plan", "--bogus=1", "--error-log", "att.json"}, input: "att.json", want: "no flag --bogus"},
		{name: "flag that does not parse in export, key in the config", vars: map[string]string{"TMSYNC_CONFIG": "c2.yaml"}, files: map[string]string{"c2.yaml": "src_attestor: key.pgp\n"},
			args: []string{"export", "--to", "out/b", "--bogus", "--error-log", "key.pgp"}, input: "key.pgp", want: "no flag --bogus"},
		{name: "flag that does not parse, default key in the release folder after it", files: map[string]string{"rel/src_attestor.pgp": "release key"},
			args: []string{"sync", "--bogus", "--release-dir", "rel", "--error-log", "rel/src_attestor.pgp"}, input: "rel/src_attestor.pgp", want: "no flag --bogus"},
		{name: "flag that does not parse, default policy file in neither place", args: []string{"sync", "--bogus", "--release-dir=rel", "--error-log", "rel/ecr_policy.json"},
			input: "rel/ecr_policy.json", want: "no flag --bogus", why: "it is the --trg_ecr_policy_file_path file"},
		{name: "flag that does not parse, default policy file's other place", args: []string{"sync", "--bogus", "--release-dir=rel", "--error-log", "ecr_policy.json"},
			input: "ecr_policy.json", want: "no flag --bogus", why: "it is where the --trg_ecr_policy_file_path file, left at its default name, is looked for"},
		{name: "flag that does not parse, a file that is not an error log", files: map[string]string{"notes.txt": "ERROR: a line\nnot one\n"},
			args: []string{"verify", "--bogus", "--error-log", "notes.txt"}, input: "notes.txt", want: "no flag --bogus", why: "an existing file that is not an error log (its line 2"},
		{name: "flag that does not parse, a link", args: []string{"sync", "--bogus", "--error-log", "rel-link"}, input: "rel-link", want: "no flag --bogus", why: "it is a symbolic link"},
		{name: "flag that does not parse, release folder in the config", files: map[string]string{"c3.yaml": "release-dir: rel\n", "rel/src_attestor.pgp": "release key"},
			args: []string{"sync", "--bogus", "--config", "c3.yaml", "--error-log", "rel/src_attestor.pgp"}, input: "rel/src_attestor.pgp", want: "no flag --bogus"},
		{name: "flag that does not parse, an input from its environment variable", vars: map[string]string{"TMSYNC_ATTESTATION_BUNDLE": "att.json"},
			args: []string{"verify", "--bogus", "--error-log", "att.json"}, input: "att.json", want: "no flag --bogus"},
		{name: "flag that does not parse, a flag given twice", args: []string{"sync", "--bogus", "--from-bundle", "bdir", "--earlier-bundle", "p.tar", "--earlier-bundle=b.tar", "--error-log", "b.tar"},
			input: "b.tar", want: "no flag --bogus"},
		// A --config that does not read: its keys after the bad one, or none when it is not
		// YAML (then the error log is not written over a file that is not one).
		{name: "config that does not read, key after the bad key", files: map[string]string{"bad2.yaml": "no-such-key: 1\nsrc_attestor: key.pgp\n"},
			args: []string{"plan", "--config", "bad2.yaml", "--error-log", "key.pgp"}, input: "key.pgp", want: `no flag "no-such-key"`},
		{name: "config that is not YAML", vars: map[string]string{"TMSYNC_CONFIG": "bad3.yaml"}, files: map[string]string{"bad3.yaml": "src_attestor: key.pgp\n: [\n"},
			args: []string{"sync", "--error-log", "key.pgp"}, input: "key.pgp", want: "bad3.yaml", why: "an existing file that is not an error log"},
		// Both places of a default file hold one, and they differ: neither is replaced.
		{name: "default key in both places, differing", files: map[string]string{"rel/src_attestor.pgp": "release key", "src_attestor.pgp": "working key"},
			args: []string{"sync", "--release-dir", "rel", "--error-log", "rel/src_attestor.pgp"}, input: "rel/src_attestor.pgp", want: "the two differ",
			why: "it is where the --src_attestor file, left at its default name, is looked for"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.env != "" {
				t.Setenv("TM_TOKEN", c.env)
			}
			for k, v := range c.vars {
				t.Setenv(k, v)
			}
			for name, content := range c.files {
				must(t, os.WriteFile(name, []byte(content), 0o644))
				t.Cleanup(func() { os.Remove(filepath.Join(dir, name)) })
			}
			before := snapshot(t, dir)
			code, out, errOut := runCLI(t, c.args...)
			console := out + errOut
			why := c.why
			if why == "" {
				why = "it is the "
			}
			if want := "--error-log " + c.input + ": " + why; code != 2 || !strings.Contains(console, c.want) || !strings.Contains(console, want) {
				t.Errorf("exit %d, want 2, %q and %q:\n%s", code, c.want, want, console)
			}
			after := snapshot(t, dir)
			if !maps.Equal(before, after) {
				for p, v := range after {
					if before[p] != v {
						t.Errorf("%s: %q, was %q", p, v, before[p])
					}
				}
				for p := range before {
					if _, ok := after[p]; !ok {
						t.Errorf("%s removed", p)
					}
				}
			}
		})
	}
	// The same refusals with an error log of their own write it: an earlier run's, empty
	// or not, is replaced; so is one that is not an error log when the command line was
	// read whole (a bad value: --error-log was meant).
	for _, c := range []struct {
		args      []string
		was, want string
	}{
		{[]string{"sync", "--config", "c.yaml", "--error-log", "logs/e.log", "--concurrency", "0"}, "", "--concurrency 0"},
		{[]string{"sync", "--config", "c.yaml", "--error-log", "logs/e.log", "--concurrency", "0"}, "notes\n", "--concurrency 0"},
		{[]string{"sync", "--bogus", "--error-log", "logs/e.log"}, "", "no flag --bogus"},
		{[]string{"sync", "--bogus", "--error-log", "logs/e.log"}, "ERROR: copy failed: vault/core:1: boom\nERROR: run interrupted", "no flag --bogus"},
		{[]string{"plan", "--config", "bad.yaml", "--error-log", "logs/e.log"}, "ERROR: x\n", `no flag "no-such-key"`},
	} {
		must(t, os.WriteFile("logs/e.log", []byte(c.was), 0o644))
		code, _, _ := runCLI(t, c.args...)
		if b, _ := os.ReadFile("logs/e.log"); code != 2 || !strings.HasPrefix(string(b), "ERROR: could not start: ") || !strings.Contains(string(b), c.want) {
			t.Errorf("%q over %q: exit %d, error log %q: want 2 and the refusal", c.args, c.was, code, b)
		}
	}
}

// TestReportMergeOutputs: report merge refuses, exit 2, an --output or --error-log that is
// one of the reports it merges, or the two as one file, before anything is written.
func TestReportMergeOutputs(t *testing.T) {
	dir := inputBed(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--output", "r1.json", "r1.json", "r2.json"}, "--output r1.json: it is FILE 1 (r1.json), a report being merged"},
		{[]string{"--output", "out/m.json", "--error-log", "./r2.json", "r1.json", "r2.json"}, "--error-log ./r2.json: it is FILE 2 (r2.json)"},
		{[]string{"--output", "rel-link/../r2.json", "r1.json", filepath.Join(dir, "r2.json")}, "--output rel-link/../r2.json: it is FILE 2"},
		{[]string{"--output", "out/m.json", "--error-log", "out/m.json", "r1.json"}, "--error-log out/m.json: the same file as --output"},
	} {
		before := snapshot(t, dir)
		code, _, errOut := runCLI(t, append([]string{"report", "merge"}, c.args...)...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("report merge %v: exit %d, want 2 and %q:\n%s", c.args, code, c.want, errOut)
		}
		if after := snapshot(t, dir); !maps.Equal(before, after) {
			t.Errorf("report merge %v changed files", c.args)
		}
	}
}
