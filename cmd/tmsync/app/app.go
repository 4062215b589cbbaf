// Package app is the tmsync command line: flags, the console, exit codes, AWS
// configuration, the vendor token from a flag, TM_TOKEN or Secrets Manager, and the files
// a run writes. It turns the command line into one call into package tmsync, which knows
// nothing of any of it.
//
// cmd/tmsync's main calls Run; other programs (bench/cmd/tmsync-prof) call Run with the
// same arguments instead of parsing flags themselves.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/tmsync/tmsync/tmsync"
)

// exitCode carries a status out of an action without urfave/cli printing anything.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// Run runs the command line args (args[0] is the program's name) and returns its exit
// status: 0 every image in place and verified, 1 some images failed, 2 the run could not
// start; 128+n (130, 143) when ctx was cancelled by signal n (NotifyContext) and not every
// image is in place. It takes TM_TOKEN (and, once the AWS configuration is read, the AWS secret keys)
// out of the environment for the duration of the run, and puts them back before it
// returns.
//
// Everything written to stderr goes through a Redactor that knows the token (TM_TOKEN,
// --srcpasswd) and any password written into a reference on the command line: an error
// that quotes an argument (urfave/cli's "invalid value", a stray argument) cannot print it.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	token, blank, restore := takeSecretEnv()
	defer restore()
	red := tmsync.NewRedactor(token)
	red.Add(argSecrets(args)...)
	stderr = redactingWriter{w: stderr, red: red}
	cl := &cmdline{args: args, token: token, tokenBlank: blank, red: red, stderr: stderr}
	app := newApp(stdout, stderr, cl)
	defer unsetBlankFlagEnv(app)()
	err := app.RunContext(ctx, joinBoolValues(args, boolFlagNames(app.Commands)))
	if code, ok := err.(exitCode); ok {
		return interruptStatus(ctx, int(code))
	}
	if err != nil {
		fmt.Fprintf(stderr, "ERROR: %v\n", err)
		return interruptStatus(ctx, 2)
	}
	return 0
}

// unsetBlankFlagEnv takes out of the environment, until the returned function puts them
// back, the variables of app's flags (EnvVars: TMSYNC_*, ECR_KMS_ARN, AWS_REGION,
// TMSYNC_CONFIG) that are set to nothing or white space only: such a variable counts as
// unset, as the AWS SDK reads its own. urfave/cli counts it as given, so an empty
// ECR_KMS_ARN (CodeBuild and Terraform define variables as "") would win over the
// --config file's key, and an empty bool variable would set the flag to false. A flag
// given "" on the command line still counts.
func unsetBlankFlagEnv(app *cli.App) (restore func()) {
	saved := map[string]string{}
	blank := func(f cli.Flag) {
		ef, ok := f.(interface{ GetEnvVars() []string })
		if !ok {
			return
		}
		for _, k := range ef.GetEnvVars() {
			if v, set := os.LookupEnv(k); set && strings.TrimSpace(v) == "" {
				saved[k] = v
			}
		}
	}
	for _, f := range app.Flags {
		blank(f)
	}
	eachFlag(app.Commands, blank)
	for k := range saved {
		os.Unsetenv(k)
	}
	return func() {
		for k, v := range saved {
			os.Setenv(k, v)
		}
	}
}

// redactingWriter writes through red: each Write is one message (fmt.Fprintf, a log
// record), so a secret is never split between two of them.
type redactingWriter struct {
	w   io.Writer
	red *tmsync.Redactor
}

