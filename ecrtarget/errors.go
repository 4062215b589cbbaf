package ecrtarget

import (
	"errors"
	"fmt"
)

// Sentinel errors. They are wrapped, so test them with errors.Is.
var (
	// ErrInvalidName: a repository name that ECR would refuse.
	ErrInvalidName = errors.New("invalid ECR repository name")
	// ErrInvalidSettings: settings that cannot be applied (bad mutability, tags, JSON).
	ErrInvalidSettings = errors.New("invalid repository settings")
	// ErrInvalidFile: a tags, policy or lifecycle file that cannot be read as asked.
	ErrInvalidFile = errors.New("invalid input file")
	// ErrNoAuthorizationData: GetAuthorizationToken answered without a usable token.
	ErrNoAuthorizationData = errors.New("no usable authorization data")
	// ErrScanNotComplete: the scan did not complete within the wait.
	ErrScanNotComplete = errors.New("image scan not complete")
)

// Error is a failed ECR call: which call, on which repository. Unwrap keeps the AWS error
// reachable with errors.As (for example *types.RepositoryNotFoundException or
// smithy.APIError).
type Error struct {
	Op         string // the ECR API call, e.g. "CreateRepository"
	Repository string // empty for calls not about one repository
	Err        error
}

func (e *Error) Error() string {
	if e.Repository == "" {
		return fmt.Sprintf("ecr %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("ecr %s %s: %v", e.Op, e.Repository, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

func opError(op, repo string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Op: op, Repository: repo, Err: err}
}
