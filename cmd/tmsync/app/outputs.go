package app

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/tmsync/tmsync/tmsync"
	"github.com/tmsync/tmsync/tmsync/bundle"
)

// An output is a file a run writes at its end, and the flag that names it.
type output struct {
	flag, path string
}

// outputs are the files a run of a writes at its end: the error log (always), then the
// JSON report, the JUnit file and the attestation bundle the flags ask for.
func outputs(a Args) []output {
	outs := []output{{"--error-log", errorLogPath(a)}}
	for _, o := range []output{{"--report", a.Report}, {"--junit", a.JUnit}, {"--save-attestation-bundle", a.SaveAttestationBundle}} {
		if o.path != "" {
			outs = append(outs, o)
		}
	}
	return outs
}

// checkOutputs checks, before a run reads the vendor or changes the target, that every
// file it writes at its end can be written there: otherwise a sync would copy every
// image and only then find that its report cannot be written, and the error log that
// gates a pipeline be left empty. Each output's folder must exist, be a folder, and take
// a new file (one is created and removed, as the writers create theirs); two outputs may
// not be one file, and no output may be one of the run's inputs (inputNamed). x is
// export's bundle (--to) and what it reads (--since); zero for the other commands.
// logOK is false when the error log itself cannot be written, or would replace an input:
// then the error can only be printed.
func checkOutputs(a Args, x exportArgs) (logOK bool, err error) {
	logOK = true
	var errs []error
	seen := map[string]string{} // fileKey: the flag that named it
	more := exportInputs(x)
	for _, o := range outputs(a) {
		key := fileKey(o.path)
		if err := checkOutput(o.path); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", o.flag, o.path, err))
			logOK = logOK && o.flag != "--error-log"
			continue
		}
		if in := inputNamed(a, key, more...); in != "" {
			errs = append(errs, fmt.Errorf("%s %s: %s", o.flag, o.path, in))
			logOK = logOK && o.flag != "--error-log"
			continue
		}
		if x.to != "" {
			if dir := fileKey(bundleFolder(x.to)); within(key, dir) {
				errs = append(errs, fmt.Errorf("%s %s: inside the bundle folder %s (--to %s), which holds the bundle's files only", o.flag, o.path, dir, x.to))
				logOK = logOK && o.flag != "--error-log"
				continue
			}
			if tarPart(key, x.to) {
				errs = append(errs, fmt.Errorf("%s %s: a part of the bundle --to %s (--split writes %s.000, .001, ...)", o.flag, o.path, x.to, x.to))
				logOK = logOK && o.flag != "--error-log"
				continue
			}
		}
		if other, ok := seen[key]; ok {
			errs = append(errs, fmt.Errorf("%s %s: the same file as %s (%s): each output needs its own file", o.flag, o.path, other, key))
			continue
		}
		seen[key] = o.flag
	}
	if x.to != "" {
		errs = append(errs, checkBundleTo(a, x, seen)...)
	}
	if len(errs) == 0 {
		return true, nil
	}
	return logOK, startErr("checking the output files", errors.Join(errs...))
}

// checkBundleTo checks export's --to against the run's inputs and its other outputs
// (seen: their file keys): the tar may not be an input or another output, and its folder
// (the bundle folder, or the tar's work folder FILE.tar.export.d) may not hold an input:
// export writes its files there (bundle.json, attestations.json, release/, blobs/).
func checkBundleTo(a Args, x exportArgs, seen map[string]string) []error {
	var errs []error
	more := exportInputs(x)
	if strings.HasSuffix(x.to, ".tar") {
		key := fileKey(x.to)
		if in := inputNamed(a, key, more...); in != "" {
			errs = append(errs, fmt.Errorf("--to %s: %s", x.to, strings.Replace(in, "an output would", "the bundle would", 1)))
		} else if other, ok := seen[key]; ok {
			errs = append(errs, fmt.Errorf("--to %s: the same file as %s (%s): the bundle and each output need their own file", x.to, other, key))
		}
	}
	dir := fileKey(bundleFolder(x.to))
	for _, in := range append(inputs(a), more...) {
		if ik := fileKey(in.path); in.path != "" && (ik == dir || within(ik, dir)) {
			errs = append(errs, fmt.Errorf("--to %s: the bundle folder %s holds the %s %s: export writes the bundle's files there; give a folder of its own", x.to, dir, in.flag, in.path))
		} else if in.path != "" && tarPart(ik, x.to) {
			errs = append(errs, fmt.Errorf("--to %s: the %s %s is named as a part of the bundle (--split writes %s.000, .001, ...)", x.to, in.flag, in.path, x.to))
		}
	}
	if a.ReleaseDir != "" && (within(fileKey(a.ReleaseDir), dir) || fileKey(a.ReleaseDir) == dir) {
		errs = append(errs, fmt.Errorf("--to %s: the bundle folder %s holds the release folder --release-dir %s: export writes the bundle's files there; give a folder of its own", x.to, dir, a.ReleaseDir))
	}
	return errs
}

