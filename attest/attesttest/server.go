package attesttest

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
)

// OccurrencesPath is the path of the occurrences endpoint the Server serves.
const OccurrencesPath = "/v1beta1/projects/tm-attestations-project/notes/tm-release-attestor-note/occurrences"

// Server is a Grafeas v1beta1 occurrences endpoint on 127.0.0.1: bearer token, pageSize and
// pageToken pagination, filter=resourceUrl="..." (exact match on resource.uri).
type Server struct {
	// URL is the occurrences endpoint address to pass to attest.NewClient.
	URL string

	srv   *httptest.Server
	token string

	mu           sync.Mutex
	occs         []json.RawMessage
	uris         []string
	requests     int
	ignoreFilter bool
	maxPageSize  int
	failures     []Failure
}

// Failure is an answer the server gives instead of the normal one.
type Failure struct {
	Status     int
	RetryAfter string // Retry-After header, "" for none
	Body       string
}

// NewServer starts a server that requires "Authorization: Bearer <token>" (any token
// when token is "") and serves occs.
func NewServer(token string, occs ...json.RawMessage) *Server {
	s := &Server{token: token, maxPageSize: 1000}
	for _, o := range occs {
		s.Add(o)
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("attesttest: listening on 127.0.0.1: " + err.Error())
	}
	s.srv.Listener = l
	s.srv.Start()
	s.URL = s.srv.URL + OccurrencesPath
	return s
}

// Add serves one more occurrence.
func (s *Server) Add(occ json.RawMessage) {
	var o struct {
		Resource struct {
			URI string `json:"uri"`
		} `json:"resource"`
	}
	_ = json.Unmarshal(occ, &o)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.occs = append(s.occs, occ)
	s.uris = append(s.uris, o.Resource.URI)
}

// IgnoreFilter makes the server answer every filtered request with all occurrences, as a
// broken or malicious server might.
func (s *Server) IgnoreFilter(ignore bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ignoreFilter = ignore
}

// SetMaxPageSize caps the page size the server uses whatever the client asks. Default 1000.
func (s *Server) SetMaxPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxPageSize = n
}

// FailNext makes the next len(f) requests get these answers, in order.
func (s *Server) FailNext(f ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, f...)
}

// Requests is the number of requests received so far.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Client returns an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		grafeasError(w, f.Status, f.Body)
		return
	}
	if r.URL.Path != OccurrencesPath {
		grafeasError(w, http.StatusNotFound, "not found")
		return
	}
	if r.Method != http.MethodGet {
		grafeasError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if s.token != "" && r.Header.Get("Authorization") != "Bearer "+s.token {
		grafeasError(w, http.StatusUnauthorized, "request had invalid authentication credentials")
		return
	}
	q := r.URL.Query()
	pageSize := s.maxPageSize
	if v := q.Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			grafeasError(w, http.StatusBadRequest, "invalid pageSize")
			return
		}
		if n > 0 && n < pageSize {
			pageSize = n
		}
	}
	var match func(uri string) bool
	if f := q.Get("filter"); f != "" && !s.ignoreFilter {
		want, ok := strings.CutPrefix(f, `resourceUrl="`)
		if !ok || !strings.HasSuffix(want, `"`) {
			grafeasError(w, http.StatusBadRequest, "unsupported filter")
			return
		}
		want = strings.TrimSuffix(want, `"`)
		match = func(uri string) bool { return uri == want }
	}
	var sel []json.RawMessage
	for i, o := range s.occs {
		if match == nil || match(s.uris[i]) {
			sel = append(sel, o)
		}
	}
	start := 0
	if t := q.Get("pageToken"); t != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(t, "offset-"))
		if err != nil || !strings.HasPrefix(t, "offset-") || n < 0 || n > len(sel) {
			grafeasError(w, http.StatusBadRequest, "invalid pageToken")
			return
		}
		start = n
	}
	end := min(start+pageSize, len(sel))
	resp := struct {
		Occurrences   []json.RawMessage `json:"occurrences,omitempty"`
		NextPageToken string            `json:"nextPageToken,omitempty"`
	}{Occurrences: sel[start:end]}
	if end < len(sel) {
		resp.NextPageToken = "offset-" + strconv.Itoa(end)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func grafeasError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": status, "message": msg, "status": http.StatusText(status),
	}})
}
