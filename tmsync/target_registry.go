package tmsync

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/docker/distribution/registry/api/errcode"
	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/types"

	"github.com/tmsync/tmsync/tmsync/internal/regerr"
)

// RegistryTarget is a plain OCI registry (Harbor, Artifactory, a distribution registry):
// images go to HOST/PREFIX/REPOSITORY:TAG. It provisions nothing: such registries create
// repositories on push.
type RegistryTarget struct {
	host, prefix string
	sys          *types.SystemContext
	lookup       *tagLookup
}

// NewRegistryTarget returns a target for location "host[:port][/prefix]". Options:
// WithTargetCredentials, WithTargetAuthFile, WithTargetInsecure.
func NewRegistryTarget(location string, opts ...TargetOption) (*RegistryTarget, error) {
	host, prefix, _ := strings.Cut(strings.TrimSuffix(location, "/"), "/")
	if host == "" || strings.ContainsAny(host, " \t@") {
		return nil, fmt.Errorf("registry target %q: want host[:port][/prefix]", location)
	}
	o, err := newTargetOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("registry target %q: %w", location, err)
	}
	if o.registryHost != "" {
		return nil, fmt.Errorf("registry target %q: WithTargetRegistryHost is for ECR targets; name the host in the location", location)
	}
	prefix = strings.Trim(prefix, "/")
	var insecure []string
	if o.insecure {
		insecure = []string{host}
	}
	t := &RegistryTarget{host: host, prefix: prefix, sys: newSystemContext(host, insecure)}
	t.sys.AuthFilePath = o.authFile
	if o.username != "" {
		t.sys.DockerAuthConfig = &types.DockerAuthConfig{Username: o.username, Password: o.password}
	}
	t.lookup = newTagLookup(host, t.sys, o.insecure)
	if _, err := t.RepositoryName("probe"); err != nil {
		return nil, fmt.Errorf("registry target %q: %w", location, err)
	}
	return t, nil
}

func (t *RegistryTarget) String() string {
	if t.prefix == "" {
		return "registry " + t.host
	}
	return "registry " + t.host + "/" + t.prefix
}

// repoNameRE is the OCI distribution rule for repository names (lower case).
var repoNameRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*$`)

// RepositoryName implements Target.
func (t *RegistryTarget) RepositoryName(dest string) (string, error) {
	name := strings.Trim(dest, "/")
	if t.prefix != "" {
		name = t.prefix + "/" + name
	}
	if !repoNameRE.MatchString(name) || len(t.host)+1+len(name) > 255 {
		return "", fmt.Errorf("repository name %q is not valid in a registry (lower case letters, digits and separators; at most 255 characters with the host)", name)
	}
	return name, nil
}

// Ensure implements Target: a plain registry creates repositories on push.
func (t *RegistryTarget) Ensure(_ context.Context, repo string, _ bool) (*Repository, error) {
	return &Repository{Name: repo, OnPush: true}, nil
}

// Existing implements Target with one manifest HEAD per tag, on one connection pool.
func (t *RegistryTarget) Existing(ctx context.Context, repo string, tags []string) (map[string]digest.Digest, error) {
	out := map[string]digest.Digest{}
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, tag := range tags {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d, found, err := t.lookup.digest(ctx, repo, tag)
			if errors.Is(err, errUnsupported) {
				// What the light client cannot answer, containers/image can.
				var ref types.ImageReference
				if ref, _, err = t.Reference(ctx, repo, tag); err == nil {
					d, err = docker.GetDigest(ctx, t.sys, ref)
					found = err == nil
				}
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && found:
				out[tag] = d
			case err == nil:
			case notFound(err):
			case firstErr == nil:
				firstErr = err
			}
		}()
	}
	wg.Wait()
	return out, firstErr
}

// notFound reports whether a registry error says the manifest or repository is absent:
// by its registry error code, or by its HTTP status (a HEAD has no body to carry a code).
func notFound(err error) bool {
	var ec errcode.Error
	if errors.As(err, &ec) {
		switch ec.Code.Descriptor().Value {
		case "MANIFEST_UNKNOWN", "NAME_UNKNOWN":
			return true
		}
	}
	status, ok := regerr.Status(err)
	return ok && status == http.StatusNotFound
}

// Reference implements Target.
func (t *RegistryTarget) Reference(_ context.Context, repo, tag string) (types.ImageReference, *types.SystemContext, error) {
	ref, err := tagReference(t.host+"/"+repo, tag)
	if err != nil {
		return nil, nil, err
	}
	sys := *t.sys
	return ref, &sys, nil
}

func tagReference(name, tag string) (types.ImageReference, error) {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return nil, fmt.Errorf("destination %s: %w", name, err)
	}
	tagged, err := reference.WithTag(named, tag)
	if err != nil {
		return nil, fmt.Errorf("destination %s:%s: %w", name, tag, err)
	}
	return docker.NewReference(tagged)
}
