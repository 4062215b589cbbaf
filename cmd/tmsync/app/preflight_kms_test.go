package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// TestCheckKMSGrantAnswers: the preflight's dry-run grant, by KMS's answer. Allowed
// (DryRunOperationException) says nothing. Refused (AccessDenied) is what tmsync's own
// IAM policy gives (grants only for AWS services): an INFO note, no problem.
// Any other refusal is a problem that stops the run.
func TestCheckKMSGrantAnswers(t *testing.T) {
	for _, tc := range []struct {
		name, grantType        string
		problems, warns, notes int
	}{
		{"allowed", "DryRunOperationException", 0, 0, 0},
		{"only for AWS services", "AccessDeniedException", 0, 0, 1},
		{"key disabled", "DisabledException", 1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var grants int
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				switch r.Header.Get("X-Amz-Target") {
				case "TrentService.DescribeKey":
					_, _ = w.Write([]byte(`{"KeyMetadata":{"KeyId":"k1","Arn":"arn:aws:kms:eu-west-2:111122223333:key/k1","KeyState":"Enabled","KeyUsage":"ENCRYPT_DECRYPT"}}`))
				case "TrentService.CreateGrant":
					grants++
					w.WriteHeader(http.StatusBadRequest)
					_, _ = w.Write([]byte(`{"__type":"` + tc.grantType + `","message":"answer of the test"}`))
				default:
					w.WriteHeader(http.StatusBadRequest)
					_, _ = w.Write([]byte(`{"__type":"UnknownOperationException"}`))
				}
			}))
			defer srv.Close()
			cfg := aws.Config{Region: "eu-west-2", BaseEndpoint: aws.String(srv.URL),
				Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")}
			ps := &problems{}
			checkKMS(context.Background(), ps, cfg, "alias/ecr", "arn:aws:sts::111122223333:assumed-role/tmsync-sync/build")
			if grants != 1 {
				t.Fatalf("%d CreateGrant calls, want the one dry run", grants)
			}
			if len(ps.list) != tc.problems || len(ps.notes) != tc.notes {
				t.Fatalf("problems %v, notes %v; want %d, %d", ps.list, ps.notes, tc.problems, tc.notes)
			}
			for _, n := range ps.notes {
				if !strings.Contains(n, "alias/ecr") || !strings.Contains(n, "kms:GrantIsForAWSResource") {
					t.Errorf("note %q: want the key and why the refusal is expected", n)
				}
			}
		})
	}
}
