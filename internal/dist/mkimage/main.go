// Command mkimage builds the tmsync container image from `make dist` output (see package
// dist): `make image`, or
//
//	go run ./internal/dist/mkimage -dist dist -version v1.2.3 -revision $(git rev-parse HEAD) \
//	    -out dist/image [-push registry.example/tmsync:v1.2.3] [-ca-file bundle.pem]
//
// The time of the files and configs is SOURCE_DATE_EPOCH (seconds), or the Unix epoch.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tmsync/tmsync/internal/dist"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "ERROR: mkimage: %v\n", err)
		os.Exit(2)
	}
}

func run() error {
	distDir := flag.String("dist", "dist", "directory with tmsync_linux_amd64 and tmsync_linux_arm64")
	version := flag.String("version", "", "tmsync version (label org.opencontainers.image.version)")
	revision := flag.String("revision", "", "source commit (label org.opencontainers.image.revision)")
	source := flag.String("source", "https://github.com/tmsync/tmsync", "source repository URL (label org.opencontainers.image.source)")
	out := flag.String("out", "", "write the OCI image layout here (replaced)")
	push := flag.String("push", "", "push the index to this reference (host/repo:tag)")
	caFile := flag.String("ca-file", "", "PEM bundle for "+dist.CAPath+" instead of the pinned NSS roots")
	flag.Parse()
	if flag.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	opts := dist.Options{Version: *version, Revision: *revision, Source: *source, Binaries: map[string]string{}}
	for _, arch := range []string{"amd64", "arm64"} {
		opts.Binaries["linux/"+arch] = filepath.Join(*distDir, "tmsync_linux_"+arch)
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: not a number of seconds", s)
		}
		opts.Created = time.Unix(n, 0)
	}
	if *caFile != "" {
		b, err := os.ReadFile(*caFile)
		if err != nil {
			return err
		}
		opts.CABundle = b
	}
	idx, err := dist.Image(opts)
	if err != nil {
		return err
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	if *out != "" {
		if err := os.RemoveAll(*out); err != nil {
			return err
		}
		if err := dist.WriteLayout(*out, idx); err != nil {
			return err
		}
		fmt.Printf("image: OCI layout %s\n", *out)
	}
	if *push != "" {
		if err := dist.Push(context.Background(), *push, idx); err != nil {
			return err
		}
		fmt.Printf("image: pushed %s\n", *push)
	}
	fmt.Printf("image: index %s\n", d)
	return nil
}
