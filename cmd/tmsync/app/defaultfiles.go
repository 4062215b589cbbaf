package app

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
)

// resolveDefaultFiles finds the files of the flags left at their default names.
//
// The old pipeline ran in one folder holding the release files, the attestor key and the
// settings files. tmsync's buildspec keeps the release files in a subfolder
// (--release-dir releases) with the key and the settings next to that folder, as the
// operations guide lays out the release; an operator may also keep them all in the release
// folder. So a default name is looked for in the release folder, then in the working
// folder. When both hold the file and they differ, the run is refused: which one the
// operator meant is not tmsync's guess (it is the trust anchor, for the key). A name given
// on the command line, in the environment or in --config is used as given.
//
// A default file found in neither place is left at its release-folder path; a.Absent says
// where it was looked for, for the messages (a missing key stops the run, a missing
// settings file is skipped with a notice).
func resolveDefaultFiles(c *cli.Context, a *Args) error {
	// The file flags whose default is a bare name: the attestor key and the repository
	// settings files.
	flags := []struct {
		name string
		p    *string
	}{{"src_attestor", &a.AttestorKeyFile}, {"trg_ecr_policy_file_path", &a.PolicyPath},
		{"trg_ecr_lifecycle_file_path", &a.LifecyclePath}, {"trg_resource_tags_file_path", &a.TagsPath}}
	var errs []string
	for _, f := range flags {
		name, p := f.name, f.p
		if c.IsSet(name) || *p == "" || filepath.IsAbs(*p) {
			continue
		}
		if name != "src_attestor" && a.Target != "" && a.Target != "ecr" {
			continue // the repository settings are ECR's: not read with another target
		}
		a.DefaultPlaces = append(a.DefaultPlaces, output{"--" + name, filepath.Join(a.ReleaseDir, *p)}, output{"--" + name, *p})
		found, tried, onlyRelease, err := findDefaultFile(*p, a.ReleaseDir)
		if err != nil {
			errs = append(errs, fmt.Sprintf("--%s: %v: name the one to use with --%s", name, err, name))
			continue
		}
		if found == "" {
			if a.Absent == nil {
				a.Absent = map[string]string{}
			}
			a.Absent[name] = tried
			found = filepath.Join(a.ReleaseDir, *p)
		}
		if onlyRelease {
			if a.FromReleaseFolder == nil {
				a.FromReleaseFolder = map[string]string{}
			}
			a.FromReleaseFolder[name] = found
		}
		*p = found
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// findDefaultFile looks for file in releaseDir, then in the working folder. It returns the
// one found ("" for none), where it looked (for the messages), and whether the file is in
// the release folder only (that folder not being the working folder).
func findDefaultFile(file, releaseDir string) (found, tried string, onlyRelease bool, err error) {
	places := []struct{ what, path string }{{"the release folder", filepath.Join(releaseDir, file)}, {"the working folder", file}}
	if absPath(places[0].path) == absPath(places[1].path) {
		places = places[1:]
	}
	var present []string
	var said []string
	for _, pl := range places {
		said = append(said, pl.what+" ("+absPath(pl.path)+")")
		if fi, err := os.Stat(pl.path); err == nil && !fi.IsDir() {
			present = append(present, pl.path)
		}
	}
	tried = strings.Join(said, " nor in ")
	switch len(present) {
	case 0:
		return "", tried, false, nil
	case 1:
		return present[0], tried, len(places) == 2 && present[0] == places[0].path, nil
	}
	same, err := sameContent(present[0], present[1])
	if err != nil {
		return "", tried, false, err
	}
	if !same {
		return "", tried, false, fmt.Errorf("%s is in the release folder (%s) and in the working folder (%s), and the two differ",
			file, absPath(present[0]), absPath(present[1]))
	}
	return present[0], tried, false, nil
}

// attestorKeyWarning is the warning of a run whose attestor key is not pinned by
// --src-attestor-fingerprint: whoever can change the key file then chooses the key the
// attestations are checked with. The shipped pipeline's key comes in the release zip, with
// the release, and --release-sha256 does not cover it (it pins the release files). Said
// more plainly when the key, left at its default name, was found in the release folder
// only. "" when the key is pinned or there is no key file.
func attestorKeyWarning(a Args) string {
	if len(a.AttestorFingerprints) > 0 || a.AttestorKeyFile == "" {
		return ""
	}
	if _, absent := a.Absent["src_attestor"]; absent {
		return "" // the run stops on the missing key
	}
	if key, ok := a.FromReleaseFolder["src_attestor"]; ok {
		return fmt.Sprintf("the attestor key %s was read from the release folder: whoever can write that folder chooses the key the attestations are checked with, and --release-sha256 does not cover it; %s", absPath(key), pinAdvice)
	}
	return unpinnedKeyWarning(a.AttestorKeyFile)
}

// unpinnedKeyWarning is the warning of a run (or a copy) whose attestor key file no
// fingerprint pins.
func unpinnedKeyWarning(keyFile string) string {
	return fmt.Sprintf("the attestor key %s is not pinned: whoever can change that file (in the pipeline, whoever uploads the release zip that carries it) chooses the key the attestations are checked with; %s", absPath(keyFile), pinAdvice)
}

// pinAdvice is what clears the warnings of an unpinned attestor key.
const pinAdvice = "pin it with --src-attestor-fingerprint FP (TMSYNC_SRC_ATTESTOR_FINGERPRINT), the fingerprint the vendor gives you out of band"

// sameContent reports whether two files hold the same bytes. The files are small (a key,
// a policy); one larger than maxDefaultFile is not compared but refused.
func sameContent(a, b string) (bool, error) {
	read := func(p string) ([]byte, error) {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if fi.Size() > maxDefaultFile {
			return nil, fmt.Errorf("%s: %d bytes, more than a key or a settings file holds", absPath(p), fi.Size())
		}
		return os.ReadFile(p)
	}
	x, err := read(a)
	if err != nil {
		return false, err
	}
	y, err := read(b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(x, y), nil
}

// maxDefaultFile bounds the files sameContent reads.
const maxDefaultFile = 16 << 20
