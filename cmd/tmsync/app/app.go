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
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"

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

// refuse stops a run that cannot start (a bad flag, a stray argument, a bad --config) as
// the run's own "checking flags" errors do: the error on stderr, and the error log
// (--error-log, or sync-error.log) rewritten to say it, so that the log is empty exactly
// when the exit status is 0. An old --report is left as it is, as those errors leave it.
// An error log that names one of the command line's inputs is not written (refusalLog).
func (cl *cmdline) refuse(c *cli.Context, err error) error {
	a, _ := readArgs(c, io.Discard, hasFlag(c.Command.Flags)) // as far as they read
	return cl.refuseArgs(a, exportArgs{since: c.String("since")}, err)
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
		// The flags after the bad one are not parsed: the error log's path, and the
		// inputs it may not replace, are read from the command line itself.
		takesValue := valueFlagNames(c.App.Commands)
		a, _ := readArgs(c, io.Discard, hasFlag(c.Command.Flags))
		a.ErrorLog = errorLogFromArgs(cl.args, takesValue)
		x := exportArgs{since: c.String("since")}
		for name, p := range map[string]*string{"config": &a.Config, "src_attestor": &a.AttestorKeyFile,
			"attestation-bundle": &a.AttestationBundle, "trg_ecr_policy_file_path": &a.PolicyPath,
			"trg_ecr_lifecycle_file_path": &a.LifecyclePath, "trg_resource_tags_file_path": &a.TagsPath,
			"authfile": &a.AuthFile, "bank-public-key": &a.BankPublicKey, "from-bundle": &a.FromBundle,
			"release-dir": &a.ReleaseDir, "since": &x.since} {
			if v := argValue(cl.args, takesValue, name); v != "" {
				*p = v
			}
		}
		errorLog, why := refusalLog(a, x)
		if why != nil {
			fmt.Fprintf(cl.stderr, "ERROR: %v\n", why)
		}
		startLog(&Console{W: cl.stderr, Redactor: cl.red}, errorLog, problem(c, err))
		return code
	}
	if before := cmd.Before; before != nil {
		cmd.Before = func(c *cli.Context) error {
			if err := before(c); err != nil {
				return cl.refuse(c, err)
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

// errorLogFromArgs is the error log of a command line whose flags did not parse: the
// flags after a bad one are never read, so --error-log is looked for in the arguments
// as given, then in TMSYNC_ERROR_LOG, then in the --config file; else sync-error.log.
// takesValue are the names of the flags that take a value: written without "=", such a
// flag takes the next argument, which is then never read as a flag ("--report
// --error-log" is a report named --error-log, as the flag package reads it). A flag
// not known here (the bad one, say) takes nothing.
func errorLogFromArgs(args []string, takesValue map[string]bool) string {
	flagValue := func(name string) string { return argValue(args, takesValue, name) }
	if v := flagValue("error-log"); v != "" {
		return v
	}
	if v := os.Getenv(envName("error-log")); v != "" {
		return v
	}
	cfg := flagValue("config")
	if cfg == "" {
		cfg = os.Getenv(envName("config"))
	}
	if cfg != "" {
		var m map[string]any
		if data, err := os.ReadFile(cfg); err == nil && yaml.Unmarshal(data, &m) == nil {
			if v, ok := m["error-log"].(string); ok && v != "" {
				return v
			}
		}
	}
	return errorLogPath(Args{})
}

// argValue is the value of the flag name in the command line args as given (the last
// one, as the flag package takes it), "" if it is not there; takesValue as for
// errorLogFromArgs.
func argValue(args []string, takesValue map[string]bool, name string) string {
	v := ""
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
			if n == name {
				v = val
			}
		case takesValue[n] && i+1 < len(args):
			if n == name {
				v = args[i+1]
			}
			i++ // the value of n, whatever it looks like
		}
	}
	return v
}