// tarPart: the file key key is a part export's --split would write for --to to (a tar).
func tarPart(key, to string) bool {
	return strings.HasSuffix(to, ".tar") && partOf(key, fileKey(to))
}

// partOf: the file key key is a part of a split bundle (bundle.PartBase) whose tar is
// base, or a part of one base is also a part of.
func partOf(key, base string) bool {
	kb, ok := bundle.PartBase(key)
	if !ok {
		return false
	}
	if bb, ok := bundle.PartBase(base); ok {
		base = bb
	}
	return kb == base
}

// bundleFolder is the folder export writes the bundle's files into for --to: the folder
// itself, or FILE.tar.export.d for a tar (runExport).
func bundleFolder(to string) string {
	if strings.HasSuffix(to, ".tar") {
		return to + ".export.d"
	}
	return to
}

// exportInputs are what export reads beyond Args: --since, a previous bundle (its folder
// or bundle.json) or a previous release folder.
func exportInputs(x exportArgs) []output {
	if x.since == "" {
		return nil
	}
	return []output{{"--since", x.since}}
}

// within: the file key key is below the folder key dir.
func within(key, dir string) bool {
	return dir != "" && strings.HasPrefix(key, strings.TrimSuffix(dir, string(filepath.Separator))+string(filepath.Separator))
}

// fileKey is the absolute path of the file path names with the symbolic links of its
// folder resolved, so that two spellings of one file (a linked folder, "..") are one key;
// a file that is itself a link (an input: read through it) is resolved whole. The path
// as far as it resolves when it does not exist.
func fileKey(path string) string {
	abs := absPath(path)
	if p, err := filepath.EvalSymlinks(abs); err == nil {
		return p
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		return filepath.Join(dir, filepath.Base(abs))
	}
	return abs
}

// inputs are the files a run of a reads, each with the flag that names it: the --config
// file the flags came from, the attestor key, the attestation bundle, the settings files,
// the auth file, the bank's public key, and the bundles it reads (--from-bundle,
// --earlier-bundle). The release folder is inputNamed's own case.
func inputs(a Args) []output {
	ins := []output{{"--config", a.Config}, {"--src_attestor", a.AttestorKeyFile}, {"--attestation-bundle", a.AttestationBundle},
		{"--trg_ecr_policy_file_path", a.PolicyPath}, {"--trg_ecr_lifecycle_file_path", a.LifecyclePath},
		{"--trg_resource_tags_file_path", a.TagsPath}, {"--authfile", a.AuthFile}, {"--bank-public-key", a.BankPublicKey},
		{"--from-bundle", a.FromBundle}}
	for _, b := range a.EarlierBundles {
		ins = append(ins, output{"--earlier-bundle", b})
	}
	if a.AuthFile == "" {
		// containers/image reads it when --authfile is not given.
		if f := strings.TrimSpace(os.Getenv("REGISTRY_AUTH_FILE")); f != "" {
			ins = append(ins, output{"$REGISTRY_AUTH_FILE", f})
		}
	}
	return ins
}

// bundleInputs are the input flags that name a bundle or a folder read whole: a folder
// (every file in it is the bundle's), a tar, or split parts FILE.tar.NNN.
var bundleInputs = map[string]bool{"--from-bundle": true, "--earlier-bundle": true, "--since": true}

