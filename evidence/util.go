package evidence

import (
	"bytes"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339, s)
	return t
}

func digestOf(ref name.Digest) digest.Digest { return digest.Digest(ref.DigestStr()) }

// joinShort joins at most three problems.
func joinShort(p []string) string {
	if len(p) > 3 {
		return strings.Join(p[:3], "; ") + "; ..."
	}
	return strings.Join(p, "; ")
}
