package app

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"go.podman.io/image/v5/pkg/docker/config"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/attest"
	"github.com/tmsync/tmsync/ecrtarget"
	"github.com/tmsync/tmsync/internal/regauth"
	"github.com/tmsync/tmsync/manifest"
	"github.com/tmsync/tmsync/tmsync"
)

// preflightTimeout bounds each check of the preflight: a problem is reported within a
// few seconds, not after every image has tried and retried.
const preflightTimeout = 4 * time.Second

// problem is one thing the preflight found, with what to do about it.
type problem struct{ what, hint string }

func (p problem) String() string {
	if p.hint == "" {
		return p.what
	}
	return p.what + " (" + p.hint + ")"
}

// problems collects the preflight's findings from several goroutines.
type problems struct {
	mu      sync.Mutex
	list    []problem
	notes   []string // said as INFO: what the preflight could not check, and why that is expected
	refused []string // who refused the vendor token: one problem for all of them
}

// note records something the operator should know that is not a problem.
func (ps *problems) note(what string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.notes = append(ps.notes, "preflight: "+what)
}

// tokenRefused records that who refused the vendor token.
func (ps *problems) tokenRefused(who string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.refused = append(ps.refused, who)
}

func (ps *problems) add(what, hint string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.list = append(ps.list, problem{what, hint})
}

// err is the problems as one error, a line each, or nil.
func (ps *problems) err() error {
	if len(ps.refused) > 0 {
		sort.Strings(ps.refused)
		ps.list = append(ps.list, problem{"the vendor token was refused by " + strings.Join(ps.refused, " and "),
			"check TM_TOKEN (or the Secrets Manager secret): it may have expired or belong to another account"})
		ps.refused = nil
	}
	if len(ps.list) == 0 {
		return nil
	}
	lines := make([]string, len(ps.list))
	for i, p := range ps.list {
		lines[i] = "preflight: " + p.String()
	}
	return errors.New(strings.Join(lines, "\n"))
}

// shortErr is err's text; for an AWS API error its code and message only, without the
// SDK's operation and request id.
func shortErr(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode() + ": " + api.ErrorMessage()
	}
	return oneLine(strings.ReplaceAll(err.Error(), "\n", " "))
}

// checkRelease checks that the release folder is a folder and reads: a release that
// does not read is bad input, named by file and line, found before any network check.
// It returns the folder read, nil when it did not read.
func checkRelease(ps *problems, dir string, opts ...manifest.Option) *manifest.Folder {
	abs, _ := filepath.Abs(dir)
	st, err := os.Stat(dir)
	switch {
	case err != nil:
		ps.add(fmt.Sprintf("release folder %s: %v", abs, errors.Unwrap(err)), "set --release-dir to the folder holding the release's *_release.json and image lists")
		return nil
	case !st.IsDir():
		ps.add("release folder "+abs+": not a folder", "set --release-dir to the folder holding the release")
		return nil
	}
	f, err := manifest.Load(dir, opts...)
	switch {
	case errors.Is(err, manifest.ErrNoRelease):
		// The folder itself is the problem: said once, with the flag that names it (the
		// loader's message repeats the folder as given, "." for the working folder).
		ps.add("release folder "+abs+": "+strings.TrimPrefix(err.Error(), dir+": "),
			"set --release-dir to the folder holding the release's files (default: the working folder)")
		return nil
	case err != nil:
		ps.add("reading release folder "+abs+": "+err.Error(), "")
		return nil
	}
	return f
}

// checkCaller asks STS who the credentials are; "" when it cannot.
func checkCaller(ctx context.Context, ps *problems, cfg aws.Config) string {
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		ps.add("no AWS credentials found", "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run where a role is attached (CodeBuild, EC2)")
		return ""
	}
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		ps.add("AWS credentials: "+shortErr(err), "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run where a role is attached (CodeBuild, EC2)")
		return ""
	}
	return aws.ToString(id.Arn)
}

