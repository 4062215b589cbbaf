package attest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"time"
)

// BundleVersion is the version WriteBundle writes and ReadBundle reads.
const BundleVersion = 1

// maxBundleBytes bounds a bundle file read by ReadBundle.
const maxBundleBytes = 512 << 20

// Bundle is the set of occurrences a release needs, saved for offline verification
// (air-gapped runs, audits, reruns). It holds no secret: occurrences are public
// attestations, and the address is stored without credentials or query.
type Bundle struct {
	Version     int
	Address     string
	Created     time.Time
	Occurrences []Occurrence
}

type bundleJSON struct {
	Version     int               `json:"version"`
	Address     string            `json:"address,omitempty"`
	Created     time.Time         `json:"created"`
	Occurrences []json.RawMessage `json:"occurrences"`
}

// WriteBundle writes b as JSON. A zero Version is written as BundleVersion; the
// occurrences are written as served (their Raw).
func WriteBundle(w io.Writer, b Bundle) error {
	if b.Version == 0 {
		b.Version = BundleVersion
	}
	if b.Version != BundleVersion {
		return fmt.Errorf("writing bundle: unsupported version %d", b.Version)
	}
	j := bundleJSON{Version: b.Version, Address: sanitizeAddress(b.Address), Created: b.Created.UTC(),
		Occurrences: make([]json.RawMessage, 0, len(b.Occurrences))}
	for i, o := range b.Occurrences {
		if len(o.Raw) == 0 || !json.Valid(o.Raw) {
			return fmt.Errorf("writing bundle: occurrence %d (%q) has no valid Raw JSON", i, o.Name)
		}
		j.Occurrences = append(j.Occurrences, o.Raw)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(j); err != nil {
		return fmt.Errorf("writing bundle: %w", err)
	}
	return nil
}

// ReadBundle reads a bundle written by WriteBundle. Its occurrences are verified like
// fetched ones: the bundle file itself is not trusted.
func ReadBundle(r io.Reader) (Bundle, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxBundleBytes+1))
	if err != nil {
		return Bundle{}, fmt.Errorf("reading bundle: %w", err)
	}
	if len(data) > maxBundleBytes {
		return Bundle{}, fmt.Errorf("reading bundle: larger than %d bytes", maxBundleBytes)
	}
	var j bundleJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return Bundle{}, fmt.Errorf("reading bundle: %w", err)
	}
	if j.Version != BundleVersion {
		return Bundle{}, fmt.Errorf("reading bundle: unsupported version %d (want %d)", j.Version, BundleVersion)
	}
	b := Bundle{Version: j.Version, Address: j.Address, Created: j.Created, Occurrences: make([]Occurrence, 0, len(j.Occurrences))}
	for i, raw := range j.Occurrences {
		o, err := ParseOccurrence(raw)
		if err != nil {
			return Bundle{}, fmt.Errorf("reading bundle: occurrences[%d]: %w", i, err)
		}
		b.Occurrences = append(b.Occurrences, o)
	}
	return b, nil
}

// sanitizeAddress drops credentials, query and fragment from an address.
func sanitizeAddress(a string) string {
	u, err := url.Parse(a)
	if err != nil {
		return ""
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}
