package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Manifest media types the bench writes and asks for.
const (
	mtOCIManifest = "application/vnd.oci.image.manifest.v1+json"
	mtOCIIndex    = "application/vnd.oci.image.index.v1+json"
	mtOCIConfig   = "application/vnd.oci.image.config.v1+json"
	mtOCILayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
	acceptAll     = mtOCIManifest + ", " + mtOCIIndex +
		", application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"
)

// regClient speaks the distribution HTTP API with no tool logic: plain HTTP, optional basic
// auth, monolithic uploads. It is what the physical reference is measured with.
type regClient struct {
	host, user, pass string
	hc               *http.Client
}

func newRegClient(host, user, pass string) *regClient {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 32,
		DisableCompression:  true,
		// Large writes: the default 4 KiB buffers cost CPU on a 1 GiB stream.
		WriteBufferSize: 256 << 10,
		ReadBufferSize:  256 << 10,
	}
	return &regClient{host: host, user: user, pass: pass, hc: &http.Client{Transport: tr}}
}

func (c *regClient) req(ctx context.Context, method, u string, body io.Reader) (*http.Request, error) {
	if !strings.HasPrefix(u, "http") {
		u = "http://" + c.host + u
	}
	r, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if c.user != "" {
		r.SetBasicAuth(c.user, c.pass)
	}
	return r, nil
}

func (c *regClient) do(r *http.Request, want ...int) (*http.Response, error) {
	resp, err := c.hc.Do(r)
	if err != nil {
		return nil, err
	}
	for _, w := range want {
		if resp.StatusCode == w {
			return resp, nil
		}
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	return nil, fmt.Errorf("%s %s: %s: %s", r.Method, r.URL.Path, resp.Status, strings.TrimSpace(string(b)))
}

// uploadURL starts an upload session in repo, or mounts dgst from repository from when it
// is set; it returns "" when the mount succeeded.
func (c *regClient) startUpload(ctx context.Context, repo, dgst, from string) (string, error) {
	u := "/v2/" + repo + "/blobs/uploads/"
	if from != "" {
		u += "?mount=" + url.QueryEscape(dgst) + "&from=" + url.QueryEscape(from)
	}
	r, err := c.req(ctx, http.MethodPost, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.do(r, http.StatusAccepted, http.StatusCreated)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusCreated {
		return "", nil
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", fmt.Errorf("upload to %s: no Location", repo)
	}
	if !strings.HasPrefix(loc, "http") {
		loc = "http://" + c.host + loc
	}
	return loc, nil
}

// putBlob uploads size bytes of body as blob dgst into repo in one PUT (monolithic).
func (c *regClient) putBlob(ctx context.Context, repo, dgst string, size int64, body io.Reader) error {
	loc, err := c.startUpload(ctx, repo, dgst, "")
	if err != nil {
		return err
	}
	return c.finishUpload(ctx, loc, dgst, size, body)
}

func (c *regClient) finishUpload(ctx context.Context, loc, dgst string, size int64, body io.Reader) error {
	u, err := url.Parse(loc)
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("digest", dgst)
	u.RawQuery = q.Encode()
	r, err := c.req(ctx, http.MethodPut, u.String(), io.NopCloser(body))
	if err != nil {
		return err
	}
	r.ContentLength = size
	r.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.do(r, http.StatusCreated)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// streamBlobUpload uploads size bytes of body as blob dgst into repo as the tools do: POST,
// one PATCH carrying the whole body, then a PUT with the digest and no body.
func (c *regClient) streamBlobUpload(ctx context.Context, repo, dgst string, size int64, body io.Reader) error {
	loc, err := c.startUpload(ctx, repo, dgst, "")
	if err != nil {
		return err
	}
	return c.patchAndFinish(ctx, loc, dgst, size, body)
}

func (c *regClient) patchAndFinish(ctx context.Context, loc, dgst string, size int64, body io.Reader) error {
	r, err := c.req(ctx, http.MethodPatch, loc, io.NopCloser(body))
	if err != nil {
		return err
	}
	r.ContentLength = size
	r.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.do(r, http.StatusAccepted, http.StatusNoContent)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	next := resp.Header.Get("Location")
	if next == "" {
		next = loc
	} else if !strings.HasPrefix(next, "http") {
		next = "http://" + c.host + next
	}
	return c.finishUpload(ctx, next, dgst, 0, http.NoBody)
}

// mountBlob mounts dgst into repo from repository from; it falls back to nothing and
// reports false when the registry opened an upload instead.
func (c *regClient) mountBlob(ctx context.Context, repo, dgst, from string) (bool, string, error) {
	loc, err := c.startUpload(ctx, repo, dgst, from)
	if err != nil {
		return false, "", err
	}
	return loc == "", loc, nil
}

// getBlob opens blob dgst of repo for reading.
func (c *regClient) getBlob(ctx context.Context, repo, dgst string) (io.ReadCloser, int64, error) {
	r, err := c.req(ctx, http.MethodGet, "/v2/"+repo+"/blobs/"+dgst, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := c.do(r, http.StatusOK)
	if err != nil {
		return nil, 0, err
	}
	return resp.Body, resp.ContentLength, nil
}

// hasBlob reports whether repo holds blob dgst.
func (c *regClient) hasBlob(ctx context.Context, repo, dgst string) (bool, error) {
	r, err := c.req(ctx, http.MethodHead, "/v2/"+repo+"/blobs/"+dgst, nil)
	if err != nil {
		return false, err
	}
	resp, err := c.hc.Do(r)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, nil
}

// putManifest stores a manifest under ref (a tag or a digest).
func (c *regClient) putManifest(ctx context.Context, repo, ref, mediaType string, body []byte) error {
	r, err := c.req(ctx, http.MethodPut, "/v2/"+repo+"/manifests/"+ref, strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Type", mediaType)
	resp, err := c.do(r, http.StatusCreated)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// manifestDigest returns the digest the registry reports for repo:ref, or "" when absent.
func (c *regClient) manifestDigest(ctx context.Context, repo, ref string) (string, error) {
	r, err := c.req(ctx, http.MethodHead, "/v2/"+repo+"/manifests/"+ref, nil)
	if err != nil {
		return "", err
	}
	r.Header.Set("Accept", acceptAll)
	resp, err := c.hc.Do(r)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return "", nil
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HEAD %s:%s: %s", repo, ref, resp.Status)
	}
	return resp.Header.Get("Docker-Content-Digest"), nil
}
