package app

import (
	"fmt"
	"io"
	"reflect"
	"regexp"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/tmsync/tmsync/tmsync"
)

// helpWidth is the column help text is wrapped at.
const helpWidth = 100

func init() {
	// urfave/cli's own flags, in a category as every other flag is: a command's help lists
	// only the flags of its categories once one of its flags has one, and every command's
	// help lists every flag it takes (--help, -h too).
	cli.HelpFlag = &cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help", Category: catRun}
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version", Category: catRun}
	cli.HelpPrinter = func(w io.Writer, templ string, data any) {
		var b strings.Builder
		cli.HelpPrinterCustom(&b, templ, data, map[string]any{"wrapAt": func() int { return helpWidth }})
		io.WriteString(w, layoutHelp(b.String()))
	}
}

// flagLine is a flag's help line: its names, then its usage after two or more spaces.
var flagLine = regexp.MustCompile(`^(\s+)(--?\S.*?)\s{2,}(\S.*)$`)

// layoutHelp puts each flag's usage under its names, like kubectl and gh, and wraps every
// line at helpWidth.
func layoutHelp(help string) string {
	var out []string
	for _, line := range strings.Split(help, "\n") {
		if m := flagLine.FindStringSubmatch(line); m != nil {
			out = append(out, m[1]+m[2])
			out = append(out, wrapWords(m[3], m[1]+"      ")...)
			continue
		}
		if len(line) <= helpWidth {
			out = append(out, line)
			continue
		}
		indent := line[:len(line)-len(strings.TrimLeft(line, " "))]
		out = append(out, wrapWords(strings.TrimSpace(line), indent+"  ")...)
	}
	return strings.Join(out, "\n")
}

// wrapWords wraps text at helpWidth, each line starting with indent.
func wrapWords(text, indent string) []string {
	var lines []string
	cur := indent
	for _, w := range strings.Fields(text) {
		for len(indent)+len(w) > helpWidth { // a word longer than a line (a URL): split it
			if len(cur) > len(indent) {
				lines = append(lines, cur)
			}
			n := helpWidth - len(indent)
			lines = append(lines, indent+w[:n])
			cur, w = indent, w[n:]
		}
		if len(cur) > len(indent) && len(cur)+1+len(w) > helpWidth {
			lines = append(lines, cur)
			cur = indent
		}
		if len(cur) > len(indent) {
			cur += " "
		}
		cur += w
	}
	return append(lines, cur)
}

// Help categories of the flags.
const (
	catSource = "Source (vendor registry and attestations)"
	catTarget = "Target (ECR or a registry)"
	catOutput = "Outputs"
	catRun    = "Run"
)

// flagCategory names the help category of each flag by name; a flag not named here is
// shown under catRun. Categories are set here rather than on each flag's line, so that a
// change adding a flag to syncFlags needs no change here.
var flagCategory = map[string]string{
	"srcusr": catSource, "srcpasswd": catSource, "srcdomain": catSource, "src_packages_postfix": catSource,
	"src_release_postfix": catSource, "src_attestions_address": catSource, "gnupgdir": catSource,
	"src_attestor": catSource, "src-attestor-fingerprint": catSource, "src-token-secret": catSource,
	"authfile": catSource, "attestation-bundle": catSource, "attestation-per-image": catSource,
	"strict-key-expiry": catSource, "byo-policy": catSource, "release-dir": catSource, "release-sha256": catSource,
	"trgprefix": catTarget, "trgregion": catTarget, "trg_ecr_policy_file_path": catTarget,
	"trg_ecr_lifecycle_file_path": catTarget, "trg_resource_tags_file_path": catTarget, "trg_kms_key_alias": catTarget,
	"trg_dst_security_scan_enabled": catTarget, "throttle_ecr_creation_ms": catTarget, "target": catTarget,
	"trg-registry": catTarget, "ecr-registry": catTarget, "insecure-registry": catTarget, "trg-tag-mutability": catTarget,
	"trg_ecr_image_untagged_delete_days": catTarget, "prune-tags": catTarget, "scan-wait": catTarget,
	"fail-on-severity": catTarget,
	"error-log":        catOutput, "report": catOutput, "junit": catOutput, "save-attestation-bundle": catOutput,
	"log-level": catOutput, "debug": catOutput, "log-format": catOutput,
	"from-bundle": catSource, "earlier-bundle": catSource,
	"sign-kms-key": catTarget, "bank-public-key": catTarget, "copy-referrers": catTarget,
	"enable-blob-mounting": catTarget,
}