// checkKMS checks that the KMS key exists, is enabled and encrypts, and that the caller
// may use it as ECR will: creating a repository encrypted with the key makes ECR create
// grants on it with the caller's permissions (kms:CreateGrant; ECR's encryption-at-rest
// guide). CreateGrant with DryRun asks KMS whether that call would be allowed without
// making a grant. caller is the caller's ARN (the grant's grantee), "" when unknown.
func checkKMS(ctx context.Context, ps *problems, cfg aws.Config, key, caller string) {
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	client := kms.NewFromConfig(cfg)
	out, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(key)})
	if err != nil {
		ps.add(fmt.Sprintf("KMS key %s in %s: %s", key, cfg.Region, shortErr(err)),
			"check --trg_kms_key_alias (aws kms list-aliases --region "+cfg.Region+") and that the role may call kms:DescribeKey")
		return
	}
	md := out.KeyMetadata
	if md.KeyState != kmstypes.KeyStateEnabled {
		hint := "enable the key or name another"
		if md.KeyState == kmstypes.KeyStatePendingDeletion {
			hint = "cancel its deletion (aws kms cancel-key-deletion, then enable it) or name another"
		}
		ps.add(fmt.Sprintf("KMS key %s is %s", key, md.KeyState), hint)
		return // the grant check would only say the same again
	}
	if md.KeyUsage != "" && md.KeyUsage != kmstypes.KeyUsageTypeEncryptDecrypt {
		ps.add(fmt.Sprintf("KMS key %s is for %s, not ENCRYPT_DECRYPT", key, md.KeyUsage), "ECR needs a symmetric encryption key")
		return
	}
	if caller == "" {
		return
	}
	g, err := client.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: md.Arn, GranteePrincipal: aws.String(caller),
		Operations: []kmstypes.GrantOperation{kmstypes.GrantOperationEncrypt, kmstypes.GrantOperationDecrypt,
			kmstypes.GrantOperationGenerateDataKey}, Name: aws.String("tmsync-preflight"), DryRun: aws.Bool(true)})
	if err == nil {
		// KMS never makes a grant on a dry run: it answers DryRunOperationException when
		// the call would succeed. moto (the test bed's KMS) ignores DryRun and makes the
		// grant; revoke it at once so a preflight leaves nothing behind.
		if g.GrantId != nil {
			if _, err := client.RevokeGrant(ctx, &kms.RevokeGrantInput{KeyId: md.Arn, GrantId: g.GrantId}); err != nil {
				ps.add(fmt.Sprintf("KMS key %s: the preflight's dry-run grant %s was made and could not be revoked: %s", key, aws.ToString(g.GrantId), shortErr(err)),
					"revoke it: aws kms revoke-grant --key-id "+aws.ToString(md.Arn)+" --grant-id "+aws.ToString(g.GrantId))
			}
		}
		return
	}
	var dry *kmstypes.DryRunOperationException
	var api smithy.APIError
	switch {
	case errors.As(err, &dry):
		return // allowed
	case errors.As(err, &api) && (api.ErrorCode() == "AccessDeniedException" || api.ErrorCode() == "AccessDenied"):
		// tmsync's own IAM policy (infra/modules/iam), like the console's default
		// key-user statement, allows grants only when an AWS service asks for them
		// (kms:GrantIsForAWSResource): ECR makes its grant while this direct call is
		// refused. A refusal is then the expected answer, not a problem: said as INFO,
		// since a warning on every correct run teaches operators to skip warnings. A key
		// ECR cannot use still fails the repository's creation, before any copy.
		ps.note(fmt.Sprintf("KMS key %s: the dry-run grant was refused (%s), as expected when grants are allowed only for AWS services such as ECR (kms:GrantIsForAWSResource, tmsync's IAM module); if the role has no kms:CreateGrant on it at all, creating a new repository will fail",
			key, shortErr(err)))
	default:
		ps.add(fmt.Sprintf("KMS key %s cannot be used by ECR: %s", key, shortErr(err)), "enable the key or name another in --trg_kms_key_alias")
	}
}

