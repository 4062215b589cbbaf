package tmsync

import (
	"errors"
	"strings"
)

// TargetOption configures NewRegistryTarget and NewECRTarget.
type TargetOption func(*targetOptions) error

type targetOptions struct {
	username, password string
	authFile           string
	insecure           bool
	registryHost       string
}

// WithTargetCredentials logs in to a registry target with username and password.
// Default: the usual auth files (WithTargetAuthFile). Not for ECR, whose credentials come
// from GetAuthorizationToken.
func WithTargetCredentials(username, password string) TargetOption {
	return func(o *targetOptions) error { o.username, o.password = username, password; return nil }
}

// WithTargetAuthFile reads a registry target's credentials from an auth.json. Default:
// the usual locations.
func WithTargetAuthFile(path string) TargetOption {
	return func(o *targetOptions) error { o.authFile = path; return nil }
}

// WithTargetInsecure talks plain HTTP (or HTTPS without verification) to the target's
// registry. Default: HTTPS with verified TLS.
func WithTargetInsecure() TargetOption {
	return func(o *targetOptions) error { o.insecure = true; return nil }
}

// WithTargetRegistryHost pushes to an ECR target through host ("host[:port]") instead of
// the registry GetAuthorizationToken names (VPC endpoints, proxies, tests). Default: the
// registry ECR names.
func WithTargetRegistryHost(host string) TargetOption {
	return func(o *targetOptions) error {
		if strings.ContainsAny(host, "/ \t@") {
			return errors.New("registry host " + host + ": want host[:port]")
		}
		o.registryHost = host
		return nil
	}
}

func newTargetOptions(opts []TargetOption) (targetOptions, error) {
	var o targetOptions
	var errs []error
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			errs = append(errs, err)
		}
	}
	return o, errors.Join(errs...)
}
