package testbed

import (
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Moto is a moto_server: a real AWS API server on 127.0.0.1.
type Moto struct {
	// URL is the endpoint, "http://127.0.0.1:PORT".
	URL string
}

// The account and region moto answers with.
const (
	MotoAccount = "123456789012"
	MotoRegion  = "us-east-1"
)

// StartMoto starts a moto_server of the test's own, stopped when the test ends.
func StartMoto(t TB) *Moto {
	t.Helper()
	bin := NeedProgram(t, "moto_server", "Python package moto[server]")
	m, p, err := startMoto(bin)
	if err != nil {
		t.Fatalf("starting moto: %v", err)
	}
	p.stopAtCleanup(t)
	return m
}

func startMoto(bin string) (*Moto, *process, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken between probe and bind
		port, err := freePort()
		if err != nil {
			return nil, nil, err
		}
		m := &Moto{URL: "http://127.0.0.1:" + portString(port)}
		dir, err := os.MkdirTemp("", "tmsync-moto-")
		if err != nil {
			return nil, nil, err
		}
		var p *process
		p, lastErr = startProcess("moto_server "+m.URL, []string{bin, "-H", "127.0.0.1", "-p", portString(port)}, dir,
			httpReady(m.URL+"/moto-api/", 200), 30*time.Second)
		if lastErr == nil {
			return m, p, nil
		}
	}
	return nil, nil, lastErr
}

var shared struct {
	mu   sync.Mutex // held by the test that uses the shared server
	once sync.Once
	moto *Moto
	err  error
}

// SharedMoto returns a moto_server shared by the tests of one test binary, reset to an
// empty state. The test holds it until it ends, so tests that use it run one at a time.
// The server lives as long as the test binary and dies with it.
func SharedMoto(t TB) *Moto {
	t.Helper()
	bin := NeedProgram(t, "moto_server", "Python package moto[server]")
	shared.mu.Lock()
	t.Cleanup(shared.mu.Unlock)
	shared.once.Do(func() { shared.moto, _, shared.err = startMoto(bin) })
	if shared.err != nil {
		t.Fatalf("starting shared moto: %v", shared.err)
	}
	shared.moto.Reset(t)
	return shared.moto
}

// Reset clears every resource moto holds.
func (m *Moto) Reset(t TB) {
	t.Helper()
	resp, err := http.Post(m.URL+"/moto-api/reset", "application/json", nil)
	if err != nil {
		t.Fatalf("resetting moto: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("resetting moto: status %d", resp.StatusCode)
	}
}

// Config returns an AWS configuration that talks to this server with test credentials.
func (m *Moto) Config() aws.Config {
	return aws.Config{
		Region:       MotoRegion,
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint: aws.String(m.URL),
	}
}

// Env points the AWS SDK's default configuration chain at this server for the rest of the
// test, the way a user does with AWS_ENDPOINT_URL.
func (m *Moto) Env(t TB) {
	t.Setenv("AWS_ENDPOINT_URL", m.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", MotoRegion)
	t.Setenv("AWS_DEFAULT_REGION", MotoRegion)
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
}
