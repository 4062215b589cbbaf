package ecrtarget

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/opencontainers/go-digest"
)

// Findings are the results of an image scan.
type Findings struct {
	// Status is ECR's scan status: COMPLETE, FAILED, UNSUPPORTED_IMAGE, ... or
	// IN_PROGRESS (or NOT_STARTED when ECR knows no scan) when the wait ran out.
	Status string
	// Counts are the findings by severity (CRITICAL, HIGH, ...); set when COMPLETE.
	Counts map[string]int
}

// ScanFindings waits up to wait for the scan of image d in repo to finish, asking
// DescribeImageScanFindings every poll interval (WithScanPollInterval), and returns the
// counts by severity. A scan that has not started yet (ScanNotFoundException, as right
// after a push) is waited for too. A final status other than COMPLETE (FAILED,
// UNSUPPORTED_IMAGE, ...) is returned without error; when the wait runs out the last
// status is returned together with an error wrapping ErrScanNotComplete.
func (p *Provisioner) ScanFindings(ctx context.Context, repo string, d digest.Digest, wait time.Duration) (*Findings, error) {
	deadline := time.Now().Add(wait)
	status := "NOT_STARTED"
	for {
		out, err := p.api.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{
			RepositoryName: aws.String(repo), ImageId: &types.ImageIdentifier{ImageDigest: aws.String(d.String())},
		})
		var notFound *types.ScanNotFoundException
		switch {
		case errors.As(err, &notFound):
			status = "NOT_STARTED"
		case err != nil:
			return nil, opError("DescribeImageScanFindings", repo, err)
		default:
			if out.ImageScanStatus != nil {
				status = string(out.ImageScanStatus.Status)
			}
			switch types.ScanStatus(status) {
			case types.ScanStatusInProgress, types.ScanStatusPending, "":
			case types.ScanStatusComplete, types.ScanStatusActive:
				f := &Findings{Status: status, Counts: map[string]int{}}
				if out.ImageScanFindings != nil {
					for sev, n := range out.ImageScanFindings.FindingSeverityCounts {
						f.Counts[sev] = int(n)
					}
				}
				return f, nil
			default:
				return &Findings{Status: status}, nil
			}
		}
		left := time.Until(deadline)
		if left <= 0 {
			return &Findings{Status: status}, opError("DescribeImageScanFindings", repo,
				fmt.Errorf("%w: %s after %s (image %s)", ErrScanNotComplete, status, wait, d))
		}
		t := time.NewTimer(min(p.poll, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return &Findings{Status: status}, opError("DescribeImageScanFindings", repo, ctx.Err())
		case <-t.C:
		}
	}
}

// StartScan asks ECR to scan image d in repo now (StartImageScan). Scan on push does not
// cover an image pushed before scanning was turned on, nor one already in place that a
// verify run looks at; and ECR's basic scanning allows one scan per image a day. So a
// scan ECR refuses as over that limit (LimitExceededException: the image was scanned
// already, its findings are there to read) is not an error.
func (p *Provisioner) StartScan(ctx context.Context, repo string, d digest.Digest) error {
	_, err := p.api.StartImageScan(ctx, &ecr.StartImageScanInput{
		RepositoryName: aws.String(repo), ImageId: &types.ImageIdentifier{ImageDigest: aws.String(d.String())},
	})
	var limit *types.LimitExceededException
	if err == nil || errors.As(err, &limit) {
		return nil
	}
	return opError("StartImageScan", repo, err)
}