func (r redactingWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, r.red.Redact(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// cmdline is what every command shares of one command line.
type cmdline struct {
	args       []string // as given, for the error log of a command line that does not parse
	token      string   // TM_TOKEN, trimmed
	tokenBlank bool     // TM_TOKEN was set to white space only
	red        *tmsync.Redactor
	stderr     io.Writer // redacted
}

// errTokenBlank refuses a TM_TOKEN of white space only: a secret that did not arrive
// (an empty CI variable, a file of newlines) would otherwise read as "no token".
var errTokenBlank = errors.New("TM_TOKEN is set but blank (white space only): give the vendor token, or unset TM_TOKEN")

// refuse stops a run that cannot start (a stray argument, a blank TM_TOKEN) as the run's
// own "checking flags" errors do: the error on stderr, and the error log (--error-log, or
// sync-error.log) rewritten to say it, so that the log is empty exactly when the exit
// status is 0. An old --report is left as it is, as those errors leave it. An error log
// that names one of the command line's inputs is not written (refusalLog).
func (cl *cmdline) refuse(c *cli.Context, err error) error {
	a, _ := readArgs(c, io.Discard, hasFlag(c.Command.Flags))
	return cl.refuseArgs(a, exportArgs{since: c.String("since")}, err)
}

// refuseUnread is refuse for a --config file that does not read (the command's Before):
// the keys after the bad one were not applied, so the inputs it names are read from it
// leniently (configLeniently), and the error log is not written over a file that is not
// an error log either (refusalLogUnread).
func (cl *cmdline) refuseUnread(c *cli.Context, err error) error {
	configLeniently(c)
	a, _ := readArgs(c, io.Discard, hasFlag(c.Command.Flags))
	errorLog, why := refusalLogUnread(a, exportArgs{since: c.String("since")})
	console := &Console{W: cl.stderr, Redactor: cl.red}
	return exitCode(failStart(console, errorLog, errors.Join(err, why)))
}

// refuseArgs is refuse for the settings a (and export's x) of the command line.
func (cl *cmdline) refuseArgs(a Args, x exportArgs, err error) error {
	console := &Console{W: cl.stderr, Redactor: cl.red}
	errorLog, why := refusalLog(a, x)
	return exitCode(failStart(console, errorLog, errors.Join(err, why)))
}

// refusalLog is the error log a refusal of a run of a (and export's x) writes; "" when
// that file is one of the run's inputs (inputNamed), with the error that says so: a
// refusal must not replace the --config file or the attestor key it could not use.
func refusalLog(a Args, x exportArgs) (string, error) {
	errorLog := errorLogPath(a)
	if in := inputNamed(a, fileKey(errorLog), exportInputs(x)...); in != "" {
		return "", fmt.Errorf("--error-log %s: %s; not written", errorLog, in)
	}
	return errorLog, nil
}

// refusalLogUnread is refusalLog for a command line that was not read whole (a flag that
// does not parse, a --config that does not read): its inputs are known only as far as it
// could be read (argsAsGiven, configLeniently), so the error log is not written either
// over an existing file that is not an error log (notAnErrorLog), which an input named
// where it was not read (in a --config file that does not parse) would be.
func refusalLogUnread(a Args, x exportArgs) (string, error) {
	errorLog, why := refusalLog(a, x)
	if why != nil {
		return errorLog, why
	}
	if not := notAnErrorLog(errorLog); not != "" {
		return "", fmt.Errorf("--error-log %s: %s; not written", errorLog, not)
	}
	return errorLog, nil
}

// errorLogPeek is how much of an existing file notAnErrorLog reads.
const errorLogPeek = 64 << 10

// notAnErrorLog says why the existing file path is not an error log that a refusal may
// replace: it is not a regular file, or a line of it (in its first errorLogPeek bytes)
// does not start with "ERROR: ", as every line of an error log does. "" when it is one
// (an earlier run's, empty or not), or there is no such file.
func notAnErrorLog(path string) string {
	fi, err := os.Lstat(path)
	if err != nil {
		return "" // none: a new file (a path that cannot be written is said by the write)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return "it is a symbolic link, not an error log"
	case !fi.Mode().IsRegular():
		return "it is " + fileKind(fi.Mode()) + ", not an error log"
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("it cannot be read to see that it is an error log: %v", pathCause(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, errorLogPeek))
	if err != nil {
		return fmt.Sprintf("it cannot be read to see that it is an error log: %v", pathCause(err))
	}
	lines := strings.Split(string(data), "\n")
	if int64(len(data)) < fi.Size() {
		lines = lines[:len(lines)-1] // cut at the peek's end: not a whole line
	}
	for i, l := range lines {
		if l == "" && i == len(lines)-1 {
			break // after the last newline
		}
		if !strings.HasPrefix(l, "ERROR: ") {
			return fmt.Sprintf("an existing file that is not an error log (its line %d does not start with \"ERROR: \"): a command line that could not be read whole does not replace it", i+1)
		}
	}
	return ""
}

// runCommand gives a command that runs (sync, plan, verify, export) the error log on
// every way its command line can fail: a flag that does not parse (printed by the
// command's own OnUsageError if it has one), a --config that does not read, a blank
// TM_TOKEN. Its action's own refusals go through cl.refuse.
func (cl *cmdline) runCommand(cmd *cli.Command) *cli.Command {
	printUsage, problem := cmd.OnUsageError, usageProblem
	if printUsage == nil {
		printUsage = usageError(cl.stderr)
	}
	if cmd.Name == "export" {
		problem = exportProblem // the words exportUsageError prints
	}
	cmd.OnUsageError = func(c *cli.Context, err error, sub bool) error {
		code := printUsage(c, err, sub) // prints the error in problem's words
		// urfave/cli reads none of the flags when one does not parse: the error log's
		// path, and the inputs it may not replace, are read from the command line itself.
		a, x := argsAsGiven(c.Command.Flags, cl.args, valueFlagNames(c.App.Commands))
		errorLog, why := refusalLogUnread(a, x)
		if why != nil {
			fmt.Fprintf(cl.stderr, "ERROR: %v\n", why)
		}
		startLog(&Console{W: cl.stderr, Redactor: cl.red}, errorLog, problem(c, err))
		return code
	}
	if before := cmd.Before; before != nil {
		cmd.Before = func(c *cli.Context) error {
			if err := before(c); err != nil {
				return cl.refuseUnread(c, err)
			}
			return nil
		}
	}
	return cl.tokenCommand(cmd)
}

// blankTokenUsed: TM_TOKEN is blank and the command line c would use it, so it must be
// refused. A run uses TM_TOKEN unless --srcpasswd wins over it or it reads a bundle
// (--from-bundle: no vendor). c's flags are read as the command has them after its
// Before (the command line, TMSYNC_* variables, --config); a flag the command does not
// have (export's --from-bundle) reads as unset.
func (cl *cmdline) blankTokenUsed(c *cli.Context) bool {
	return cl.tokenBlank && c.String("srcpasswd") == "" && c.String("from-bundle") == ""
}

// tokenCommand refuses a blank TM_TOKEN before cmd's action, when the run would use it
// (blankTokenUsed).
func (cl *cmdline) tokenCommand(cmd *cli.Command) *cli.Command {
	action := cmd.Action
	cmd.Action = func(c *cli.Context) error {
		if cl.blankTokenUsed(c) {
			return cl.refuse(c, errTokenBlank)
		}
		return action(c)
	}
	return cmd
}

// newApp is the command line; cl.token is the vendor token read from TM_TOKEN, which is
// no longer in the environment.
func newApp(stdout, stderr io.Writer, cl *cmdline) *cli.App {
	app := &cli.App{
		Name:    "tmsync",
		Usage:   "put a Thought Machine Vault release into Amazon ECR, verified and byte for byte",
		Version: tmsync.Version,
		Writer:  stdout, ErrWriter: stderr,
		Description: "tmsync reads a release folder, verifies the vendor's attestation of every image digest,\n" +
			"creates or reconciles the ECR repositories, and copies every image keeping its digest.\n" +
			"Exit status: 0 every image in place and verified; 1 some images failed; 2 the run could not start\n" +
			"(bad input, a preflight problem); 3 plan --detailed-exitcode: changes pending; 130 or 143 the run was\n" +
			"stopped by SIGINT or SIGTERM (what was copying is cut, the report and error log are written);\n" +
			"a second signal stops at once (the error log says so, the report is not written).\n" +
			"A flag's environment variable set to nothing or white space counts as unset.",
		Commands: []*cli.Command{
			modeCommand(tmsync.ModeSync, "verify, provision and copy a release", stdout, cl),
			modeCommand(tmsync.ModePlan, "say what sync would do, changing nothing", stdout, cl),
			modeCommand(tmsync.ModeVerify, "check the target against the release without copying", stdout, cl),
			cl.runCommand(exportCommand(stdout, cl)),
			bundleCommand(stdout, stderr),
			copyCommand(stdout, cl),
			reportCommand(stdout),
			versionCommand(stdout),
			configCommand(stdout, stderr, cl),
			completionCommand(stdout, stderr),
		},
		EnableBashCompletion: true,
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cli.ShowAppHelp(c)
			}
			var names []string
			for _, cmd := range c.App.Commands {
				names = append(names, cmd.Names()...)
			}
			fmt.Fprintf(stderr, "ERROR: no command %q\n", c.Args().First())
			if s := suggest(c.Args().First(), names); s != "" {
				fmt.Fprintf(stderr, "Did you mean %q?\n", s)
			}
			return exitCode(2)
		},
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   usageError(stderr),
	}
	// --help in each command's own flags: urfave/cli adds it to a command only when the
	// command runs, after the app has sorted the command's flags into the help's
	// categories, so that a command with categories would not list it.
	for _, c := range app.Commands {
		if !slices.Contains(c.Flags, cli.HelpFlag) {
			c.Flags = append(c.Flags, cli.HelpFlag)
		}
	}
	return app
}

func modeCommand(mode tmsync.Mode, usage string, stdout io.Writer, cl *cmdline) *cli.Command {
	stderr, token := cl.stderr, cl.token
	return cl.runCommand(&cli.Command{
		Name:   string(mode),
		Usage:  usage,
		Flags:  append(modeFlags(mode), configFlag()),
		Before: applyConfig,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cl.refuse(c, fmt.Errorf("unexpected arguments %q (flags only)", maskRefs(c.Args().Slice())))
			}
			a, err := argsFromFlags(c, stderr)
			if a.SrcPassword != "" {
				a.TokenFrom = "--srcpasswd"
			} else if token != "" {
				a.SrcPassword, a.TokenFrom = token, "TM_TOKEN"
			}
			if err != nil {
				return cl.refuseArgs(a, exportArgs{}, err)
			}
			return exitCode(runMode(c.Context, mode, a, stdout, stderr))
		},
	})
}

