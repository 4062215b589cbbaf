package ecrtarget

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
	"github.com/opencontainers/go-digest"
)

// TestStartScan: a scan ECR starts, or refuses because the image was scanned already
// today, is fine; any other refusal (access denied included) is an *Error naming the call.
func TestStartScan(t *testing.T) {
	d := digest.FromString("image")
	for _, tc := range []struct {
		name    string
		refusal error
		wantErr bool
	}{
		{"started", nil, false},
		{"scanned already today", &types.LimitExceededException{Message: aws.String("scan quota exceeded")}, false},
		{"unsupported", &types.UnsupportedImageTypeException{Message: aws.String("no")}, true},
		// A read-only role: the caller (tmsync's ECRTarget) must see the denial to stop
		// waiting for a scan that will not come.
		{"access denied", &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAPI{startScan: tc.refusal}
			err := mustNew(t, f).StartScan(context.Background(), repoName, d)
			if calls := f.Calls(); len(calls) != 1 || calls[0] != "StartImageScan" {
				t.Errorf("calls %v, want one StartImageScan", calls)
			}
			var e *Error
			switch {
			case !tc.wantErr && err != nil:
				t.Fatalf("StartScan: %v", err)
			case tc.wantErr && !errors.As(err, &e):
				t.Fatalf("StartScan: %v, want an *Error", err)
			case tc.wantErr && !errors.Is(err, tc.refusal):
				t.Fatalf("StartScan: %v does not wrap the AWS error", err)
			}
		})
	}
}
