package ecrtarget

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/opencontainers/go-digest"
)

// batchGetImageMax is the most image ids one BatchGetImage takes.
const batchGetImageMax = 100

// acceptedMediaTypes: every manifest kind, so ECR never converts one to answer.
var acceptedMediaTypes = []string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.v1+prettyjws",
	"application/vnd.docker.distribution.manifest.v1+json",
}

// Existing returns, for those of tags present in repo, the digest each points to, with one
// BatchGetImage per 100 tags. A repository that does not exist holds nothing: an empty
// map, no error. A tag that is absent is left out; any other per-image failure is an error.
func (p *Provisioner) Existing(ctx context.Context, repo string, tags []string) (map[string]digest.Digest, error) {
	found := map[string]digest.Digest{}
	seen := map[string]bool{}
	var ids []types.ImageIdentifier
	for _, t := range tags {
		if t == "" || seen[t] {
			continue
		}
		seen[t] = true
		ids = append(ids, types.ImageIdentifier{ImageTag: aws.String(t)})
	}
	for start := 0; start < len(ids); start += batchGetImageMax {
		end := min(start+batchGetImageMax, len(ids))
		out, err := p.api.BatchGetImage(ctx, &ecr.BatchGetImageInput{
			RepositoryName: aws.String(repo), ImageIds: ids[start:end], AcceptedMediaTypes: acceptedMediaTypes,
		})
		var nf *types.RepositoryNotFoundException
		if errors.As(err, &nf) {
			return map[string]digest.Digest{}, nil
		}
		if err != nil {
			return nil, opError("BatchGetImage", repo, err)
		}
		for _, img := range out.Images {
			if img.ImageId == nil {
				continue
			}
			tag := aws.ToString(img.ImageId.ImageTag)
			d, err := digest.Parse(aws.ToString(img.ImageId.ImageDigest))
			if err != nil {
				return nil, opError("BatchGetImage", repo, fmt.Errorf("tag %q: %w", tag, err))
			}
			if seen[tag] {
				found[tag] = d
			}
		}
		var errs []error
		for _, f := range out.Failures {
			if f.FailureCode == types.ImageFailureCodeImageTagDoesNotMatchDigest || f.FailureCode == types.ImageFailureCodeImageNotFound {
				continue
			}
			tag := ""
			if f.ImageId != nil {
				tag = aws.ToString(f.ImageId.ImageTag)
			}
			errs = append(errs, fmt.Errorf("tag %q: %s: %s", tag, f.FailureCode, aws.ToString(f.FailureReason)))
		}
		if len(errs) > 0 {
			return nil, opError("BatchGetImage", repo, errors.Join(errs...))
		}
	}
	return found, nil
}
