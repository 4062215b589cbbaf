package tmsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/manifest"
)

// Syncer runs tmsync's jobs over one release folder. The command line and other Go tools
// call it. Each method returns a Report, which says what happened to every image, and an
// error only when the run could not start (a *StartError).
type Syncer interface {
	// Plan says what Sync would do, changing nothing.
	Plan(ctx context.Context) (*Report, error)
	// Sync verifies, provisions and copies.
	Sync(ctx context.Context) (*Report, error)
	// Verify checks the target against the release without copying.
	Verify(ctx context.Context) (*Report, error)
}

// Subject is an image whose attestation is checked: its repository ("host/repo", no tag)
// and manifest digest.
type Subject struct {
	Repository string
	Digest     digest.Digest
}

// Attestation is the attestation that verified an image.
type Attestation struct {
	Occurrence  string    `json:"occurrence"`
	Fingerprint string    `json:"fingerprint"`
	SignedAt    time.Time `json:"signedAt"`
	PayloadType string    `json:"payloadType,omitempty"`
	// Hash is the message-signature hash ("SHA-256"); only SHA-2 and SHA-3 verify.
	Hash string `json:"hash,omitempty"`
	// KeyExpiresAt is when the signing key (or subkey) stops being valid, if it expires.
	KeyExpiresAt *time.Time `json:"keyExpiresAt,omitempty"`
	// KeyExpired says that the key has expired since it signed: the signature is dated
	// inside the key's validity, a date the signer claims. Accepted and reported by
	// default; refused with a strict key expiry (attest.WithStrictKeyExpiry).
	KeyExpired bool `json:"keyExpired,omitempty"`
}

// Attestor verifies the vendor's attestations. Errors wrap ErrNotAttested,
// ErrAttestationRejected or ErrAttestationUnavailable.
type Attestor interface {
	// Prepare fetches what Verify needs for these subjects, in as few requests as it can.
	Prepare(ctx context.Context, subjects []Subject) error
	// Verify checks that an attestation by the vendor's key binds s.Digest to s.Repository.
	Verify(ctx context.Context, s Subject) (*Attestation, error)
}

// Target is where images go: Amazon ECR (NewECRTarget) or a plain registry
// (NewRegistryTarget).
type Target interface {
	// String names the target in logs and reports.
	String() string
	// RepositoryName joins the target's prefix and a destination repository, and checks it.
	RepositoryName(dest string) (string, error)
	// Ensure creates or reconciles a repository; with plan set it changes nothing and
	// says what it would change.
	Ensure(ctx context.Context, repo string, plan bool) (*Repository, error)
	// Existing returns the digests of those of tags that exist in repo.
	Existing(ctx context.Context, repo string, tags []string) (map[string]digest.Digest, error)
	// Reference returns the containers/image reference of repo:tag and the system context
	// to reach it with. It is asked again for every copy, so credentials can be renewed.
	Reference(ctx context.Context, repo, tag string) (types.ImageReference, *types.SystemContext, error)
}

// Repository is what Ensure found and did.
type Repository struct {
	Name    string   `json:"name"`
	Created bool     `json:"created,omitempty"`
	Changes []string `json:"changes,omitempty"`
	Drift   []string `json:"drift,omitempty"`
	// Unverified names settings that could not be compared (a KMS alias that KMS could
	// not resolve).
	Unverified []string          `json:"unverified,omitempty"`
	State      map[string]string `json:"state,omitempty"`
}

// Source says how to reach the source registries.
type Source struct {
	// Registry is the vendor's registry host (--srcdomain).
	Registry string
	// Username and Password log in to Registry (--srcusr and the vendor token).
	Username, Password string
	// AuthFile is an auth.json for upstream (BYO) registries; "" uses the usual locations.
	AuthFile string
}

// BYO policies for images outside the vendor registry.
const (
	// BYOPinned copies an image with no attestation by the digest the release pins, and
	// reports it as not attested. An attestation that exists must still verify.
	BYOPinned = "pinned"
	// BYOAttested treats upstream images like the vendor's: no attestation, no copy.
	BYOAttested = "attested"
)

