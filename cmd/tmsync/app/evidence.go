package app

import (
	"context"
	"crypto"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/tmsync/tmsync/evidence"
	"github.com/tmsync/tmsync/tmsync"
)

// evidenceOption turns --sign-kms-key, --bank-public-key and --copy-referrers into the
// engine's evidence option (issue 19). awsCfg is the run's AWS configuration (zero for
// --target registry: then it is loaded here when a KMS key needs it).
func evidenceOption(ctx context.Context, a Args, awsCfg aws.Config) (tmsync.Option, error) {
	ev := tmsync.Evidence{CopyReferrers: a.CopyReferrers}
	// --sign-kms-key with --bank-public-key is refused by checkArgs.
	if a.BankPublicKey != "" {
		pub, err := readBankPublicKey(a.BankPublicKey)
		if err != nil {
			return nil, startErr("reading the bank's public key", err)
		}
		ev.BankKey = pub
	}
	if a.SignKMSKey != "" {
		if awsCfg.Region == "" && awsCfg.Credentials == nil {
			var opts []func(*config.LoadOptions) error
			if a.TrgRegion != "" {
				opts = append(opts, config.WithRegion(a.TrgRegion))
			}
			cfg, err := loadAWSConfig(ctx, opts...)
			if err != nil {
				return nil, startErr("loading AWS configuration", err)
			}
			awsCfg = cfg
		}
		signer, err := evidence.NewKMSSigner(ctx, kms.NewFromConfig(awsCfg), a.SignKMSKey)
		if err != nil {
			return nil, startErr("checking --sign-kms-key", err)
		}
		ev.Signer = signer
	}
	return tmsync.WithEvidence(ev), nil
}

// readBankPublicKey reads a PEM public key (what `cosign public-key` or
// `aws kms get-public-key` turned into PEM gives).
func readBankPublicKey(path string) (crypto.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pub, err := evidence.ReadPublicKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pub, nil
}
