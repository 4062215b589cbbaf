package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/logging"

	"github.com/tmsync/tmsync/ecrtarget"
)

// loadAWSConfig is config.LoadDefaultConfig with the SDK's own log lines (a fallback it
// takes, say "falling back to IMDSv1") sent to the run's logger, through its redactor and
// in its format, instead of raw to stderr by the SDK's default logger; and with each try
// of every AWS call (ECR, STS, KMS, Secrets Manager) bounded by ecrtarget.DefaultAPITimeout,
// answer included: the SDK's client waits for an answer for ever.
func loadAWSConfig(ctx context.Context, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	return config.LoadDefaultConfig(ctx, append([]func(*config.LoadOptions) error{config.WithLogger(sdkLogger{}),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(ecrtarget.DefaultAPITimeout))}, opts...)...)
}

// sdkLogger passes the AWS SDK's lines to the logger the run routes logrus to (newLogger):
// its warnings as warnings, the rest as debug. Before a logger is set they are dropped.
type sdkLogger struct{}

func (sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	l := logrusTo.Load()
	if l == nil {
		return
	}
	lvl := slog.LevelDebug
	if c == logging.Warn {
		lvl = slog.LevelWarn
	}
	l.Log(context.Background(), lvl, "AWS SDK: "+fmt.Sprintf(format, v...))
}