// oldFlags are the old pipeline's flags: they keep its names and its environment (none,
// or the one it read); every other flag also reads TMSYNC_<NAME>.
var oldFlags = map[string]bool{
	"srcusr": true, "srcpasswd": true, "srcdomain": true, "trgprefix": true, "trgregion": true,
	"src_packages_postfix": true, "src_release_postfix": true, "trg_ecr_policy_file_path": true,
	"trg_ecr_lifecycle_file_path": true, "trg_resource_tags_file_path": true, "trg_kms_key_alias": true,
	"trg_dst_security_scan_enabled": true, "throttle_ecr_creation_ms": true, "src_attestions_address": true,
	"gnupgdir": true, "src_attestor": true, "trg_ecr_image_untagged_delete_days": true,
}

// envName is the environment variable of tmsync's own flag name: TMSYNC_ and the name in
// upper case, dashes as underscores.
func envName(name string) string {
	return "TMSYNC_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// setEnv gives a flag of tmsync's own its TMSYNC_ environment variable, unless it names
// one already.
func setEnv(f cli.Flag) {
	name := f.Names()[0]
	if oldFlags[name] {
		return
	}
	if v := flagField(f, "EnvVars"); v.IsValid() && v.Len() == 0 {
		v.Set(reflect.ValueOf([]string{envName(name)}))
	}
}

// flagField is the settable field name of a urfave/cli flag (every flag type of v2 is a
// pointer to a struct with Category, Hidden and EnvVars fields, but no setter shared by
// all), or the zero Value when the flag has no such field.
func flagField(f cli.Flag, name string) reflect.Value {
	v := reflect.ValueOf(f)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}
	}
	return v.Elem().FieldByName(name)
}

// unusedIn says, for plan and verify, the flags of sync they take without using them (a
// script or a --config file shared with sync may give them), and why; their help says it.
// Every flag a command takes is in its help: none is hidden.
var unusedIn = map[tmsync.Mode]map[string]string{
	tmsync.ModePlan: {
		"scan-wait":                "plan reads no scan",
		"fail-on-severity":         "plan reads no scan",
		"dry-run":                  "plan changes nothing",
		"cache-dir":                "plan keeps no blob store: it reads the images' manifests only",
		"cache-max-bytes":          "plan keeps no blob store: it reads the images' manifests only",
		"copy-referrers":           "plan copies nothing",
		"enable-blob-mounting":     "plan changes no account setting; it says what turning BLOB_MOUNTING on would save",
		"throttle_ecr_creation_ms": "plan changes no repository",
	},
	tmsync.ModeVerify: {
		"dry-run":                  "verify copies and provisions nothing, and still checks every image",
		"cache-dir":                "verify pulls no image",
		"cache-max-bytes":          "verify pulls no image",
		"copy-referrers":           "verify copies nothing",
		"enable-blob-mounting":     "verify changes no account setting",
		"throttle_ecr_creation_ms": "verify changes no repository",
		"detailed-exitcode":        "verify has no changes to report",
	},
}

// checkedUnused are the flags of unusedIn whose values plan and verify check all the same,
// as sync checks them (checkArgs, the size grammar): such a value, from a script or a
// --config file shared with sync, would stop the sync, so it stops the plan or the verify
// of the same settings first. Their help says it.
var checkedUnused = map[string]bool{"scan-wait": true, "fail-on-severity": true, "cache-max-bytes": true, "throttle_ecr_creation_ms": true}

