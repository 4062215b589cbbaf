// Command tmsync puts a Thought Machine Vault release into Amazon ECR or an OCI registry,
// byte for byte, after verifying the vendor's attestation of every image.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/tmsync/tmsync/tmsync"
)

func main() {
	os.Exit(run(os.Args))
}

// run is main without os.Exit, so that tests can call it.
func run(args []string) int {
	app := &cli.App{
		Name:    "tmsync",
		Usage:   "put a Thought Machine Vault release into Amazon ECR, verified and byte for byte",
		Version: tmsync.Version,
	}
	if err := app.Run(args); err != nil {
		fmt.Fprintf(os.Stderr, "ERROR: %v\n", err)
		return 2
	}
	return 0
}