// Options configure New. The zero value of each field is its documented default.
type Options struct {
	// ReleaseDir is the release folder. Default: the current directory.
	ReleaseDir string
	// Release configures how the folder is read (postfixes, vendor registry, prefix).
	Release manifest.Options
	// Source reaches the source registries.
	Source Source
	// Target is where images go. Required.
	Target Target
	// Attestor verifies attestations. Required: there is no way to copy unverified
	// vendor images.
	Attestor Attestor
	// Concurrency is how many images are copied at once. Default 4.
	Concurrency int
	// BlobConcurrency is how many blobs move at once across all images. Default 2×Concurrency.
	BlobConcurrency int
	// LookupConcurrency is how many repositories are ensured and looked up at once: small
	// control-plane calls, several per repository, that a no-op re-sync of a large release
	// is made of. Mutating calls are still spaced by the target (ECR's throttle). Default 16.
	LookupConcurrency int
	// BYOPolicy is BYOPinned (default) or BYOAttested.
	BYOPolicy string
	// Insecure lists registry hosts ("host:port") spoken to over plain HTTP or
	// without TLS verification.
	Insecure []string
	// Retries is how many times a failed image copy is tried again when the error is
	// transient. Default 3; -1 means never.
	Retries int
	// RetryBackoff is the first wait between tries, doubled each time. Default 1s.
	RetryBackoff time.Duration
	// ShardIndex and ShardCount split the release by destination repository, so that
	// ShardCount runs together copy every image once. Default: one shard.
	ShardIndex, ShardCount int
	// DryRun makes Sync behave as Plan.
	DryRun bool
	// Logger receives the engine's log records. Default: discarded.
	Logger *slog.Logger
	// Observer is told of each image's progress. Default: none.
	Observer Observer
	// Clock returns the time. Default time.Now.
	Clock func() time.Time
	// Redactor removes secrets from every event, log record, failure reason and report
	// field of the run. Default: a new one. New adds Source.Password and Secrets to it.
	Redactor *Redactor
	// Secrets are more secrets to redact (registry passwords tmsync was given).
	Secrets []string
	// ReleaseSHA256, when set, is the ReleaseDigest the release folder must have: a run of
	// another folder does not start. Default: not checked (the digest is still reported).
	ReleaseSHA256 string
}

// Observer is told what happens to each image, for progress displays. Events of
// different images may come from different goroutines at once.
type Observer interface {
	Event(Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

// Event implements Observer.
func (f ObserverFunc) Event(e Event) { f(e) }

// Event is one step of one image.
type Event struct {
	// Kind is "begin" (with Total), "start", "skip", "done", "fail", "warn", "retry",
	// "info", or "error" (a failure found after the image's progress line, by the scan gate).
	Kind string
	// Total is the number of images the run will handle, on "begin".
	Total int
	// Running is set on a "fail" of an image whose copy had started.
	Running bool
	// Image is the destination "repository:tag", or "" for run-level events.
	Image   string
	Message string
}

func (o *Options) defaults() error {
	if o.ReleaseDir == "" {
		o.ReleaseDir = "."
	}
	if o.Concurrency == 0 {
		o.Concurrency = 4
	}
	if o.BlobConcurrency == 0 {
		o.BlobConcurrency = 2 * o.Concurrency
	}
	if o.LookupConcurrency == 0 {
		o.LookupConcurrency = 16
	}
	if o.BYOPolicy == "" {
		o.BYOPolicy = BYOPinned
	}
	if o.Retries == 0 {
		o.Retries = 3
	} else if o.Retries < 0 {
		o.Retries = 0
	}
	if o.RetryBackoff == 0 {
		o.RetryBackoff = time.Second
	}
	if o.ShardCount == 0 {
		o.ShardCount = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Observer == nil {
		o.Observer = ObserverFunc(func(Event) {})
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Source.Registry == "" {
		// The registry the manifest package tells vendor images by.
		o.Source.Registry = o.Release.VendorRegistry
		if o.Source.Registry == "" {
			o.Source.Registry = manifest.DefaultVendorRegistry
		}
	}
	o.Source.Registry = tidyHost(o.Source.Registry)
	if o.Redactor == nil {
		o.Redactor = NewRedactor()
	}
	o.Redactor.Add(o.Source.Password)
	o.Redactor.Add(o.Secrets...)
	// Every output of the engine goes through the Redactor, whoever wrote its text.
	o.Observer = cleanObserver{next: o.Observer, red: o.Redactor}
	o.Logger = slog.New(cleanHandler{next: o.Logger.Handler(), red: o.Redactor})
	var errs []error
	if o.Target == nil {
		errs = append(errs, errors.New("no target"))
	}
	if o.Attestor == nil {
		errs = append(errs, errors.New("no attestor: every image must be verified"))
	}
	if o.Concurrency < 1 || o.BlobConcurrency < 1 || o.LookupConcurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency must be at least 1"))
	}
	if o.BYOPolicy != BYOPinned && o.BYOPolicy != BYOAttested {
		errs = append(errs, fmt.Errorf("byo policy %q: want %q or %q", o.BYOPolicy, BYOPinned, BYOAttested))
	}
	if pin := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(o.ReleaseSHA256)), "sha256:"); pin != "" && !sha256HexRE.MatchString(pin) {
		errs = append(errs, fmt.Errorf("--release-sha256 %q: want 64 hex digits", o.ReleaseSHA256))
	}
	if o.ShardCount < 1 || o.ShardIndex < 0 || o.ShardIndex >= o.ShardCount {
		errs = append(errs, fmt.Errorf("shard %d of %d: want 0 <= index < count", o.ShardIndex, o.ShardCount))
	}
	return errors.Join(errs...)
}