// modeFlags are the flags of mode, each in its help category, the help of those mode
// does not use saying so.
func modeFlags(mode tmsync.Mode) []cli.Flag {
	var out []cli.Flag
	for _, f := range syncFlags() {
		name := f.Names()[0]
		if why := unusedIn[mode][name]; why != "" {
			if v := flagField(f, "Usage"); v.IsValid() {
				said := "; " + string(mode) + ": taken, not used (" + why + ")"
				if checkedUnused[name] {
					said += ", but its value is checked as sync checks it"
				}
				v.SetString(v.String() + said)
			}
		}
		cat := flagCategory[name]
		if cat == "" {
			cat = catRun
		}
		setCategory(f, cat)
		setEnv(f)
		out = append(out, f)
	}
	return out
}

// categorize puts each of flags in its help category.
func categorize(flags []cli.Flag) []cli.Flag {
	for _, f := range flags {
		cat := flagCategory[f.Names()[0]]
		if cat == "" {
			cat = catRun
		}
		setCategory(f, cat)
	}
	return flags
}

// setCategory sets a flag's help category when it has none.
func setCategory(f cli.Flag, cat string) {
	if v := flagField(f, "Category"); v.IsValid() && v.String() == "" {
		v.SetString(cat)
	}
}

// usageError prints a usage error (usageProblem's wording) and exits 2.
func usageError(stderr io.Writer) cli.OnUsageErrorFunc {
	return func(c *cli.Context, err error, _ bool) error {
		fmt.Fprintf(stderr, "ERROR: %v\n", usageProblem(c, err))
		return exitCode(2)
	}
}

// The flag package's words for a command line that does not parse.
var (
	undefinedFlag = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	invalidValue  = regexp.MustCompile(`(?s)^invalid (?:boolean )?value "(.*)" for (?:flag )?-+([^:]+): (.*)$`)
	needsValue    = regexp.MustCompile(`^flag needs an argument: -+(.*)$`)
)

// tokenFlag: a flag name (one the command does not have) that looks like a place for
// the vendor token: --token, --tm-token, --TM_TOKEN, --password...
var tokenFlag = regexp.MustCompile(`(?i)token|passw(?:or)?d|passw|pwd`)

// isFlagNameRune: r can be part of a flag's name.
func isFlagNameRune(r rune) bool {
	return r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}

// minInt is the least value of the int flags whose least value is not 0.
var minInt = map[string]int{"concurrency": 1, "shard-count": 1, "trg_ecr_image_untagged_delete_days": 1}