// argsAsGiven are the settings of a command line that urfave/cli could not read (a flag
// that does not parse: it then reads none of the command's flags), as far as they can be
// read, for its refusal: the error log it writes and the inputs that log may not replace.
// Each of flags is read as a run reads it: from the arguments as given (argValues), else
// its environment variable, else the --config file (--config or TMSYNC_CONFIG, read by
// configLeniently), else its default; the files left at their default names are then
// looked for in the release folder so read (readArgs, resolveDefaultFiles). takesValue
// are the names of the flags that take a value: written without "=", such a flag takes
// the next argument, which is then never read as a flag ("--report --error-log" is a
// report named --error-log, as the flag package reads it). A flag not known here (the bad
// one, say) takes nothing; a boolean flag is not read from the arguments (none names a
// file).
func argsAsGiven(flags []cli.Flag, args []string, takesValue map[string]bool) (Args, exportArgs) {
	set := flag.NewFlagSet("", flag.ContinueOnError)
	set.SetOutput(io.Discard)
	for _, f := range flags {
		_ = f.Apply(set) // its default, or its environment variable
	}
	for _, f := range flags {
		for _, v := range argValues(args, takesValue, f.Names()...) {
			_ = set.Set(f.Names()[0], v) // a value that does not parse is passed over
		}
	}
	c := cli.NewContext(nil, set, nil)
	c.Command = &cli.Command{Flags: flags}
	configLeniently(c)
	a, _ := readArgs(c, io.Discard, hasFlag(flags))
	return a, exportArgs{since: c.String("since")}
}

// argValues are the values of the flag of names (its name and aliases) in the command line
// args as given, in their order (the flag package takes the last one of a flag of one
// value), none if it is not there; takesValue as for argsAsGiven.
func argValues(args []string, takesValue map[string]bool, names ...string) []string {
	var vs []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		n, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case hasVal:
			if slices.Contains(names, n) {
				vs = append(vs, val)
			}
		case takesValue[n] && i+1 < len(args):
			if slices.Contains(names, n) {
				vs = append(vs, args[i+1])
			}
			i++ // the value of n, whatever it looks like
		}
	}
	return vs
}
