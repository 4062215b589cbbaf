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

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/tmsync/internal/pull"
)

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

// Attestor verifies the vendor's attestations. Its errors are package attest's: an error
// that wraps attest.ErrNoAttestation says no attestation exists (an upstream image may
// then pass by its pinned digest, BYOPinned); an *attest.UnavailableError says they could
// not be checked (the image fails); any other error is a rejection (by convention it
// wraps attest.ErrRejected). [VendorAttestor] is the vendor's; wrap it to add a check of
// your own.
type Attestor interface {
	// Prepare fetches what Verify needs for these subjects, in as few requests as it can.
	// A run calls it once, before any Verify.
	Prepare(ctx context.Context, subjects []attest.Subject) error
	// Verify checks that an attestation by the vendor's key binds s.Digest to s.Repository.
	Verify(ctx context.Context, s attest.Subject) (*Attestation, error)
}

// Target is where images go: Amazon ECR (NewECRTarget) or a plain registry
// (NewRegistryTarget). Methods may be called from several goroutines at once.
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
	Name    string `json:"name"`
	Created bool   `json:"created,omitempty"`
	// OnPush: the target makes its repositories on the first push and has no settings to
	// reconcile (a plain registry): nothing was created or compared.
	OnPush  bool     `json:"onPush,omitempty"`
	Changes []string `json:"changes,omitempty"`
	Drift   []string `json:"drift,omitempty"`
	// Unverified names settings that could not be compared (a KMS alias that KMS could
	// not resolve).
	Unverified []string          `json:"unverified,omitempty"`
	State      map[string]string `json:"state,omitempty"`
}

// Source says how to reach the source registries.
type Source struct {
	// Registry is the vendor's registry host (--srcdomain). Empty: the host the release's
	// vendor images name (manifest.WithVendorRegistry), else manifest.DefaultVendorRegistry.
	Registry string
	// Username and Password log in to Registry (--srcusr and the vendor token). They are
	// sent to no other host.
	Username, Password string
	// AuthFile is an auth.json for upstream (BYO) registries; "" uses the usual locations.
	AuthFile string
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

// Event is one step of one image, or of the run. Image and Message have passed through
// the engine's Redactor.
type Event struct {
	Kind EventKind
	// Total is the number of images the run will handle, on EventBegin; the number of
	// images to copy, on EventPlanned.
	Total int
	// Running is set on an EventFail of an image whose copy had started.
	Running bool
	// Image is the destination "repository:tag", or "" for run-level events.
	Image   string
	Message string
	// Step and Cause are, on EventFail, the failed step and the failure's class (as
	// ImageRecord's); Cause is also set on EventRetry. Many failures of one step and
	// cause are one problem: a display may say it once.
	Step  string
	Cause Cause
	// Bytes is, on EventProgress, the bytes of the image copied so far (all tries); on
	// EventStart, the image's size (its blobs' bytes; 0 when unknown); on EventPlanned,
	// the bytes of all the copies.
	Bytes int64
}

// Defaults of the engine's options, each applied when its option is not given.
const (
	// DefaultConcurrency is how many images are copied at once.
	DefaultConcurrency = 4
	// DefaultLookupConcurrency is how many repositories are ensured and looked up at once.
	DefaultLookupConcurrency = 16
	// DefaultRetries is how many times a step that failed for a temporary reason is tried
	// again.
	DefaultRetries = 3
	// DefaultRetryBackoff is the first wait before a retry; it doubles each time.
	DefaultRetryBackoff = time.Second
)

// Option configures New. Options are applied in order, after the defaults; New then
// checks the result and reports every problem at once.
type Option func(*options) error

type options struct {
	source                                          Source
	concurrency, blobConcurrency, lookupConcurrency int
	byoPolicy                                       BYOPolicy
	insecure                                        []string
	retries                                         int
	retryBackoff                                    time.Duration
	shardIndex, shardCount                          int
	logger                                          *slog.Logger
	observer                                        Observer
	clock                                           func() time.Time
	redactor                                        *Redactor
	secrets                                         []string
	releaseSHA256                                   string
	scanWait                                        time.Duration
	scanFailOn                                      Severity
	imageSource                                     ImageSource
	blobInfoDir                                     string
	cacheDir, storeParent                           string
	cacheMaxBytes                                   int64
	idleTimeout                                     time.Duration
	pullHook                                        func(*pull.Options) // tests: the puller's retries and outage limit
	enableBlobMounting                              bool
	evidence                                        Evidence
	pushLimiter                                     *rateLimiter
}

// WithSource sets how the source registries are reached: the vendor registry, its user
// and token, and an auth.json for upstream images. Default: the vendor registry the
// release names, no login, the usual auth.json locations.
func WithSource(s Source) Option {
	return func(o *options) error { o.source = s; return nil }
}

// WithConcurrency sets how many images are copied at once. Default DefaultConcurrency.
func WithConcurrency(n int) Option {
	return func(o *options) error { o.concurrency = n; return nil }
}

// WithBlobConcurrency sets how many blobs move at once, across all images and all runs of
// the Engine. Default: twice the image concurrency.
func WithBlobConcurrency(n int) Option {
	return func(o *options) error { o.blobConcurrency = n; return nil }
}

// WithLookupConcurrency sets how many repositories are ensured and looked up at once:
// small control-plane calls, several per repository, that a no-op re-sync of a large
// release is made of. Mutating calls are still spaced by the target (ECR's throttle).
// Default DefaultLookupConcurrency.
func WithLookupConcurrency(n int) Option {
	return func(o *options) error { o.lookupConcurrency = n; return nil }
}

// WithBYOPolicy sets what happens to an upstream image the vendor does not attest.
// Default BYOPinned.
func WithBYOPolicy(p BYOPolicy) Option {
	return func(o *options) error { o.byoPolicy = p; return nil }
}

// WithInsecure names registry hosts ("host:port") spoken to over plain HTTP or without
// TLS verification. Default: none; every other host is HTTPS with verified TLS.
func WithInsecure(hosts ...string) Option {
	return func(o *options) error { o.insecure = append(o.insecure, hosts...); return nil }
}

// WithRetries sets how many times a step that failed for a temporary reason (see
// Retryable) is tried again: a copy, a tag lookup, a digest resolution. 0 means no
// retries. Default DefaultRetries.
func WithRetries(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("retries %d: want 0 or more", n)
		}
		o.retries = n
		return nil
	}
}