// preflightHTTP is the client of the preflight's HTTP checks. They send the vendor token
// and the target's password: no redirect from https to plain HTTP is followed.
func preflightHTTP() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	tr.MaxResponseHeaderBytes = 64 << 10 // a registry's answer has small headers; not Go's 10 MB
	return &http.Client{Timeout: preflightTimeout, Transport: tr, CheckRedirect: attest.RefuseDowngrade}
}

// checkAttestations asks the attestation server for one occurrence: it must answer, take
// the token, and have occurrences (an answer {} is a wrong address or an empty note).
func checkAttestations(ctx context.Context, ps *problems, address, token string) {
	u, err := url.Parse(address)
	if err != nil {
		ps.add("attestation server address "+address+": "+err.Error(), "set --src_attestions_address")
		return
	}
	q := u.Query()
	q.Set("pageSize", "1")
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		ps.add("attestation server "+address+": "+err.Error(), "set --src_attestions_address")
		return
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := preflightHTTP()
	client.CheckRedirect = attest.RefuseInsecureRedirect // the token goes with it
	resp, err := client.Do(req)
	if errors.Is(err, attest.ErrInsecureRedirect) {
		ps.add("attestation server "+address+": "+shortErr(errors.Unwrap(err)), "check --src_attestions_address: it must name the server itself, over https")
		return
	}
	if err != nil {
		ps.add("attestation server "+address+" unreachable: "+shortErr(errors.Unwrap(err)), "check --src_attestions_address and the network path (egress allow-list)")
		return
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		ps.tokenRefused(fmt.Sprintf("the attestation server %s (%s)", address, resp.Status))
		return
	case resp.StatusCode != http.StatusOK:
		ps.add(fmt.Sprintf("attestation server %s answered %s", address, resp.Status), "check --src_attestions_address")
		return
	}
	var page struct {
		Occurrences []json.RawMessage `json:"occurrences"`
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err := json.Unmarshal(body, &page); err != nil {
		ps.add("attestation server "+address+" did not answer with JSON occurrences", "check --src_attestions_address: it must name the note's occurrences endpoint")
		return
	}
	if len(page.Occurrences) == 0 {
		ps.add("attestation server "+address+" lists no occurrences (answer "+snippet(body)+")",
			"check --src_attestions_address names the vendor note's occurrences; an empty note would report every image as unattested")
	}
}

func snippet(b []byte) string {
	s := oneLine(strings.TrimSpace(string(b)))
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}

// registryCheck is one registry for checkRegistry: who it is to the run, and the
// credentials to try (none: only that it answers).
type registryCheck struct {
	role, host string
	insecure   bool
	user, pass string
	// scope is asked of a token server ("repository:NAME:push,pull"), "" for none.
	scope string
	hint  string
	// refused says the credentials were refused; nil: one problem with hint.
	refused func(who string)
	// needCreds: no credential of any kind was found for the registry, and the run
	// cannot work anonymously there (the registry target: its copies push). A registry
	// that asks for credentials is then a problem, unless its token server gives an
	// anonymous token for scope.
	needCreds bool
}

// checkRegistry checks that the registry answers /v2/ and, with credentials, that it
// takes them: basic, or the bearer token flow (a token for scope, then /v2/ with it).
func checkRegistry(ctx context.Context, ps *problems, rc registryCheck) {
	scheme := "https"
	if rc.insecure {
		scheme = "http"
	}
	hc := preflightHTTP()
	get := func(u string, auth func(*http.Request)) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		if auth != nil {
			auth(req)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return resp, nil
	}
	basic := func(req *http.Request) { req.SetBasicAuth(rc.user, rc.pass) }
	creds := rc.user != "" || rc.pass != ""
	refused := func(status string) {
		who := fmt.Sprintf("the %s registry %s as %s (%s)", rc.role, rc.host, rc.user, status)
		if rc.refused != nil {
			rc.refused(who)
			return
		}
		ps.add(fmt.Sprintf("%s registry %s refused the credentials of %s (%s)", rc.role, rc.host, rc.user, status), rc.hint)
	}
	// loginAnswer judges the registry's answer to the credentials (its token server's:
	// tokenServerFailed): refused, or a server error; any other status says nothing of them.
	loginAnswer := func(code int, status string) {
		switch {
		case code == http.StatusUnauthorized || code == http.StatusForbidden:
			refused(status)
		case code >= 500:
			ps.add(fmt.Sprintf("%s registry %s answered %s when logging in", rc.role, rc.host, status), rc.hint)
		}
	}
	v2 := scheme + "://" + rc.host + "/v2/"
	resp, err := get(v2, nil)
	if err != nil {
		cause := err
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			cause = ue.Err
		}
		ps.add(fmt.Sprintf("%s registry %s unreachable: %s", rc.role, rc.host, shortErr(cause)), rc.hint)
		return
	}
	if resp.StatusCode == http.StatusUnauthorized && !creds && rc.needCreds {
		checkAnonymous(ctx, ps, hc, rc, resp.Header)
		return
	}
	if resp.StatusCode != http.StatusUnauthorized || !creds {
		if resp.StatusCode >= 500 {
			ps.add(fmt.Sprintf("%s registry %s answered %s", rc.role, rc.host, resp.Status), rc.hint)
		}
		return
	}
	// A header that does not parse to its end may still have offered a usable challenge
	// first: the check takes it (regauth.Pick says how this differs from the copies).
	cs, _ := regauth.Challenges(resp.Header)
	challenge, ok := regauth.Pick(cs)
	if !ok {
		ps.note(fmt.Sprintf("%s registry %s: credentials not checked: it offers no Basic or Bearer challenge we can answer (WWW-Authenticate %q)",
			rc.role, rc.host, regauth.Clip(resp.Header.Get("WWW-Authenticate"))))
		return
	}
	var authResp *http.Response
	switch challenge.Scheme {
	case "basic":
		authResp, err = get(v2, basic)
	case "bearer":
		treq := regauth.TokenRequest{Realm: challenge.Realm(), Service: challenge.Service(), Scope: rc.scope,
			User: rc.user, Pass: rc.pass, PlainHTTP: rc.insecure}
		tu, uerr := treq.URL()
		if uerr != nil {
			ps.add(fmt.Sprintf("%s registry %s: %s", rc.role, rc.host, uerr), rc.hint)
			return
		}
		bearer, terr := regauth.FetchToken(ctx, hc, treq)
		var status *regauth.StatusError
		switch {
		case errors.As(terr, &status) && (status.Code == http.StatusUnauthorized || status.Code == http.StatusForbidden):
			refused(status.Status)
			return
		case terr != nil:
			tokenServerFailed(ps, rc, tu.Host, terr)
			return
		default:
			authResp, err = get(v2, func(req *http.Request) { req.Header.Set("Authorization", "Bearer "+bearer) })
		}
	}
	if err != nil {
		ps.add(fmt.Sprintf("%s registry %s: logging in: %s", rc.role, rc.host, shortErr(err)), rc.hint)
		return
	}
	loginAnswer(authResp.StatusCode, authResp.Status)
}

