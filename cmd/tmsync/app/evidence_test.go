package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/tmsync/tmsync/evidence"
	"github.com/tmsync/tmsync/tmsync"
)

// TestEvidenceFlags: a bank public key file that is not a PEM public key or a missing one
// stops the run before it starts (a *StartError, exit 2), naming the file; a good PEM file
// is accepted. Both key flags at once are refused with the other flag values, when the
// flags are read (checkArgs: config show says it too).
func TestEvidenceFlags(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bank.pem")
	if err := os.WriteFile(bad, []byte("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pemBytes, err := evidence.PublicKeyPEM(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.pem")
	if err := os.WriteFile(good, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, c := range map[string]struct {
		a    Args
		want string
	}{
		"bad pem":      {Args{BankPublicKey: bad}, bad},
		"missing file": {Args{BankPublicKey: filepath.Join(dir, "nope.pem")}, "nope.pem"},
	} {
		_, err := evidenceOption(ctx, c.a, aws.Config{})
		var se *tmsync.StartError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a StartError naming %q", name, err, c.want)
		}
	}
	all := func(string) bool { return true }
	if err := checkArgs(Args{BankPublicKey: good, SignKMSKey: "alias/bank"}, all); err == nil || !strings.Contains(err.Error(), "--sign-kms-key and --bank-public-key: give one") {
		t.Errorf("both keys: %v, want them refused", err)
	}
	if err := checkArgs(Args{BankPublicKey: good}, all); err != nil && strings.Contains(err.Error(), "bank-public-key") {
		t.Errorf("the bank key alone: %v", err)
	}
	if opt, err := evidenceOption(ctx, Args{BankPublicKey: good, CopyReferrers: true}, aws.Config{}); err != nil || opt == nil {
		t.Errorf("a good PEM file: %v", err)
	}
}
