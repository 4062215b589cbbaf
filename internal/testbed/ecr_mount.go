package testbed

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync/atomic"

	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// SettingBlobMounting is the ECR account setting that turns cross-repository blob
// mounting on ("ENABLED") or off ("DISABLED", the default).
const SettingBlobMounting = "BLOB_MOUNTING"

// How the ECR stand-in answered a mount request (Mount.Outcome).
const (
	MountDone            = "mounted"             // the registry mounted the blob (201)
	MountOff             = "mounting off"        // BLOB_MOUNTING is DISABLED: an upload session instead
	MountNotCommitted    = "not committed"       // no committed manifest in From references the blob
	MountOtherEncrypt    = "encryption differs"  // From's encryption type or KMS key is not Repository's
	MountNoSource        = "no such repository"  // From does not exist
	MountRegistryRefused = "refused by registry" // allowed by the rules, but the registry did not mount
)

// Mount is one cross-repository mount request (POST /v2/<repo>/blobs/uploads/?mount=&from=).
type Mount struct {
	Repository, From, Digest string
	// Outcome is MountDone or why the mount became an ordinary upload.
	Outcome string
}

// Traffic is what the target was sent: blob upload bodies and mounts.
type Traffic struct {
	// UploadedBytes is every body byte of blob upload requests (POST, PATCH and PUT
	// under /v2/<repo>/blobs/uploads/) forwarded to the registry. Manifests are not
	// counted.
	UploadedBytes int64
	// Uploaded is UploadedBytes by repository.
	Uploaded map[string]int64
	// Mounts lists the mount requests in arrival order.
	Mounts []Mount
}

// MountsDone counts the mounts that succeeded.
func (t Traffic) MountsDone() int {
	n := 0
	for _, m := range t.Mounts {
		if m.Outcome == MountDone {
			n++
		}
	}
	return n
}

func newTraffic() Traffic { return Traffic{Uploaded: map[string]int64{}} }

// Traffic returns a copy of what the target was sent so far.
func (e *ECR) Traffic() Traffic {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.traffic
	t.Uploaded = maps.Clone(e.traffic.Uploaded)
	t.Mounts = slices.Clone(e.traffic.Mounts)
	return t
}

// ResetTraffic zeroes the counts of Traffic (what the registry holds stays).
func (e *ECR) ResetTraffic() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.traffic = newTraffic()
}

// SetBlobMounting sets the account setting BLOB_MOUNTING, as PutAccountSetting does.
// Turning it off does not undo mounts already made (as in ECR).
func (e *ECR) SetBlobMounting(on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.mounting = on
}

// BlobMounting reports the account setting BLOB_MOUNTING.
func (e *ECR) BlobMounting() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mounting
}

// Committed reports whether a manifest pushed to repo and accepted by the registry
// references blob (as config or layer): what ECR asks of the source of a mount.
func (e *ECR) Committed(repo, blob string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.committed[repo][blob]
}

// serveUpload forwards a blob upload request, counting its body, and applies ECR's
// mount rules to POST .../blobs/uploads/?mount=<digest>&from=<repo>.
func (e *ECR) serveUpload(w http.ResponseWriter, r *http.Request, repo string, target ecrtypes.Repository) {
	q := r.URL.Query()
	if blob, from := q.Get("mount"), q.Get("from"); r.Method == http.MethodPost && blob != "" {
		m := Mount{Repository: repo, From: from, Digest: blob, Outcome: e.mountRule(r, target, from, blob)}
		if m.Outcome != "" {
			// Not mountable: strip the mount, so the registry starts an upload session
			// (202), as ECR does.
			q.Del("mount")
			q.Del("from")
			r.URL.RawQuery = q.Encode()
		}
		sw := &statusWriter{ResponseWriter: w}
		e.forwardCounting(sw, r, repo)
		if m.Outcome == "" {
			m.Outcome = MountRegistryRefused
			if sw.status == http.StatusCreated {
				m.Outcome = MountDone
			}
		}
		e.mu.Lock()
		e.traffic.Mounts = append(e.traffic.Mounts, m)
		e.mu.Unlock()
		return
	}
	e.forwardCounting(w, r, repo)
}