// usageProblem is err (a flag that does not parse) in the operator's words: the flag as
// it is typed (--name), a close flag suggested, a token flag sent to TM_TOKEN (its value
// never repeated), a bad value with what a good one looks like. The same words go to the
// console and to the error log.
func usageProblem(c *cli.Context, err error) error {
	var flags []cli.Flag
	if c != nil && c.Command != nil {
		flags = c.Command.Flags
	}
	if m := undefinedFlag.FindStringSubmatch(err.Error()); m != nil {
		name := m[1]
		var names []string
		for _, f := range flags {
			names = append(names, f.Names()...)
		}
		// The name as the flag package read it can hold what followed it in the same
		// argument ("--token SECRET" quoted as one, "--token:SECRET"): only its run of
		// flag-name characters is repeated.
		shown := name
		if i := strings.IndexFunc(name, func(r rune) bool { return !isFlagNameRune(r) }); i >= 0 {
			shown = name[:i] + "…"
		}
		// A close flag first: --src-token-secrt is a typo of --src-token-secret, not a
		// place for the token.
		// A token glued to a token-like name (--srcpasswdSECRET, --token-SECRET):
		// nothing after the word is repeated.
		cutToken := func() {
			if loc := tokenFlag.FindStringIndex(shown); loc != nil && strings.TrimSuffix(shown[loc[1]:], "…") != "" {
				shown = shown[:loc[1]] + "…"
			}
		}
		if s := suggest(name, names); s != "" {
			if s == "srcpasswd" { // a short token glued to the token's own flag
				cutToken()
			}
			return fmt.Errorf("no flag --%s: did you mean --%s?", shown, s)
		}
		if tokenFlag.MatchString(shown) {
			cutToken()
			return fmt.Errorf("no flag --%s: the vendor token goes in the TM_TOKEN environment variable, or in the Secrets Manager secret --src-token-secret names, not on the command line", shown)
		}
		return fmt.Errorf("no flag --%s (%s --help lists them)", shown, strings.TrimSpace("tmsync "+commandName(c)))
	}
	if m := needsValue.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("--%s needs a value", m[1])
	}
	if m := invalidValue.FindStringSubmatch(err.Error()); m != nil {
		value, name := m[1], m[2]
		want := ""
		for _, f := range flags {
			if !slices.Contains(f.Names(), name) {
				continue
			}
			switch f.(type) {
			case *cli.IntFlag, *cli.Int64Flag, *cli.UintFlag, *cli.Uint64Flag:
				want = fmt.Sprintf("a whole number, %d or more", minInt[f.Names()[0]])
			case *cli.DurationFlag:
				want = "a duration such as 90s, 5m or 1h30m"
			case *cli.BoolFlag:
				want = "true or false"
			case *cli.Float64Flag:
				want = "a number"
			}
		}
		if want == "" {
			return fmt.Errorf("--%s %q: %s", name, value, m[3])
		}
		return fmt.Errorf("--%s %q: want %s", name, value, want)
	}
	return err
}

// commandName is the name of c's command as typed after tmsync ("sync", "bundle verify").
func commandName(c *cli.Context) string {
	if c == nil || c.Command == nil {
		return ""
	}
	names := strings.Fields(c.Command.FullName())
	if len(names) > 0 && names[0] == c.App.Name {
		names = names[1:]
	}
	return strings.Join(names, " ")
}

