package app

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/tmsync/tmsync/ecrtarget"
	"github.com/tmsync/tmsync/manifest"
	"github.com/tmsync/tmsync/tmsync"
)

// ecrHostRE is an ECR registry host: ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn], and its
// FIPS form.
var ecrHostRE = regexp.MustCompile(`^\d{12}\.dkr\.ecr(-fips)?\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$`)

// refHost is the registry host of a reference "host/repo:tag".
func refHost(ref string) string {
	ref = strings.TrimPrefix(ref, "docker://")
	host, _, ok := strings.Cut(ref, "/")
	if !ok || !strings.ContainsAny(host, ".:") && host != "localhost" {
		return ""
	}
	return host
}

// ecrRegistry reads host as a registry in any spelling of it (case, a trailing dot,
// :443): its canonical form, and whether it is ECR's, in which region.
func ecrRegistry(host string) (canon, region string, ok bool) {
	canon, err := manifest.CanonicalRegistry(host)
	if err != nil {
		return host, "", false // not a host tmsync parses: the copy will say so
	}
	m := ecrHostRE.FindStringSubmatch(canon)
	if m == nil {
		return canon, "", false
	}
	return canon, m[2], true
}

// ecrLogins logs copy in to the ECR registries among refs (by their host name, or named
// by --ecr-registry) with GetAuthorizationToken, as docker login would: the credentials
// are passed to the copy, never written to a file, and added to the redactor.
func ecrLogins(ctx context.Context, refs []string, forced []string, red *tmsync.Redactor) ([]tmsync.CopyOption, error) {
	var opts []tmsync.CopyOption
	done := map[string]bool{}
	for _, ref := range refs {
		host := refHost(ref)
		if host == "" {
			continue
		}
		canon, region, isECR := ecrRegistry(host)
		if done[canon] || !isECR && !hostIn(host, forced) {
			continue
		}
		done[canon] = true
		var lo []func(*config.LoadOptions) error
		if region != "" {
			lo = append(lo, config.WithRegion(region))
		}
		cfg, err := loadAWSConfig(ctx, lo...)
		if err != nil {
			return nil, fmt.Errorf("ECR login to %s: loading AWS configuration: %w", host, err)
		}
		if cfg.Region == "" {
			return nil, fmt.Errorf("ECR login to %s: no AWS region (set AWS_REGION)", host)
		}
		prov, err := ecrtarget.New(ecrtarget.NewClient(cfg))
		if err != nil {
			return nil, err
		}
		cred, err := prov.Credentials(ctx)
		if err != nil {
			return nil, fmt.Errorf("ECR login to %s: %s", host, shortErr(err))
		}
		red.Add(cred.Password)
		opts = append(opts, tmsync.WithCopyLogin(host, cred.Username, cred.Password))
	}
	return opts, nil
}