// targetCredentials are the registry target's credentials as its copies will use them
// (authFile, else the usual auth files and credential helpers), for the preflight to check:
// a user and password; none (all "") with an identity token, which the check does not
// replay, or when a helper failed to answer. none says that nothing at all was found:
// only then is a registry that asks for credentials a problem (registryCheck.needCreds).
// The secrets found are added to red.
func targetCredentials(host, authFile string, red *tmsync.Redactor) (user, pass string, none bool) {
	c, err := config.GetCredentials(&types.SystemContext{AuthFilePath: authFile}, host)
	if err != nil {
		return "", "", false
	}
	red.Add(c.Password)
	red.Add(c.IdentityToken)
	if c.IdentityToken != "" {
		return "", "", false
	}
	return c.Username, c.Password, c.Username == "" && c.Password == ""
}

// checkAnonymous judges a registry that asked for credentials (h, its 401's headers) when
// none were found for it: a Basic challenge, or a token server that refuses an anonymous
// token for the scope, is a problem that names the missing credentials; an anonymous
// token, or an answer that says nothing of them, is not.
func checkAnonymous(ctx context.Context, ps *problems, hc *http.Client, rc registryCheck, h http.Header) {
	missing := func() {
		ps.add(fmt.Sprintf("%s registry %s asks for credentials and none were found for it", rc.role, rc.host), rc.hint)
	}
	cs, _ := regauth.Challenges(h)
	challenge, ok := regauth.Pick(cs)
	if !ok {
		ps.note(fmt.Sprintf("%s registry %s asks for credentials, none were found for it, and it offers no Basic or Bearer challenge we can answer (WWW-Authenticate %q)",
			rc.role, rc.host, regauth.Clip(h.Get("WWW-Authenticate"))))
		return
	}
	if challenge.Scheme == "basic" {
		missing()
		return
	}
	treq := regauth.TokenRequest{Realm: challenge.Realm(), Service: challenge.Service(), Scope: rc.scope, PlainHTTP: rc.insecure}
	tu, err := treq.URL()
	if err != nil {
		ps.add(fmt.Sprintf("%s registry %s: %s", rc.role, rc.host, err), rc.hint)
		return
	}
	_, err = regauth.FetchToken(ctx, hc, treq)
	var status *regauth.StatusError
	switch {
	case errors.As(err, &status) && (status.Code == http.StatusUnauthorized || status.Code == http.StatusForbidden):
		missing()
	case err != nil:
		tokenServerFailed(ps, rc, tu.Host, err)
	}
}

