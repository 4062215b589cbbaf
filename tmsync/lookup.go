package tmsync

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	imgmanifest "go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/pkg/docker/config"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/internal/regauth"
)

// tagLookup answers "which digest does repo:tag have?" for a plain registry with plain
// HEAD requests on one keep-alive connection pool, pinged once, with one token per
// repository. containers/image's docker.GetDigest builds a new client for every call
// (auth files read, new transport, a ping over HTTPS and then HTTP): profiled, that was
// most of a no-op re-sync. Anything this small client does not handle (an unusual auth
// scheme, a registry that gives no digest header) makes it report errUnsupported, and the
// caller falls back to containers/image.
type tagLookup struct {
	host   string
	scheme string
	user   string
	pass   string
	client *http.Client

	once      sync.Once
	challenge *regauth.Challenge // nil: the registry asks for no auth
	pingErr   error

	mu     sync.Mutex
	tokens map[string]string // repository -> bearer token
}

var errUnsupported = errors.New("registry lookup not supported by the light client")

func newTagLookup(host string, sys *types.SystemContext, insecure bool) *tagLookup {
	l := &tagLookup{host: host, scheme: "https", tokens: map[string]string{},
		client: &http.Client{Timeout: 30 * time.Second, CheckRedirect: attest.RefuseDowngrade, Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second,
			MaxResponseHeaderBytes: 64 << 10}}}
	if insecure {
		l.scheme = "http"
	}
	if sys.DockerAuthConfig != nil {
		l.user, l.pass = sys.DockerAuthConfig.Username, sys.DockerAuthConfig.Password
	} else if c, err := config.GetCredentials(sys, host); err == nil {
		l.user, l.pass = c.Username, c.Password
	}
	return l
}

// digest returns the digest of repo:tag, ok=false when the registry has no such tag.
func (l *tagLookup) digest(ctx context.Context, repo, tag string) (digest.Digest, bool, error) {
	l.once.Do(func() { l.pingErr = l.ping(ctx) })
	if l.pingErr != nil {
		return "", false, l.pingErr
	}
	u := fmt.Sprintf("%s://%s/v2/%s/manifests/%s", l.scheme, l.host, repo, url.PathEscape(tag))
	for attempt := 0; attempt < 2; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
		if err != nil {
			return "", false, err
		}
		req.Header.Set("Accept", strings.Join(imgmanifest.DefaultRequestedManifestMIMETypes, ", "))
		if err := l.authorize(ctx, req, repo, attempt > 0); err != nil {
			return "", false, err
		}
		resp, err := l.client.Do(req)
		if err != nil {
			return "", false, err
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			d, err := digest.Parse(resp.Header.Get("Docker-Content-Digest"))
			if err != nil {
				return "", false, errUnsupported // no digest header: let containers/image read the manifest
			}
			return d, true, nil
		case resp.StatusCode == http.StatusNotFound:
			return "", false, nil
		case resp.StatusCode == http.StatusUnauthorized && attempt == 0 && l.challenge != nil && l.challenge.Scheme == "bearer":
			continue // the token may have expired: fetch a new one once
		default:
			return "", false, fmt.Errorf("HEAD %s/%s:%s: status %d: %w", l.host, repo, tag, resp.StatusCode, errUnsupported)
		}
	}
	return "", false, errUnsupported
}

func (l *tagLookup) ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.scheme+"://"+l.host+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", errUnsupported, err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusUnauthorized:
		// A header that does not parse to its end may still have offered a usable
		// challenge first: take it, as containers/image would.
		cs, _ := regauth.Challenges(resp.Header)
		c, ok := regauth.Pick(cs)
		if !ok {
			return errUnsupported
		}
		l.challenge = &c
		return nil
	}
	return fmt.Errorf("ping %s: status %d: %w", l.host, resp.StatusCode, errUnsupported)
}

func (l *tagLookup) authorize(ctx context.Context, req *http.Request, repo string, renew bool) error {
	switch {
	case l.challenge == nil:
		return nil
	case l.challenge.Scheme == "basic":
		req.SetBasicAuth(l.user, l.pass)
		return nil
	}
	l.mu.Lock()
	tok, ok := l.tokens[repo]
	l.mu.Unlock()
	if !ok || renew {
		var err error
		if tok, err = l.token(ctx, repo); err != nil {
			return err
		}
		l.mu.Lock()
		l.tokens[repo] = tok
		l.mu.Unlock()
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return nil
}

// token asks the registry's token service for a pull token of repo.
// A refused realm (a plain-HTTP realm of an HTTPS registry, which would carry the
// password in clear) only makes the lookup fall back to containers/image, whose own
// token request does not refuse it: the preflight's check is what stops such a run.
func (l *tagLookup) token(ctx context.Context, repo string) (string, error) {
	tok, err := regauth.FetchToken(ctx, l.client, regauth.TokenRequest{
		Realm: l.challenge.Realm(), Service: l.challenge.Service(), Scope: "repository:" + repo + ":pull",
		User: l.user, Pass: l.pass, PlainHTTP: l.scheme == "http"})
	if err != nil {
		return "", fmt.Errorf("token for %s: %w: %w", repo, err, errUnsupported)
	}
	return tok, nil
}
