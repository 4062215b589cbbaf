package app

import (
	"bytes"
	"context"
	"strings"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go/logging"

	"github.com/tmsync/tmsync/ecrtarget"
	"github.com/tmsync/tmsync/tmsync"
)

// The SDK's own lines (its IMDSv1 fallback, say) reach the run's logger, in its format and
// through its redactor, instead of raw lines on stderr from the SDK's default logger.
func TestSDKLinesGoToTheRunLogger(t *testing.T) {
	var buf bytes.Buffer
	red := tmsync.NewRedactor("s3cr3t-token-value")
	if _, err := newLogger("info", "text", &buf, red); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logrusTo.Store(nil) })
	cfg, err := loadAWSConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Logger.(sdkLogger); !ok {
		t.Fatalf("the AWS configuration's logger is %T, want sdkLogger", cfg.Logger)
	}
	if bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); !ok || bc.GetTimeout() != ecrtarget.DefaultAPITimeout {
		t.Errorf("the AWS configuration's HTTP client %T has no %s timeout", cfg.HTTPClient, ecrtarget.DefaultAPITimeout)
	}
	cfg.Logger.Logf(logging.Warn, "falling back to IMDSv1: %s", "s3cr3t-token-value")
	cfg.Logger.Logf(logging.Debug, "request sent")
	out := buf.String()
	if !strings.Contains(out, "AWS SDK: falling back to IMDSv1") || strings.Contains(out, "s3cr3t-token-value") {
		t.Errorf("logger output %q: want the SDK's warning, redacted", out)
	}
	if strings.Contains(out, "request sent") {
		t.Errorf("an SDK debug line at level info: %q", out)
	}
}