// suggest is the name in names closest to typed, if it is close enough to be a typo.
func suggest(typed string, names []string) string {
	best, bestD := "", 1<<30
	for _, n := range names {
		if d := editDistance(strings.ToLower(typed), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	if bestD <= max(2, len(typed)/3) {
		return best
	}
	return ""
}

// editDistance is the Levenshtein distance, with "-" and "_" counted as the same.
func editDistance(a, b string) int {
	a = strings.ReplaceAll(a, "_", "-")
	b = strings.ReplaceAll(b, "_", "-")
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// boolWords are the values the old pipeline accepted after a boolean flag, as a separate
// argument ("--trg_dst_security_scan_enabled True").
var boolWords = map[string]string{"true": "true", "false": "false", "yes": "true", "no": "false", "1": "true", "0": "false"}

// joinBoolValues rewrites "--flag True" as "--flag=true" for the boolean flags of the
// command named in args, so that the old pipeline's spelling parses.
func joinBoolValues(args []string, bools map[string]bool) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		name := strings.TrimLeft(a, "-")
		if strings.HasPrefix(a, "-") && !strings.Contains(name, "=") && bools[name] && i+1 < len(args) {
			if v, ok := boolWords[strings.ToLower(args[i+1])]; ok {
				out = append(out, a+"="+v)
				i++
				continue
			}
		}
		if n, v, ok := strings.Cut(name, "="); ok && strings.HasPrefix(a, "-") && bools[n] {
			if w, ok := boolWords[strings.ToLower(v)]; ok {
				out = append(out, "--"+n+"="+w)
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// boolFlagNames are the names of the boolean flags of every command.
func boolFlagNames(cmds []*cli.Command) map[string]bool { return flagNames(cmds, true) }

// valueFlagNames are the names of the flags of every command that take a value: all but
// the boolean ones.
func valueFlagNames(cmds []*cli.Command) map[string]bool { return flagNames(cmds, false) }

// flagNames are the names (aliases included) of the flags of cmds and their subcommands
// that are boolean (bools) or are not (!bools).
func flagNames(cmds []*cli.Command, bools bool) map[string]bool {
	m := map[string]bool{}
	eachFlag(cmds, func(f cli.Flag) {
		if _, isBool := f.(*cli.BoolFlag); isBool == bools {
			for _, n := range f.Names() {
				m[n] = true
			}
		}
	})
	return m
}

// eachFlag calls fn with every flag of cmds and of their subcommands, at any depth.
func eachFlag(cmds []*cli.Command, fn func(cli.Flag)) {
	for _, c := range cmds {
		for _, f := range c.Flags {
			fn(f)
		}
		eachFlag(c.Subcommands, fn)
	}
}

func versionCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print tmsync's version, Go version and the versions of its modules",
		Flags: categorize([]cli.Flag{&cli.BoolFlag{Name: "short", Usage: "the version only"}}),
		Action: func(c *cli.Context) error {
			fmt.Fprintf(stdout, "tmsync %s\n", tmsync.Version)
			if c.Bool("short") {
				return nil
			}
			bi, ok := debug.ReadBuildInfo()
			if !ok {
				return nil
			}
			fmt.Fprintf(stdout, "go: %s\nmodule: %s %s\n", bi.GoVersion, bi.Main.Path, bi.Main.Version)
			settings := map[string]string{}
			for _, s := range bi.Settings {
				settings[s.Key] = s.Value
			}
			for _, k := range []string{"vcs.revision", "vcs.time", "vcs.modified", "-tags", "GOOS", "GOARCH", "CGO_ENABLED"} {
				if v := settings[k]; v != "" {
					fmt.Fprintf(stdout, "%s: %s\n", k, v)
				}
			}
			deps := append([]*debug.Module(nil), bi.Deps...)
			sort.Slice(deps, func(i, j int) bool { return deps[i].Path < deps[j].Path })
			fmt.Fprintf(stdout, "dependencies (%d):\n", len(deps))
			for _, d := range deps {
				v := d.Version
				if d.Replace != nil {
					v += " => " + d.Replace.Path + " " + d.Replace.Version
				}
				fmt.Fprintf(stdout, "  %s %s\n", d.Path, v)
			}
			return nil
		},
	}
}

func completionCommand(stdout, stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script: bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: "bash: source <(tmsync completion bash)\n" +
			"zsh:  tmsync completion zsh > \"${fpath[1]}/_tmsync\"\n" +
			"fish: tmsync completion fish > ~/.config/fish/completions/tmsync.fish",
		Action: func(c *cli.Context) error {
			switch c.Args().First() {
			case "bash":
				fmt.Fprint(stdout, bashCompletion)
			case "zsh":
				fmt.Fprint(stdout, zshCompletion)
			case "fish":
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return err
				}
				fmt.Fprint(stdout, s)
			default:
				fmt.Fprintf(stderr, "ERROR: completion takes bash, zsh or fish, not %s\n", strconv.Quote(c.Args().First()))
				return exitCode(2)
			}
			return nil
		},
	}
}

// The bash and zsh scripts ask tmsync itself for the candidates
// (--generate-bash-completion, urfave/cli's protocol).
const bashCompletion = `# bash completion for tmsync: source <(tmsync completion bash)
_tmsync_complete() {
  local cur words
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  words=("${COMP_WORDS[@]:0:COMP_CWORD}")
  if [[ "$cur" == -* ]]; then
    words+=("$cur")
  fi
  COMPREPLY=($(compgen -W "$("${words[@]}" --generate-bash-completion 2>/dev/null)" -- "$cur"))
  return 0
}
complete -o bashdefault -o default -F _tmsync_complete tmsync
`

const zshCompletion = `#compdef tmsync
# zsh completion for tmsync: tmsync completion zsh > "${fpath[1]}/_tmsync"
_tmsync() {
  local -a opts
  local cur
  cur=${words[-1]}
  if [[ "$cur" == "-"* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
compdef _tmsync tmsync
`
