package ecrtarget

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
)

// SettingBlobMounting is ECR's account setting that allows cross-repository blob
// mounts. ECR mounts a layer only when it is ENABLED, and only from a repository whose
// committed image references it.
const SettingBlobMounting = "BLOB_MOUNTING"

// AccountSettingPutter is the ECR call that changes an account setting; *ecr.Client
// satisfies it. It is not part of API: tmsync calls it only when the operator asks
// (--enable-blob-mounting), and the role needs [EnableBlobMountingActions] only then.
type AccountSettingPutter interface {
	PutAccountSetting(ctx context.Context, in *ecr.PutAccountSettingInput, optFns ...func(*ecr.Options)) (*ecr.PutAccountSettingOutput, error)
}

var _ AccountSettingPutter = (*ecr.Client)(nil)

// EnableBlobMountingActions returns the IAM actions [Provisioner.EnableBlobMounting]
// needs beyond [IAMActions].
func EnableBlobMountingActions() []string { return []string{"ecr:PutAccountSetting"} }

// BlobMounting reads the account setting BLOB_MOUNTING (GetAccountSetting): true when
// it is ENABLED. The setting only informs the plan and the report: the call is tried
// twice at most, so that an endpoint that does not implement it (a stand-in, an older
// partition) costs a second, not the SDK's full backoff.
func (p *Provisioner) BlobMounting(ctx context.Context) (bool, error) {
	out, err := p.api.GetAccountSetting(ctx, &ecr.GetAccountSettingInput{Name: aws.String(SettingBlobMounting)},
		func(o *ecr.Options) { o.Retryer = retry.AddWithMaxAttempts(o.Retryer, 2) })
	if err != nil {
		return false, fmt.Errorf("reading the account setting %s: %w", SettingBlobMounting, err)
	}
	return aws.ToString(out.Value) == "ENABLED", nil
}

// EnableBlobMounting sets the account setting BLOB_MOUNTING to ENABLED
// (PutAccountSetting). It changes the whole account and registry: call it only on the
// operator's explicit request.
func (p *Provisioner) EnableBlobMounting(ctx context.Context) error {
	put, ok := p.api.(AccountSettingPutter)
	if !ok {
		return errors.New("the ECR client cannot change account settings (no PutAccountSetting)")
	}
	return p.mutate(ctx, func(ctx context.Context) error {
		_, err := put.PutAccountSetting(ctx, &ecr.PutAccountSettingInput{Name: aws.String(SettingBlobMounting), Value: aws.String("ENABLED")})
		if err != nil {
			return fmt.Errorf("turning the account setting %s on: %w", SettingBlobMounting, err)
		}
		return nil
	})
}
