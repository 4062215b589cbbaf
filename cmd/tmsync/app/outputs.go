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
// not be one file. logOK is false when the error log itself cannot be written: then the
// error can only be printed.
func checkOutputs(a Args) (logOK bool, err error) {
	logOK = true
	var errs []error
	seen := map[string]string{} // absolute path: the flag that named it
	for _, o := range outputs(a) {
		abs := absPath(o.path)
		if err := checkOutput(o.path); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", o.flag, o.path, err))
			logOK = logOK && o.flag != "--error-log"
			continue
		}
		if in := inputNamed(a, abs); in != "" {
			errs = append(errs, fmt.Errorf("%s %s: %s: an output would overwrite it", o.flag, o.path, in))
			continue
		}
		if other, ok := seen[abs]; ok {
			errs = append(errs, fmt.Errorf("%s %s: the same file as %s (%s): each output needs its own file", o.flag, o.path, other, abs))
			continue
		}
		seen[abs] = o.flag
	}
	if len(errs) == 0 {
		return true, nil
	}
	return logOK, startErr("checking the output files", errors.Join(errs...))
}

// inputNamed says which of the run's inputs the absolute path abs is, or "": the attestor
// key, a settings file, the auth file, the bank's public key, or a file in the release
// folder with a release file's postfix (the next run would read a report written there as
// part of the release).
func inputNamed(a Args, abs string) string {
	for _, in := range []output{{"--src_attestor", a.AttestorKeyFile}, {"--trg_ecr_policy_file_path", a.PolicyPath},
		{"--trg_ecr_lifecycle_file_path", a.LifecyclePath}, {"--trg_resource_tags_file_path", a.TagsPath},
		{"--authfile", a.AuthFile}, {"--bank-public-key", a.BankPublicKey}} {
		if in.path != "" && absPath(in.path) == abs {
			return "it is the " + in.flag + " file"
		}
	}
	if a.ReleaseDir != "" && filepath.Dir(abs) == absPath(a.ReleaseDir) {
		base := filepath.Base(abs)
		for _, postfix := range []string{a.ReleasePostfix, a.PackagesPostfix} {
			if postfix != "" && strings.HasSuffix(base, postfix) {
				return "a file of the release folder (its name ends with " + postfix + ")"
			}
		}
	}
	return ""
}

// checkOutput checks that the file path can be written as tmsync.WriteFileAtomic writes
// it: a temporary file in its folder, renamed over it.
func checkOutput(path string) error {
	if strings.HasSuffix(path, "/") || strings.HasSuffix(path, string(filepath.Separator)) {
		return fmt.Errorf("names a folder (%s): want a file name in it", absPath(path))
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a folder: want a file name in it", absPath(path))
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
