package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/tmsync/tmsync/tmsync"
)

func copyCommand(stdout, stderr io.Writer, token string) *cli.Command {
	return &cli.Command{
		Name:      "copy",
		Usage:     "copy one image, keeping its digest (the manual fallback for a single image)",
		ArgsUsage: "SRC DEST",
		Description: "SRC and DEST are registry references (host/repo:tag or host/repo@sha256:...).\n" +
			"Credentials come from auth.json (--authfile or the usual locations); for the vendor\n" +
			"registry from --srcusr and TM_TOKEN.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "authfile", Usage: "auth.json with registry credentials"},
			&cli.StringSliceFlag{Name: "insecure-registry", Usage: "talk plain HTTP to this HOST[:PORT] (repeatable)"},
			&cli.StringFlag{Name: "srcusr", Value: "_tm", Usage: "user for the vendor registry"},
			&cli.StringFlag{Name: "srcdomain", Value: "docker.external.thoughtmachine.io", Usage: "the vendor registry, logged in to with TM_TOKEN"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				fmt.Fprintln(stderr, "ERROR: copy takes SRC and DEST")
				return exitCode(2)
			}
			res, err := tmsync.CopyOne(c.Context, c.Args().Get(0), c.Args().Get(1), tmsync.CopyOneOptions{
				AuthFile: c.String("authfile"), Insecure: c.StringSlice("insecure-registry"),
				VendorRegistry: c.String("srcdomain"), VendorUser: c.String("srcusr"), VendorToken: token,
			})
			if err != nil {
				fmt.Fprintf(stderr, "ERROR: copy %s to %s: %v\n", c.Args().Get(0), c.Args().Get(1), err)
				return exitCode(1)
			}
			fmt.Fprintf(stdout, "INFO: copied %s to %s: %s\n", c.Args().Get(0), c.Args().Get(1), res)
			return nil
		},
	}
}

func reportCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:      "report",
		Usage:     "print a saved JSON report for people",
		ArgsUsage: "FILE",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				fmt.Fprintln(c.App.ErrWriter, "ERROR: report takes one FILE")
				return exitCode(2)
			}
			r, err := tmsync.ReadReport(c.Args().First())
			if err != nil {
				fmt.Fprintf(c.App.ErrWriter, "ERROR: %v\n", err)
				return exitCode(2)
			}
			if err := r.WriteSummary(stdout); err != nil {
				return err
			}
			return exitCode(r.ExitStatus())
		},
		Subcommands: []*cli.Command{{
			Name:      "merge",
			Usage:     "merge the reports of the shards of one run",
			ArgsUsage: "FILE...",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "output", Required: true, Usage: "merged report"},
				&cli.StringFlag{Name: "error-log", Usage: "also write the merged error log here"},
			},
			Action: func(c *cli.Context) error {
				var reports []*tmsync.Report
				for _, p := range c.Args().Slice() {
					r, err := tmsync.ReadReport(p)
					if err != nil {
						fmt.Fprintf(c.App.ErrWriter, "ERROR: %v\n", err)
						return exitCode(2)
					}
					reports = append(reports, r)
				}
				if len(reports) == 0 {
					fmt.Fprintln(c.App.ErrWriter, "ERROR: report merge takes at least one FILE")
					return exitCode(2)
				}
				m := tmsync.MergeReports(reports...)
				if err := m.WriteJSON(c.String("output")); err != nil {
					return err
				}
				if p := c.String("error-log"); p != "" {
					if err := m.WriteErrorLog(p); err != nil {
						return err
					}
				}
				return exitCode(m.ExitStatus())
			},
		}},
	}
}