// WithRetryBackoff sets the first wait before a retry; it doubles each time. Default
// DefaultRetryBackoff.
func WithRetryBackoff(d time.Duration) Option {
	return func(o *options) error { o.retryBackoff = d; return nil }
}

// WithShard makes the engine handle one shard, index of count, of every release, split
// by destination repository (ShardOf), so that count runs together copy every image
// once. Default: one shard.
func WithShard(index, count int) Option {
	return func(o *options) error { o.shardIndex, o.shardCount = index, count; return nil }
}

// WithLogger sets where the engine's log records go. Default: discarded.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error { o.logger = l; return nil }
}

// WithObserver sets who is told of each image's progress. Default: nobody.
func WithObserver(obs Observer) Option {
	return func(o *options) error { o.observer = obs; return nil }
}

// WithClock sets the clock of reports. Default time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) error { o.clock = now; return nil }
}

// WithRedactor sets the Redactor every event, log record, failure reason and report field
// of a run goes through. Default: a new one. New adds the source password and
// WithSecrets to it.
func WithRedactor(r *Redactor) Option {
	return func(o *options) error { o.redactor = r; return nil }
}

// WithSecrets adds secrets to redact (registry passwords tmsync was given). Default:
// only the source password.
func WithSecrets(secrets ...string) Option {
	return func(o *options) error { o.secrets = append(o.secrets, secrets...); return nil }
}

// WithReleaseSHA256 pins the release folder: a run of a folder whose ReleaseDigest is
// not sha does not start. Default: not checked (the digest is still reported).
func WithReleaseSHA256(sha string) Option {
	return func(o *options) error { o.releaseSHA256 = sha; return nil }
}

// WithScanGate makes Sync and Verify wait up to wait for each image's ECR scan, record
// its findings and, when failOn is set, fail the images with findings at or above
// failOn. It needs a target that reads scan findings (NewECRTarget). Default: no gate.
func WithScanGate(wait time.Duration, failOn Severity) Option {
	return func(o *options) error { o.scanWait, o.scanFailOn = wait, failOn; return nil }
}

// WithBlobInfoCacheDir sets the folder under which each run makes (and removes) its
// blob info cache; a tmpfs is best. Default: /dev/shm if it is usable, else
// os.TempDir().
func WithBlobInfoCacheDir(dir string) Option {
	return func(o *options) error { o.blobInfoDir = dir; return nil }
}

// WithCacheDir keeps the run's blob store (an OCI image layout) in dir, and every blob a
// sync pulls in it, instead of a temporary store of the shared blobs removed at the end
// of the run; a later run with the same dir reads from it what it holds (verified by
// digest) instead of pulling it again. Default: a temporary store under
// WithStoreParent's folder.
//
// dir must be new, empty or a store (it holds an oci-layout file), and is locked for the
// run: a sync opens it first, and a folder that is not a store, has a link in its layout
// or is in use by another run (another process, or another Sync of this Engine) stops the
// run with a *StartError before anything is created.
func WithCacheDir(dir string) Option {
	return func(o *options) error { o.cacheDir = dir; return nil }
}

