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
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/tmsync/tmsync/tmsync"
)

// exitCode carries a status out of an action without urfave/cli printing anything.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// Run runs the command line args (args[0] is the program's name) and returns its exit
// status: 0 every image in place and verified, 1 some images failed, 2 the run could not
// start. It takes TM_TOKEN (and, once the AWS configuration is read, the AWS secret keys)
// out of the environment for the duration of the run, and puts them back before it
// returns.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	token, restore := takeSecretEnv()
	defer restore()
	app := newApp(stdout, stderr, token)
	err := app.RunContext(ctx, joinBoolValues(args, boolFlagNames(app.Commands)))
	if code, ok := err.(exitCode); ok {
		return int(code)
	}
	if err != nil {
		fmt.Fprintf(stderr, "ERROR: %v\n", err)
		return 2
	}
	return 0
}

// newApp is the command line; token is the vendor token read from TM_TOKEN, which is no
// longer in the environment.
func newApp(stdout, stderr io.Writer, token string) *cli.App {
	return &cli.App{
		Name:    "tmsync",
		Usage:   "put a Thought Machine Vault release into Amazon ECR, verified and byte for byte",
		Version: tmsync.Version,
		Writer:  stdout, ErrWriter: stderr,
		Description: "tmsync reads a release folder, verifies the vendor's attestation of every image digest,\n" +
			"creates or reconciles the ECR repositories, and copies every image keeping its digest.\n" +
			"Exit status: 0 every image in place and verified; 1 some images failed; 2 the run could not start\n" +
			"(bad input, a preflight problem); 3 plan --detailed-exitcode: changes pending.",
		Commands: []*cli.Command{
			modeCommand(tmsync.ModeSync, "verify, provision and copy a release", stdout, stderr, token),
			modeCommand(tmsync.ModePlan, "say what sync would do, changing nothing", stdout, stderr, token),
			modeCommand(tmsync.ModeVerify, "check the target against the release without copying", stdout, stderr, token),
			exportCommand(stdout, stderr, token),
			bundleCommand(stdout, stderr),
			copyCommand(stdout, stderr, token),
			reportCommand(stdout),
			versionCommand(stdout),
			configCommand(stdout, stderr, token),
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
}

func modeCommand(mode tmsync.Mode, usage string, stdout, stderr io.Writer, token string) *cli.Command {
	return &cli.Command{
		Name:         string(mode),
		Usage:        usage,
		Flags:        append(modeFlags(mode), configFlag()),
		Before:       applyConfig,
		OnUsageError: usageError(stderr),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				fmt.Fprintf(stderr, "ERROR: unexpected arguments %q (flags only)\n", c.Args().Slice())
				return exitCode(2)
			}
			a, err := argsFromFlags(c, stderr)
			if a.SrcPassword != "" {
				a.TokenFrom = "--srcpasswd"
			} else if token != "" {
				a.SrcPassword, a.TokenFrom = token, "TM_TOKEN"
			}
			if err != nil {
				fmt.Fprintf(stderr, "ERROR: %v\n", err)
				return exitCode(2)
			}
			return exitCode(runMode(c.Context, mode, a, stdout, stderr))
		},
	}
}
