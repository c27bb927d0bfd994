// Package hubtest runs a fake Hugging Face hub for tests.
//
// A Server answers on loopback the requests the hub package makes: HEAD and
// GET on /[datasets/]{id}/resolve/{revision}/{path} and the recursive,
// paginated /api/{models|datasets}/{id}/tree/{revision}. Files added with
// AddLFSFile are answered, as on the real hub, with a 302 redirect carrying
// X-Linked-Etag (the sha256) and X-Linked-Size to a second server standing
// in for the CDN, which rejects requests that carry an Authorization header.
// Faults can be injected per file: truncated bodies, corrupt bodies and
// error statuses.
package hubtest

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Request is one request a Server received.
type Request struct {
	Server        string // "hub" or "cdn"
	Method        string
	Path          string // the escaped path
	Authorization string
	Range         string
}

// Server is a fake hub and its CDN.
type Server struct {
	URL    string // the hub endpoint, for hub.Client.Endpoint
	CDNURL string

	// PageSize, when positive, splits tree listings into pages of that many
	// entries, linked by a Link: <...>; rel="next" header.
	PageSize int

	hub, cdn *httptest.Server

	mu       sync.Mutex
	repos    map[string]*repo // by repoKey
	blobs    map[string][]byte
	faults   map[string]*fault // by fileKey
	requests []Request
}

type repo struct {
	token string
	revs  map[string]map[string]*file // revision -> path -> file
}

type file struct {
	data []byte
	lfs  bool
}

type fault struct {
	truncate int // GETs left that send only half the bytes
	corrupt  int // GETs left that send a flipped byte
	status   int // error status to answer with
	statusN  int // GETs left to answer with status
}

// NewServer starts a fake hub and its CDN on loopback.
func NewServer() *Server {
	s := &Server{
		repos:  make(map[string]*repo),
		blobs:  make(map[string][]byte),
		faults: make(map[string]*fault),
	}
	s.hub = httptest.NewServer(http.HandlerFunc(s.serveHub))
	s.cdn = httptest.NewServer(http.HandlerFunc(s.serveCDN))
	s.URL, s.CDNURL = s.hub.URL, s.cdn.URL
	return s
}

// Close shuts both servers down.
func (s *Server) Close() {
	s.hub.Close()
	s.cdn.Close()
}

func repoKey(kind, id string) string { return kind + ":" + id }

func fileKey(kind, id, revision, path string) string {
	return repoKey(kind, id) + "@" + revision + "/" + path
}

// AddFile stores a file in git: the hub serves it itself, with its git blob
// sha1 as ETag. kind is "model" or "dataset".
func (s *Server) AddFile(kind, id, revision, path string, data []byte) {
	s.add(kind, id, revision, path, data, false)
}

// AddLFSFile stores a file in LFS: the hub redirects to the CDN for it.
func (s *Server) AddLFSFile(kind, id, revision, path string, data []byte) {
	s.add(kind, id, revision, path, data, true)
}

