package app

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tmsync/tmsync/manifest"
)

// Args are the settings of sync, plan and verify, as the flags give them.
type Args struct {
	// Source (the old pipeline's flags).
	SrcUser, SrcPassword, SrcDomain string
	SrcTokenSecret                  string // Secrets Manager secret holding {"TM_TOKEN": "..."}
	TokenFrom                       string // where SrcPassword came from, for the console: "--srcpasswd", "TM_TOKEN"
	PackagesPostfix, ReleasePostfix string
	AttestationAddress              string
	AttestorKeyFile                 string
	AttestorFingerprints            []string
	AttestationBundle               string // read occurrences from this file instead of the server
	SaveAttestationBundle           string // write the occurrences the run used to this file
	AttestationPerImage             bool
	StrictKeyExpiry                 bool // refuse a signature whose key has expired since
	AuthFile                        string

	// Target.
	Target               string // "ecr" or "registry"
	TrgPrefix, TrgRegion string
	TrgRegistry          string
	Insecure             []string
	// The file flags (a default file that is absent is skipped; a named one must exist).
	PolicyPath    string
	LifecyclePath string
	TagsPath      string
	// Absent: the file flags left at their default names whose file is in neither the
	// release folder nor the working folder (flag name → where it was looked for).
	Absent map[string]string
	// FromReleaseFolder: the file flags left at their default names whose file was found
	// in the release folder only (flag name → path), not in the working folder. Only the
	// attestor key's is read today (attestorKeyWarning).
	FromReleaseFolder map[string]string
	// DefaultPlaces: for each file flag left at its default name, the places it is looked
	// for (the release folder, the working folder), whether a file is there or not: no
	// output may be one of them, which a later run would read as that file (inputNamed).
	DefaultPlaces      []output
	KMSKey             string
	ScanOnPush         bool
	TagMutability      string
	PruneTags          bool
	UntaggedDeleteDays int
	ThrottleMS         int
	ScanWait           time.Duration
	// CacheDir keeps the blob store (--cache-dir); IdleTimeout cuts a stalled source
	// or target transfer (--idle-timeout); EnableBlobMounting may turn ECR's BLOB_MOUNTING on.
	CacheDir           string
	CacheMaxBytes      int64 // --cache-max-bytes; 0 the default bound
	IdleTimeout        time.Duration
	EnableBlobMounting bool
	FailOnSeverity     string

	// Evidence (issue 19): the bank's KMS signing key, a PEM public key for verify, and
	// whether the vendor's referrers are copied.
	SignKMSKey    string
	BankPublicKey string
	CopyReferrers bool

	// Run.
	ReleaseDir             string
	ErrorLog, Report       string
	JUnit                  string
	Concurrency, Retries   int // Retries 0: none
	BYOPolicy              string
	ShardIndex, ShardCount int
	DryRun                 bool
	ReleaseSHA256          string // --release-sha256 (tmsync.WithReleaseSHA256)
	// FromBundle reads the release, its images and attestations from a bundle (a folder,
	// a tar or split parts) instead of the vendor (sync/plan/verify --from-bundle).
	FromBundle string
	// EarlierBundles are bundles an incremental FromBundle may take left-out blobs from.
	EarlierBundles   []string
	DetailedExitCode bool          // --detailed-exitcode: plan exits 3 when there are changes
	SkipPreflight    bool          // --skip-preflight: no network checks before the run
	Heartbeat        time.Duration // --heartbeat: a status line this often when not on a terminal

	// Logging: LogLevel "" is off; LogFormat text or json.
	LogLevel, LogFormat string

	// Config is the --config file the flags were read from: an input, which no output
	// may replace (inputNamed).
	Config string
}

// String prints Args without the vendor token, so that a log line or an error that
// formats them never carries it.
func (a Args) String() string {
	if a.SrcPassword != "" {
		a.SrcPassword = "REDACTED"
	}
	type plain Args // no String method: no recursion
	return fmt.Sprintf("%+v", plain(a))
}

// GoString is String for %#v.
func (a Args) GoString() string { return a.String() }

// LogValue keeps the token out of slog records.
func (a Args) LogValue() slog.Value { return slog.StringValue(a.String()) }

// parseTokenSecret reads the vendor token from a secret's plaintext,
// {"TM_TOKEN":"<token>"}. The error never quotes the secret.
func parseTokenSecret(name, plaintext string) (string, error) {
	var v map[string]any
	if err := json.Unmarshal([]byte(plaintext), &v); err != nil {
		return "", fmt.Errorf("secret %s: its plaintext is not a JSON object like {\"TM_TOKEN\":\"...\"}", name)
	}
	t, ok := v["TM_TOKEN"].(string)
	if !ok || strings.TrimSpace(t) == "" {
		return "", fmt.Errorf("secret %s: no non-empty string field TM_TOKEN", name)
	}
	return strings.TrimSpace(t), nil
}

// vendorRegistry is the vendor registry a run logs in to: --srcdomain, or the default.
func vendorRegistry(d string) string {
	if d == "" {
		return manifest.DefaultVendorRegistry
	}
	return d
}