// inputNamed says, as the end of an error naming the output, which of the run's inputs
// the file key (fileKey) is, or "": one of inputs(a) or more (a file of a bundle among
// them: in its folder, or one of its parts), a place a file flag left at its default name
// is looked for (a.DefaultPlaces: the one not read may be read next time, or make the two
// differ), or a file in the release folder with a release file's postfix (the next run
// would read a report written there as part of the release).
func inputNamed(a Args, key string, more ...output) string {
	for _, in := range append(inputs(a), more...) {
		if in.path == "" {
			continue
		}
		ik := fileKey(in.path)
		switch {
		case ik == key:
			return "it is the " + in.flag + " file: an output would overwrite it"
		case !bundleInputs[in.flag]:
		case within(key, ik):
			return "it is inside the " + in.flag + " folder " + ik + ": an output would change what the run reads"
		case partOf(key, ik):
			return "it is a part of the " + in.flag + " bundle " + in.path + ": an output would overwrite it"
		}
	}
	for _, pl := range a.DefaultPlaces {
		if fileKey(pl.path) == key {
			return "it is where the " + pl.flag + " file, left at its default name, is looked for: an output there would be read as it"
		}
	}
	if a.ReleaseDir != "" && filepath.Dir(key) == fileKey(a.ReleaseDir) {
		base := filepath.Base(key)
		for _, postfix := range []string{a.ReleasePostfix, a.PackagesPostfix} {
			if postfix != "" && strings.HasSuffix(base, postfix) {
				return "a file of the release folder (its name ends with " + postfix + "): an output would overwrite it"
			}
		}
	}
	return ""
}

// toAFile says where the outputs go, for the refusals of other places.
const toAFile = "the report, the JUnit file and the error log are each written to a file"

// checkOutput checks that the file path can be written as tmsync.WriteFileAtomic writes
// it: a temporary file in its folder, renamed over it.
func checkOutput(path string) error {
	if path == "-" {
		// Not stdout: a file named "-" would be written in the working folder.
		return fmt.Errorf("not standard output: %s; print a written report with `tmsync report FILE`", toAFile)
	}
	if strings.HasSuffix(path, "/") || strings.HasSuffix(path, string(filepath.Separator)) {
		return fmt.Errorf("names a folder (%s): want a file name in it", absPath(path))
	}
	if fi, err := os.Lstat(path); err == nil {
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			// Refused, not followed: the rename would replace the link and leave what it
			// points to as it was; and a link planted at the path must not send the
			// report into a folder the command line did not name.
			target, _ := os.Readlink(path)
			what := "a symbolic link to " + target
			if ti, err := os.Stat(path); err != nil {
				what += " (which does not exist)"
			} else if !ti.Mode().IsRegular() {
				what += " (" + fileKind(ti.Mode()) + ")"
			}
			return fmt.Errorf("%s is %s: %s, which would replace the link, not write to it; give the file's own path (%s; print a written report with `tmsync report FILE`)", absPath(path), what, writtenWhole, toAFile)
		case fi.IsDir():
			return fmt.Errorf("%s is a folder: want a file name in it", absPath(path))
		case !fi.Mode().IsRegular():
			// A pipe or a device (/dev/null, /dev/stdout's target) is refused rather than
			// written directly: it has no atomic replacement, and the rename would
			// replace the device node itself where the folder is writable.
			return fmt.Errorf("%s is %s, not a regular file: %s; give a file name (%s; print a written report with `tmsync report FILE`)", absPath(path), fileKind(fi.Mode()), writtenWhole, toAFile)
		}
	}
	dir := filepath.Dir(path)
	abs := absPath(dir)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("folder %s does not exist", abs)
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("folder %s: a part of it is a file, not a folder", abs)
	case err != nil:
		return fmt.Errorf("folder %s: %w", abs, pathCause(err))
	case !fi.IsDir():
		return fmt.Errorf("folder %s is a file, not a folder", abs)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("cannot create a file in folder %s: %w", abs, pathCause(err))
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("cannot remove a file from folder %s: %w", abs, pathCause(err))
	}
	return nil
}

// writtenWhole says how an output is written, for the refusal of a path that is not a
// regular file.
const writtenWhole = "an output is written whole, as a new file renamed over its path"

// fileKind names the kind of a file that is not a regular one.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a folder"
	}
	return "a special file"
}

// pathCause is err without the path an *fs.PathError names (a temporary file's): the
// caller names the folder or the file itself.
func pathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// failAfterLog prints line, a failure found after the error log was written (export's
// packing), and adds it to the error log, so that the log is not empty when the exit
// status is not 0.
func failAfterLog(console *Console, errorLog, line string) {
	line = tmsync.Sanitize(oneLine(console.Redactor.Redact(line)))
	console.Printf("%s", line)
	old, err := os.ReadFile(errorLog)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		console.Printf("ERROR: --error-log: reading %s: %v", absPath(errorLog), pathCause(err))
		return
	}
	if err := writeOutputFile(absPath(errorLog), func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "%s%s\n", old, line)
		return err
	}); err != nil {
		console.Printf("ERROR: --error-log: %v", err)
	}
}