// tokenServerFailed is the problem of a registry whose token server (tokenHost, the
// realm of its Bearer challenge) did not give a token, for another reason than refusing
// the credentials (err from regauth.FetchToken, not a 401 or 403): a server error, no
// token in the answer, no answer. Every image would fail at its first request, so it
// stops the run as an unreachable registry does. Another 4xx says nothing, as the
// registry's own (loginAnswer). Neither the credentials nor the token URL is said.
func tokenServerFailed(ps *problems, rc registryCheck, tokenHost string, err error) {
	var status *regauth.StatusError
	switch {
	case errors.As(err, &status):
		if status.Code < 500 {
			return
		}
		ps.add(fmt.Sprintf("%s registry %s: its token server %s answered %s", rc.role, rc.host, tokenHost, status.Status), rc.hint)
	case errors.Is(err, regauth.ErrNoToken):
		why := strings.TrimPrefix(err.Error(), regauth.ErrNoToken.Error()+": ") // what was wrong with the answer (no secret in it)
		ps.add(fmt.Sprintf("%s registry %s: its token server %s answered no token (%s)", rc.role, rc.host, tokenHost, why), rc.hint)
	default:
		cause := err
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			cause = ue.Err // without the token URL
		}
		ps.add(fmt.Sprintf("%s registry %s: its token server %s unreachable: %s", rc.role, rc.host, tokenHost, shortErr(cause)), rc.hint)
	}
}

// checkECRLogin gets the registry credentials from ECR (GetAuthorizationToken) and checks
// that the registry takes them: host, or the registry the token names when host is "".
func checkECRLogin(ctx context.Context, ps *problems, cfg aws.Config, host string, insecure []string, red *tmsync.Redactor) {
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	const hint = "the role needs ecr:GetAuthorizationToken; check --trgregion and --trg-registry"
	// The ECR target's own credentials code (decoding, checks, the registry's address).
	prov, err := ecrtarget.New(ecrtarget.NewClient(cfg))
	if err != nil {
		ps.add("ECR login: "+shortErr(err), hint)
		return
	}
	cred, err := prov.Credentials(ctx)
	if err != nil {
		ps.add("ECR login: "+shortErr(err), hint)
		return
	}
	red.Add(cred.Password)
	user, pass := cred.Username, cred.Password
	if host == "" {
		host = cred.Registry
	}
	checkRegistry(ctx, ps, registryCheck{role: "target", host: host, insecure: hostIn(host, insecure), user: user, pass: pass,
		hint: "check --trgregion, --trg-registry if set, and the network path to the registry"})
}

// absPath is p made absolute, for messages.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
