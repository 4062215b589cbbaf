package ecrtarget

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
)

// Credentials log a registry client in to ECR. String, GoString, LogValue and MarshalJSON
// leave the password out, so printing or logging them does not leak it.
type Credentials struct {
	Username, Password string
	// Registry is the host of the registry, without scheme:
	// "123456789012.dkr.ecr.eu-central-1.amazonaws.com".
	Registry  string
	ExpiresAt time.Time
}

const redacted = "REDACTED"

func (c Credentials) String() string {
	return fmt.Sprintf("{Username:%s Password:%s Registry:%s ExpiresAt:%s}", c.Username, redacted, c.Registry, c.ExpiresAt.Format(time.RFC3339))
}

func (c Credentials) GoString() string {
	return fmt.Sprintf("ecrtarget.Credentials{Username:%q, Password:%q, Registry:%q, ExpiresAt:%q}", c.Username, redacted, c.Registry, c.ExpiresAt.Format(time.RFC3339))
}

func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("username", c.Username), slog.String("password", redacted),
		slog.String("registry", c.Registry), slog.Time("expiresAt", c.ExpiresAt))
}

func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Username, Password, Registry string
		ExpiresAt                    time.Time
	}{c.Username, redacted, c.Registry, c.ExpiresAt})
}

// renewBefore is the longest margin before expiry at which credentials are renewed; a
// quarter of the lifetime is used when that is shorter.
const renewBefore = 30 * time.Minute

// Credentials returns registry credentials from GetAuthorizationToken. They are cached and
// renewed once a quarter of their lifetime, at most 30 minutes, is left (AWS gives 12 h,
// so 30 minutes before expiry), so that a long run never pushes with an expired token.
// Concurrent callers share one call.
func (p *Provisioner) Credentials(ctx context.Context) (Credentials, error) {
	p.credMu.Lock()
	defer p.credMu.Unlock()
	now := p.now()
	if p.cred != nil && now.Before(p.renew) {
		return *p.cred, nil
	}
	out, err := p.api.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return Credentials{}, opError("GetAuthorizationToken", "", err)
	}
	if len(out.AuthorizationData) == 0 {
		return Credentials{}, opError("GetAuthorizationToken", "", ErrNoAuthorizationData)
	}
	ad := out.AuthorizationData[0]
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(ad.AuthorizationToken))
	if err != nil {
		return Credentials{}, opError("GetAuthorizationToken", "", fmt.Errorf("%w: token is not base64", ErrNoAuthorizationData))
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok || user == "" || pass == "" {
		return Credentials{}, opError("GetAuthorizationToken", "", fmt.Errorf("%w: token is not user:password", ErrNoAuthorizationData))
	}
	host, err := registryHost(aws.ToString(ad.ProxyEndpoint))
	if err != nil {
		return Credentials{}, opError("GetAuthorizationToken", "", fmt.Errorf("%w: %v", ErrNoAuthorizationData, err))
	}
	c := Credentials{Username: user, Password: pass, Registry: host, ExpiresAt: aws.ToTime(ad.ExpiresAt)}
	margin := c.ExpiresAt.Sub(now) / 4
	if margin > renewBefore {
		margin = renewBefore
	}
	// A token that is already expired by our clock (moto's lie in 2015, or a skewed
	// clock) is handed out but not cached: the next call asks again.
	p.renew = c.ExpiresAt.Add(-margin)
	p.cred = &c
	if !now.Before(p.renew) {
		p.log.Warn("ECR authorization token expires at once by our clock; not caching it", "expiresAt", c.ExpiresAt, "now", now)
		p.cred = nil
	}
	return c, nil
}

// Invalidate drops the cached credentials, so the next Credentials call asks ECR again:
// for a registry that answered 401 to a token we thought valid.
func (p *Provisioner) Invalidate() {
	p.credMu.Lock()
	p.cred = nil
	p.credMu.Unlock()
}

func registryHost(endpoint string) (string, error) {
	if endpoint == "" {
		return "", fmt.Errorf("empty proxy endpoint")
	}
	if !strings.Contains(endpoint, "://") {
		endpoint = "https://" + endpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("proxy endpoint %q has no host", endpoint)
	}
	return u.Host, nil
}