// WithStoreParent sets the folder under which a temporary blob store is made. Default
// os.TempDir().
func WithStoreParent(dir string) Option {
	return func(o *options) error { o.storeParent = dir; return nil }
}

// WithCacheMaxBytes bounds the blob store; a blob that does not fit is streamed without
// being kept. 0 means the default: the release's shared bytes (with WithCacheDir, its
// distinct bytes), plus 8 MiB for manifests.
func WithCacheMaxBytes(n int64) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("cache size %d: want 0 or more", n)
		}
		o.cacheMaxBytes = n
		return nil
	}
}

// WithIdleTimeout sets how long a transfer may move no byte before it is cut and retried:
// a source request (retried at that request), and a copy whose target takes no byte and
// sends no answer (tried again as a whole image). Default DefaultIdleTimeout; at least
// MinIdleTimeout.
func WithIdleTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d < MinIdleTimeout {
			return fmt.Errorf("idle timeout %s: want at least %s", d, MinIdleTimeout)
		}
		o.idleTimeout = d
		return nil
	}
}

// WithEnableBlobMounting lets a sync turn on ECR's account setting BLOB_MOUNTING when it
// is off (it needs ecr:PutAccountSetting). Default: the setting is read and reported,
// never changed.
func WithEnableBlobMounting() Option {
	return func(o *options) error { o.enableBlobMounting = true; return nil }
}

func newOptions(target Target, attestor Attestor, opts []Option) (*options, error) {
	o := &options{concurrency: DefaultConcurrency, lookupConcurrency: DefaultLookupConcurrency,
		byoPolicy: BYOPinned, retries: DefaultRetries, retryBackoff: DefaultRetryBackoff, shardCount: 1,
		clock: time.Now, idleTimeout: DefaultIdleTimeout}
	var errs []error
	for _, opt := range opts {
		if err := opt(o); err != nil {
			errs = append(errs, err)
		}
	}
	if o.blobConcurrency == 0 {
		o.blobConcurrency = 2 * o.concurrency
	}
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.observer == nil {
		o.observer = ObserverFunc(func(Event) {})
	}
	if o.source.Registry != "" {
		o.source.Registry = tidyHost(o.source.Registry)
	}
	if o.redactor == nil {
		o.redactor = NewRedactor()
	}
	o.redactor.Add(o.source.Password)
	o.redactor.Add(o.secrets...)
	// Every output of the engine goes through the Redactor, whoever wrote its text.
	o.observer = cleanObserver{next: o.observer, red: o.redactor}
	o.logger = slog.New(cleanHandler{next: o.logger.Handler(), red: o.redactor})
	if target == nil {
		errs = append(errs, errors.New("no target"))
	}
	if attestor == nil {
		errs = append(errs, errors.New("no attestor: every image must be verified"))
	}
	if o.concurrency < 1 || o.blobConcurrency < 1 || o.lookupConcurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency must be at least 1"))
	}
	if _, err := ParseBYOPolicy(string(o.byoPolicy)); err != nil {
		errs = append(errs, err)
	}
	if pin := normalPin(o.releaseSHA256); pin != "" && !sha256HexRE.MatchString(pin) {
		errs = append(errs, fmt.Errorf("--release-sha256 %q: want 64 hex digits", o.releaseSHA256))
	}
	if o.shardCount < 1 || o.shardIndex < 0 || o.shardIndex >= o.shardCount {
		errs = append(errs, fmt.Errorf("shard %d of %d: want 0 <= index < count", o.shardIndex, o.shardCount))
	}
	if o.scanWait < 0 {
		errs = append(errs, errors.New("scan wait must be positive"))
	}
	if o.scanFailOn != "" {
		if o.scanWait <= 0 {
			errs = append(errs, errors.New("scan gate: a severity to fail on needs a wait for the scans"))
		}
		if o.scanFailOn.rank() == 0 {
			errs = append(errs, fmt.Errorf("scan gate: severity %q: want one of CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL", o.scanFailOn))
		}
	}
	if o.scanWait > 0 && target != nil {
		if _, ok := target.(scanReader); !ok {
			errs = append(errs, fmt.Errorf("scan gate: target %s does not read scan findings", target))
		}
	}
	return o, errors.Join(errs...)
}

func normalPin(s string) string {
	return strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "sha256:")
}
