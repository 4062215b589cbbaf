package regauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/tmsync/tmsync/attest"
)

// MaxTokenAnswer bounds the token service's answer. Real tokens are a few KiB (a JWT
// with its claims); an answer past this is refused whole rather than cut and misread.
const MaxTokenAnswer = 1 << 20

var (
	// ErrRealm: the challenge's realm is no http(s) URL with a host, or is plain HTTP
	// where the registry is not (the token request carries the credentials).
	ErrRealm = errors.New("token realm unusable")
	// ErrNoToken: the token service answered 200 without a usable token.
	ErrNoToken = errors.New("token service answered no token")
)

// StatusError is a token service's answer other than 200.
type StatusError struct {
	Code   int
	Status string // "401 Unauthorized"
}

func (e *StatusError) Error() string { return "token service answered " + e.Status }

// TokenRequest is one request of a pull/push token (the distribution token flow).
type TokenRequest struct {
	// Realm and Service are the Bearer challenge's.
	Realm, Service string
	// Scope is set in the query ("repository:NAME:pull"), replacing one the realm
	// carries; "" keeps the realm's own (or none).
	Scope string
	// User and Pass are sent as basic auth when either is set.
	User, Pass string
	// PlainHTTP allows an http:// realm, for a registry that is itself plain HTTP; else
	// only https realms are asked.
	PlainHTTP bool
}

// URL is the token request's address: the realm with its own query kept, service and
// scope set.
func (r TokenRequest) URL() (*url.URL, error) {
	u, err := url.Parse(r.Realm)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("%w: %q is not an http(s) URL", ErrRealm, Clip(r.Realm))
	}
	if u.Scheme == "http" && !r.PlainHTTP {
		return nil, fmt.Errorf("%w: %s is plain HTTP and the registry is not", ErrRealm, u.Redacted())
	}
	u.Fragment, u.RawFragment = "", ""
	q := u.Query()
	if r.Service != "" {
		q.Set("service", r.Service)
	}
	if r.Scope != "" {
		q.Set("scope", r.Scope)
	}
	u.RawQuery = q.Encode()
	return u, nil
}

// FetchToken asks the token service for a token. hc's transport and timeout are used;
// its redirects are held to attest.RefuseDowngrade (the request carries credentials).
// A transport error comes back as hc returned it (a *url.Error naming the token URL,
// whose query holds no secret); an answer other than 200 is a *StatusError; an answer
// without a token wraps ErrNoToken. The token is `token`, else `access_token`.
func FetchToken(ctx context.Context, hc *http.Client, r TokenRequest) (string, error) {
	u, err := r.URL()
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	if r.User != "" || r.Pass != "" {
		req.SetBasicAuth(r.User, r.Pass)
	}
	c := *hc
	c.CheckRedirect = attest.RefuseDowngrade
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return "", &StatusError{Code: resp.StatusCode, Status: resp.Status}
	}
	return readToken(resp.Body)
}

// readToken reads a token answer: {"token": …} or {"access_token": …}, at most
// MaxTokenAnswer bytes.
func readToken(r io.Reader) (string, error) {
	body, err := io.ReadAll(io.LimitReader(r, MaxTokenAnswer+1))
	if err != nil {
		return "", fmt.Errorf("%w: reading the answer: %v", ErrNoToken, err)
	}
	if len(body) > MaxTokenAnswer {
		return "", fmt.Errorf("%w: the answer is larger than %d bytes", ErrNoToken, MaxTokenAnswer)
	}
	var ans struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		// The JSON error quotes no input beyond a character; the body may hold a token.
		return "", fmt.Errorf("%w: the answer is not a JSON object", ErrNoToken)
	}
	tok := ans.Token
	if tok == "" {
		tok = ans.AccessToken
	}
	if tok == "" {
		return "", fmt.Errorf("%w: neither token nor access_token is set", ErrNoToken)
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] <= ' ' || tok[i] >= 0x7f {
			return "", fmt.Errorf("%w: the token has characters a header cannot carry", ErrNoToken)
		}
	}
	return tok, nil
}

// Clip shortens a string a server sent, for an error or a message (at most 80 bytes
// and an ellipsis).
func Clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
