// Command customtarget syncs a release into any OCI registry with a bank's own rules
// layered on the vendor's, through the tmsync library's two extension points:
//
//   - an Attestor: the vendor's attestation must verify, and then the image's digest must
//     be approved by the bank's change board (a file of "sha256:... CHG-1234" lines);
//   - a Target: the registry target, wrapped to keep an audit trail of every repository
//     the run ensured and every image reference it pushed to.
//
// The attestations come from an offline bundle (an air-gapped run: `tmsync sync
// --save-attestation-bundle` wrote it where the server was reachable).
//
//	customtarget -release ./releases -target harbor.bank.internal/vault \
//	    -key src_attestor.pgp -bundle attestations.json -approvals approved.txt
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/manifest"
	"github.com/tmsync/tmsync/tmsync"
)

// errNotApproved rejects an image the change board did not approve. It wraps
// attest.ErrRejected: to the engine it is a rejection like the vendor's.
var errNotApproved = fmt.Errorf("%w: digest not approved by the change board", attest.ErrRejected)

// approvedAttestor is the vendor's Attestor with the bank's approval on top.
type approvedAttestor struct {
	tmsync.Attestor
	approved map[digest.Digest]string // digest -> change ticket
}

// Verify implements tmsync.Attestor: the vendor's verdict first, then the bank's.
func (a approvedAttestor) Verify(ctx context.Context, s attest.Subject) (*tmsync.Attestation, error) {
	att, err := a.Attestor.Verify(ctx, s)
	if err != nil {
		return nil, err
	}
	if _, ok := a.approved[s.Digest]; !ok {
		return nil, fmt.Errorf("%s@%s: %w", s.Repository, s.Digest, errNotApproved)
	}
	return att, nil
}

// auditedTarget is a Target that records what the run did to it.
type auditedTarget struct {
	tmsync.Target
	mu    sync.Mutex
	trail []string
}

func (t *auditedTarget) record(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.trail = append(t.trail, fmt.Sprintf(format, args...))
}

// Ensure implements tmsync.Target.
func (t *auditedTarget) Ensure(ctx context.Context, repo string, plan bool) (*tmsync.Repository, error) {
	t.record("ensure %s (plan %v)", repo, plan)
	return t.Target.Ensure(ctx, repo, plan)
}

// Reference implements tmsync.Target: asked for every copy.
func (t *auditedTarget) Reference(ctx context.Context, repo, tag string) (types.ImageReference, *types.SystemContext, error) {
	t.record("reference %s:%s", repo, tag)
	return t.Target.Reference(ctx, repo, tag)
}

// readApprovals reads "sha256:<hex> TICKET" lines; # starts a comment.
func readApprovals(r io.Reader) (map[digest.Digest]string, error) {
	out := map[digest.Digest]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		d, err := digest.Parse(fields[0])
		if err != nil || len(fields) != 2 {
			return nil, fmt.Errorf("line %d: want \"sha256:<hex> TICKET\"", n)
		}
		out[d] = fields[1]
	}
	return out, sc.Err()
}

type config struct {
	release, target, vendor, key, bundle, token string
	approvals                                   io.Reader
	insecure                                    []string
}

// syncRelease syncs the release of c and returns the report and the audit trail.
func syncRelease(ctx context.Context, c config) (*tmsync.Report, []string, error) {
	approved, err := readApprovals(c.approvals)
	if err != nil {
		return nil, nil, fmt.Errorf("approvals: %w", err)
	}
	kf, err := os.Open(c.key)
	if err != nil {
		return nil, nil, err
	}
	defer kf.Close()
	bf, err := os.Open(c.bundle)
	if err != nil {
		return nil, nil, err
	}
	defer bf.Close()
	keyring, kerr := attest.ReadKeyring(kf)
	bundle, berr := attest.ReadBundle(bf)
	if err := errors.Join(kerr, berr); err != nil {
		return nil, nil, err
	}
	verifier, err := attest.NewVerifier(keyring)
	if err != nil {
		return nil, nil, err
	}
	vendor, err := tmsync.NewAttestor(nil, verifier, tmsync.WithBundle(&bundle))
	if err != nil {
		return nil, nil, err
	}
	var topts []tmsync.TargetOption
	if host, _, _ := strings.Cut(c.target, "/"); slices.Contains(c.insecure, host) {
		topts = append(topts, tmsync.WithTargetInsecure())
	}
	registry, err := tmsync.NewRegistryTarget(c.target, topts...)
	if err != nil {
		return nil, nil, err
	}
	target := &auditedTarget{Target: registry}
	eng, err := tmsync.New(target, approvedAttestor{Attestor: vendor, approved: approved},
		tmsync.WithSource(tmsync.Source{Registry: c.vendor, Username: "_tm", Password: c.token}),
		tmsync.WithInsecure(c.insecure...))
	if err != nil {
		return nil, nil, err
	}
	rep, err := eng.Sync(ctx, tmsync.ReleaseDir(c.release, manifest.WithVendorRegistry(c.vendor)))
	return rep, target.trail, err
}

func main() {
	var c config
	var approvals, insecure string
	flag.StringVar(&c.release, "release", ".", "release folder")
	flag.StringVar(&c.target, "target", "", "target registry and prefix, HOST[:PORT]/PREFIX")
	flag.StringVar(&c.vendor, "vendor", manifest.DefaultVendorRegistry, "the vendor registry")
	flag.StringVar(&c.key, "key", "src_attestor.pgp", "the vendor attestor's armored public key")
	flag.StringVar(&c.bundle, "bundle", "attestations.json", "offline attestation bundle")
	flag.StringVar(&approvals, "approvals", "approved.txt", `the change board's approvals: "sha256:<hex> TICKET" lines`)
	flag.StringVar(&insecure, "insecure", "", "comma-separated registry hosts spoken to over plain HTTP")
	flag.Parse()
	if insecure != "" {
		c.insecure = strings.Split(insecure, ",")
	}
	c.token = os.Getenv("TM_TOKEN")
	f, err := os.Open(approvals)
	if err != nil {
		fmt.Fprintln(os.Stderr, "customtarget:", err)
		os.Exit(2)
	}
	defer f.Close()
	c.approvals = f
	rep, trail, err := syncRelease(context.Background(), c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "customtarget:", err)
		os.Exit(2)
	}
	for _, l := range trail {
		fmt.Println("audit:", l)
	}
	_ = rep.EncodeSummary(os.Stdout)
	os.Exit(rep.ExitStatus())
}
