// Command tmsync-prof is `tmsync sync --target registry` with profiling: it takes the
// flags tmsync-bench passes to tmsync, calls tmsync.Main (the same code as bin/tmsync) and
// writes, when the variables are set:
//
//	TMSYNC_CPUPROFILE  CPU profile (go tool pprof)
//	TMSYNC_MEMPROFILE  heap profile at the end (allocations: -sample_index=alloc_space)
//	TMSYNC_TRACE       execution trace (go tool trace): where the wall time goes
//	TMSYNC_BLOCKPROFILE  blocking profile (wall time spent waiting, by stack)
//
// Use it as `tmsync-bench -tmsync bench/out/tmsync-prof -keep` with TMSYNC_CPUPROFILE=1
// set (tmsync-bench then puts cpu.prof, mem.prof, trace.out and block.prof into every
// run's folder).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"syscall"

	"github.com/tmsync/tmsync/tmsync"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	if len(os.Args) < 2 || os.Args[1] != "sync" {
		if len(os.Args) > 1 && (os.Args[1] == "--version" || os.Args[1] == "version") {
			fmt.Println("tmsync-prof (tmsync " + tmsync.Version + ")")
			return
		}
		fmt.Fprintln(os.Stderr, "usage: tmsync-prof sync [tmsync sync flags]")
		os.Exit(2)
	}
	var a tmsync.Args
	var insecure list
	fs := flag.NewFlagSet("sync", flag.ExitOnError)
	fs.StringVar(&a.Target, "target", "registry", "")
	fs.StringVar(&a.TrgRegistry, "trg-registry", "", "")
	fs.StringVar(&a.TrgPrefix, "trgprefix", "/", "")
	fs.StringVar(&a.SrcDomain, "srcdomain", "", "")
	fs.StringVar(&a.SrcUser, "srcusr", "_tm", "")
	fs.StringVar(&a.AttestationAddress, "src_attestions_address", "", "")
	fs.StringVar(&a.AttestorKeyFile, "src_attestor", "", "")
	fs.Var(&insecure, "insecure-registry", "")
	fs.StringVar(&a.ReleaseDir, "release-dir", ".", "")
	fs.StringVar(&a.ErrorLog, "error-log", "sync-error.log", "")
	fs.StringVar(&a.Report, "report", "", "")
	fs.IntVar(&a.Concurrency, "concurrency", 4, "")
	fs.IntVar(&a.Retries, "retries", 3, "")
	fs.BoolVar(&a.AttestationPerImage, "attestation-per-image", false, "")
	_ = fs.Parse(os.Args[2:])
	a.Insecure = insecure
	a.ReleasePostfix, a.PackagesPostfix = "release.json", "images.txt"
	a.BYOPolicy, a.TagMutability, a.ShardCount = tmsync.BYOPinned, "IMMUTABLE", 1

	stop := start()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := tmsync.Main(ctx, tmsync.ModeSync, a, os.Stdout)
	cancel()
	stop()
	os.Exit(code)
}

// start starts the profiles the environment asks for and returns what stops them.
func start() func() {
	var stops []func()
	if p := os.Getenv("TMSYNC_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil && pprof.StartCPUProfile(f) == nil {
			stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
		}
	}
	if p := os.Getenv("TMSYNC_TRACE"); p != "" {
		if f, err := os.Create(p); err == nil && trace.Start(f) == nil {
			stops = append(stops, func() { trace.Stop(); f.Close() })
		}
	}
	if p := os.Getenv("TMSYNC_BLOCKPROFILE"); p != "" {
		runtime.SetBlockProfileRate(100000) // one event per 100 µs blocked
		stops = append(stops, func() { write(p, "block") })
	}
	if p := os.Getenv("TMSYNC_MEMPROFILE"); p != "" {
		stops = append(stops, func() { runtime.GC(); write(p, "allocs") })
	}
	return func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
}

func write(path, profile string) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_ = pprof.Lookup(profile).WriteTo(f, 0)
}