func (s *Server) add(kind, id, revision, path string, data []byte, lfs bool) {
	if kind != "model" && kind != "dataset" {
		panic("hubtest: kind must be model or dataset, not " + kind)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[repoKey(kind, id)]
	if r == nil {
		r = &repo{revs: make(map[string]map[string]*file)}
		s.repos[repoKey(kind, id)] = r
	}
	if r.revs[revision] == nil {
		r.revs[revision] = make(map[string]*file)
	}
	data = bytes.Clone(data)
	r.revs[revision][path] = &file{data: data, lfs: lfs}
	if lfs {
		s.blobs[sha256Hex(data)] = data
	}
}

// SetToken makes a repository private: requests without
// "Authorization: Bearer token" get 401.
func (s *Server) SetToken(kind, id, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.repos[repoKey(kind, id)]; r != nil {
		r.token = token
	}
}

func (s *Server) fault(kind, id, revision, path string) *fault {
	k := fileKey(kind, id, revision, path)
	f := s.faults[k]
	if f == nil {
		f = &fault{}
		s.faults[k] = f
	}
	return f
}

// Truncate makes the next n GETs of a file's content declare the full
// length, send only half of it and drop the connection.
func (s *Server) Truncate(kind, id, revision, path string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault(kind, id, revision, path).truncate = n
}

// Corrupt makes the next n GETs of a file's content send it with one byte
// changed.
func (s *Server) Corrupt(kind, id, revision, path string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault(kind, id, revision, path).corrupt = n
}

// Fail makes the next n GETs of a file's content answer with status.
func (s *Server) Fail(kind, id, revision, path string, status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fault(kind, id, revision, path)
	f.status, f.statusN = status, n
}

// Requests returns the requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ResetRequests forgets the requests received so far.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// Commit is the commit id the server reports for a revision (X-Repo-Commit).
func Commit(revision string) string {
	h := sha1.Sum([]byte("commit " + revision))
	return hex.EncodeToString(h[:])
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// GitBlobSHA1 returns the git object id of a blob with the given content.
func GitBlobSHA1(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// lfsPointer is the text git stores in place of an LFS file.
func lfsPointer(data []byte) []byte {
	return fmt.Appendf(nil, "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", sha256Hex(data), len(data))
}

func (s *Server) record(server string, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{
		Server:        server,
		Method:        r.Method,
		Path:          r.URL.EscapedPath(),
		Authorization: r.Header.Get("Authorization"),
		Range:         r.Header.Get("Range"),
	})
}

func hubError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("X-Error-Code", code)
	w.Header().Set("X-Error-Message", msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// lookupRepo finds the repository named by kind and id and checks the token.
// It writes the error answer and returns nil when there is none to serve.
func (s *Server) lookupRepo(w http.ResponseWriter, r *http.Request, kind, id string) *repo {
	s.mu.Lock()
	rp := s.repos[repoKey(kind, id)]
	s.mu.Unlock()
	if rp == nil {
		hubError(w, http.StatusNotFound, "RepoNotFound", "Repository Not Found for url: "+r.URL.String()+".")
		return nil
	}
	if rp.token != "" && r.Header.Get("Authorization") != "Bearer "+rp.token {
		hubError(w, http.StatusUnauthorized, "GatedRepo",
			"Access to this repository is restricted. You must be authenticated to access it.")
		return nil
	}
	return rp
}

func (s *Server) serveHub(w http.ResponseWriter, r *http.Request) {
	s.record("hub", r)
	p := r.URL.EscapedPath()
	switch {
	case strings.HasPrefix(p, "/api/") && strings.Contains(p, "/tree/"):
		s.serveTree(w, r, p)
	case strings.Contains(p, "/resolve/"):
		s.serveResolve(w, r, p)
	default:
		http.NotFound(w, r)
	}
}

// serveTree answers /api/{models|datasets}/{id}/tree/{revision}[/{path}].
func (s *Server) serveTree(w http.ResponseWriter, r *http.Request, p string) {
	left, right, _ := strings.Cut(strings.TrimPrefix(p, "/api/"), "/tree/")
	kindPlural, id, _ := strings.Cut(left, "/")
	kind := strings.TrimSuffix(kindPlural, "s")
	escRev, _, _ := strings.Cut(right, "/")
	rev, err := url.PathUnescape(escRev)
	if err != nil || (kind != "model" && kind != "dataset") {
		http.NotFound(w, r)
		return
	}
	rp := s.lookupRepo(w, r, kind, id)
	if rp == nil {
		return
	}
	s.mu.Lock()
	files := rp.revs[rev]
	type lfsInfo struct {
		OID         string `json:"oid"`
		Size        int    `json:"size"`
		PointerSize int    `json:"pointerSize"`
	}
	type entry struct {
		Type string   `json:"type"`
		OID  string   `json:"oid"`
		Size int      `json:"size"`
		Path string   `json:"path"`
		LFS  *lfsInfo `json:"lfs,omitempty"`
	}
	var entries []entry
	dirs := map[string]bool{}
	recursive := r.URL.Query().Get("recursive") == "true"
	for path, f := range files {
		if i := strings.Index(path, "/"); i >= 0 && !recursive {
			dirs[path[:i]] = true
			continue
		}
		for i := range len(path) {
			if path[i] == '/' {
				dirs[path[:i]] = true
			}
		}
		e := entry{Type: "file", Path: path, Size: len(f.data), OID: GitBlobSHA1(f.data)}
		if f.lfs {
			ptr := lfsPointer(f.data)
			e.OID = GitBlobSHA1(ptr)
			e.LFS = &lfsInfo{OID: sha256Hex(f.data), Size: len(f.data), PointerSize: len(ptr)}
		}
		entries = append(entries, e)
	}
	s.mu.Unlock()
	if files == nil {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	for d := range dirs {
		entries = append(entries, entry{Type: "directory", Path: d, OID: GitBlobSHA1([]byte(d))})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Path < entries[j].Path })
	if s.PageSize > 0 {
		start, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
		end := min(start+s.PageSize, len(entries))
		if start > len(entries) {
			start = len(entries)
		}
		if end < len(entries) {
			q := r.URL.Query()
			q.Set("cursor", strconv.Itoa(end))
			next := *r.URL
			next.RawQuery = q.Encode()
			w.Header().Set("Link", fmt.Sprintf("<%s%s>; rel=\"next\"", s.URL, next.RequestURI()))
		}
		entries = entries[start:end]
	}
	if entries == nil {
		entries = []entry{}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(entries)
}

// serveResolve answers /[datasets/]{id}/resolve/{revision}/{path}.
func (s *Server) serveResolve(w http.ResponseWriter, r *http.Request, p string) {
	left, right, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/resolve/")
	kind, id := "model", left
	if rest, ok := strings.CutPrefix(left, "datasets/"); ok {
		kind, id = "dataset", rest
	}
	escRev, escPath, _ := strings.Cut(right, "/")
	rev, err1 := url.PathUnescape(escRev)
	path, err2 := url.PathUnescape(escPath)
	if err1 != nil || err2 != nil {
		http.NotFound(w, r)
		return
	}
	rp := s.lookupRepo(w, r, kind, id)
	if rp == nil {
		return
	}
	s.mu.Lock()
	files, okRev := rp.revs[rev]
	f := files[path]
	s.mu.Unlock()
	switch {
	case !okRev:
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	case f == nil:
		hubError(w, http.StatusNotFound, "EntryNotFound", "Entry not found")
		return
	}
	w.Header().Set("X-Repo-Commit", Commit(rev))
	if f.lfs {
		sum := sha256Hex(f.data)
		w.Header().Set("X-Linked-Etag", `"`+sum+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(f.data)))
		w.Header().Set("ETag", `W/"`+GitBlobSHA1(lfsPointer(f.data))+`"`)
		loc := fmt.Sprintf("%s/lfs/%s?sig=%s", s.CDNURL, sum, fileKeyHash(kind, id, rev, path))
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusFound)
		return
	}
	w.Header().Set("ETag", `"`+GitBlobSHA1(f.data)+`"`)
	s.serveContent(w, r, fileKey(kind, id, rev, path), f.data)
}

// fileKeyHash names a file in the CDN's query so that faults apply per file.
func fileKeyHash(kind, id, rev, path string) string {
	return url.QueryEscape(fileKey(kind, id, rev, path))
}

func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request) {
	s.record("cdn", r)
	if r.Header.Get("Authorization") != "" {
		// Like S3 with a signed URL: a second credential is an error.
		http.Error(w, "Only one auth mechanism allowed", http.StatusBadRequest)
		return
	}
	sum, ok := strings.CutPrefix(r.URL.Path, "/lfs/")
	s.mu.Lock()
	data, found := s.blobs[sum]
	s.mu.Unlock()
	if !ok || !found {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("ETag", `"cdn-`+sum[:16]+`"`)
	s.serveContent(w, r, r.URL.Query().Get("sig"), data)
}

// serveContent serves data, with ranges, applying the faults set for key.
func (s *Server) serveContent(w http.ResponseWriter, r *http.Request, key string, data []byte) {
	var truncate, corrupt bool
	var status int
	if r.Method == http.MethodGet {
		s.mu.Lock()
		if f := s.faults[key]; f != nil {
			switch {
			case f.statusN > 0:
				f.statusN--
				status = f.status
			case f.truncate > 0:
				f.truncate--
				truncate = true
			case f.corrupt > 0:
				f.corrupt--
				corrupt = true
			}
		}
		s.mu.Unlock()
	}
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	if corrupt && len(data) > 0 {
		data = bytes.Clone(data)
		data[len(data)-1] ^= 0xff
	}
	if truncate {
		w = &shortWriter{ResponseWriter: w, left: -1}
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// shortWriter passes on the first half of the body whose length was
// declared in Content-Length, then fails every write, so the server drops
// the connection short of the declared length.
type shortWriter struct {
	http.ResponseWriter
	left int
}

func (w *shortWriter) WriteHeader(code int) {
	n, _ := strconv.Atoi(w.Header().Get("Content-Length"))
	w.left = n / 2
	w.ResponseWriter.WriteHeader(code)
}

func (w *shortWriter) Write(b []byte) (int, error) {
	if w.left < 0 {
		w.WriteHeader(http.StatusOK)
	}
	if len(b) > w.left {
		n, _ := w.ResponseWriter.Write(b[:w.left])
		w.left = 0
		return n, errors.New("hubtest: truncated on purpose")
	}
	w.left -= len(b)
	return w.ResponseWriter.Write(b)
}