// mountRule returns "" when ECR would mount blob from the repository from into target,
// or the reason it would not.
func (e *ECR) mountRule(r *http.Request, target ecrtypes.Repository, from, blob string) string {
	if !e.BlobMounting() {
		return MountOff
	}
	if from == "" {
		return MountNoSource
	}
	src, err := e.describe(r.Context(), from, true)
	if err != nil {
		return MountNoSource
	}
	if encryption(src) != encryption(target) {
		return MountOtherEncrypt
	}
	if !e.Committed(from, blob) {
		return MountNotCommitted
	}
	return ""
}

func encryption(r ecrtypes.Repository) string {
	if r.EncryptionConfiguration == nil {
		return string(ecrtypes.EncryptionTypeAes256)
	}
	k := ""
	if r.EncryptionConfiguration.KmsKey != nil {
		k = *r.EncryptionConfiguration.KmsKey
	}
	return string(r.EncryptionConfiguration.EncryptionType) + " " + k
}

// forwardCounting forwards r and adds the body bytes the registry read to Traffic.
func (e *ECR) forwardCounting(w http.ResponseWriter, r *http.Request, repo string) {
	// Atomic: the transport may still be reading the body when the answer comes.
	var counted atomic.Int64
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &countingReader{ReadCloser: r.Body, n: &counted}
	}
	defer func() {
		n := counted.Load()
		e.mu.Lock()
		defer e.mu.Unlock()
		e.traffic.UploadedBytes += n
		if n > 0 {
			e.traffic.Uploaded[repo] += n
		}
	}()
	e.proxy.ServeHTTP(w, r)
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.ReadCloser.Read(p)
	c.n.Add(int64(k))
	return k, err
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// referencedBlobs returns the config and layer digests of an image manifest. An index
// references manifests, not blobs: its children, pushed into the same repository,
// contribute theirs.
func referencedBlobs(manifest []byte) []string {
	var m struct {
		Config *struct {
			Digest string `json:"digest"`
		} `json:"config"`
		Layers []struct {
			Digest string `json:"digest"`
		} `json:"layers"`
	}
	if json.Unmarshal(manifest, &m) != nil {
		return nil
	}
	var out []string
	if m.Config != nil && m.Config.Digest != "" {
		out = append(out, m.Config.Digest)
	}
	for _, l := range m.Layers {
		if l.Digest != "" {
			out = append(out, l.Digest)
		}
	}
	return out
}

// The ECR API calls the test bed answers itself; X-Amz-Target names them.
const (
	targetGetAccountSetting = "AmazonEC2ContainerRegistry_V20150921.GetAccountSetting"
	targetPutAccountSetting = "AmazonEC2ContainerRegistry_V20150921.PutAccountSetting"
)

// startAPI starts the API proxy in front of moto and returns its URL.
func (e *ECR) startAPI(t TB) string {
	t.Helper()
	moto, err := url.Parse(e.Moto.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(moto)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("X-Amz-Target") {
		case targetGetAccountSetting, targetPutAccountSetting:
			e.serveAccountSetting(w, r)
		default:
			rp.ServeHTTP(w, r)
		}
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String()
}

// serveAccountSetting answers GetAccountSetting and PutAccountSetting for BLOB_MOUNTING
// in the awsJson1_1 protocol; other settings are refused as ECR refuses unknown names.
func (e *ECR) serveAccountSetting(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	fail := func(kind, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": kind, "message": msg})
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil {
		fail("SerializationException", "reading the request: "+err.Error())
		return
	}
	if in.Name != SettingBlobMounting {
		fail("ValidationException", fmt.Sprintf("the test bed models only the account setting %s, not %q", SettingBlobMounting, in.Name))
		return
	}
	if r.Header.Get("X-Amz-Target") == targetPutAccountSetting {
		switch in.Value {
		case "ENABLED":
			e.SetBlobMounting(true)
		case "DISABLED":
			e.SetBlobMounting(false)
		default:
			fail("ValidationException", fmt.Sprintf("value %q of %s is not ENABLED or DISABLED", in.Value, SettingBlobMounting))
			return
		}
	}
	value := "DISABLED"
	if e.BlobMounting() {
		value = "ENABLED"
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(map[string]string{"name": SettingBlobMounting, "value": value})
}
