package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// fileMeta is what the hub says about a file before it is downloaded.
type fileMeta struct {
	ETag   string `json:"etag"`   // unquoted; sha256 for LFS files, git blob sha1 otherwise
	Size   int64  `json:"size"`   // -1 when unknown
	Commit string `json:"commit"` // the commit the revision resolved to, if given
}

// Download returns the local path of one file of a repository at a
// revision, downloading it into the cache unless the cached copy is current.
//
// Online, a HEAD request asks the hub for the file's size and ETag; a cached
// file with the same ETag (or, without a record, one whose content hashes to
// it) is used as it is, and so is any cached copy when the hub cannot be
// reached at all. Redirects to other hosts (the hub sends LFS files to
// a CDN) are followed without the Authorization header. Offline, the cached
// file is returned or an error wrapping ErrOffline.
func (c *Client) Download(ctx context.Context, r Repo, revision, file string) (string, error) {
	if err := checkArgs(r, revision); err != nil {
		return "", err
	}
	name := fmt.Sprintf("%s@%s/%s", r, revision, file)
	if err := checkPath(file); err != nil {
		return "", fmt.Errorf("hub: %s@%s: %w", r, revision, err)
	}
	local := filepath.Join(c.SnapshotDir(r, revision), filepath.FromSlash(file))
	if c.Offline {
		if regularFile(local) {
			return local, nil
		}
		return "", fmt.Errorf("hub: %s: %w (looked at %s)", name, ErrOffline, local)
	}
	u := c.resolveURL(r, revision, file)
	meta, err := c.head(ctx, u)
	if err != nil {
		if unreachable(ctx, err) && regularFile(local) {
			return local, nil // the hub cannot be reached: use the cached copy
		}
		return "", fmt.Errorf("hub: %s: %w", name, err)
	}
	metaPath := filepath.Join(c.repoDir(r), ".meta", revisionDir(revision), filepath.FromSlash(file)+".json")
	if c.current(local, metaPath, meta) {
		return local, nil
	}
	part := filepath.Join(c.repoDir(r), ".partial", revisionDir(revision), filepath.FromSlash(file)+".part")
	if err := c.fetch(ctx, u, file, part, local, metaPath, meta); err != nil {
		return "", fmt.Errorf("hub: download %s: %w", name, err)
	}
	return local, nil
}

// regularFile reports whether path names a regular file.
func regularFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// unreachable reports whether err means the hub could not be reached (as
// opposed to an answer from it, or a cancelled context).
func unreachable(ctx context.Context, err error) bool {
	var se *StatusError
	return ctx.Err() == nil && !errors.As(err, &se)
}

// resolveURL is the URL of a file: {endpoint}/[datasets/]{id}/resolve/{revision}/{path},
// with the revision escaped as one path element.
func (c *Client) resolveURL(r Repo, revision, file string) string {
	return c.Endpoint + "/" + r.String() + "/resolve/" + url.PathEscape(revision) + "/" + escapePath(file)
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// newRequest makes a request with the headers every hub request carries.
func (c *Client) newRequest(ctx context.Context, method, u string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "sambaeval")
	// Ask for the bytes as stored, so that sizes and ranges refer to them.
	req.Header.Set("Accept-Encoding", "identity")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req, nil
}

// httpClient returns a copy of the configured client whose redirect policy
// drops the Authorization header on a change of host and, when stayOnHost is
// set, stops at a redirect to another host instead of following it.
func (c *Client) httpClient(stayOnHost bool) *http.Client {
	hc := &http.Client{}
	if c.HTTPClient != nil {
		*hc = *c.HTTPClient
	}
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if req.URL.Host != via[0].URL.Host {
			if stayOnHost {
				return http.ErrUseLastResponse
			}
			req.Header.Del("Authorization")
		}
		return nil
	}
	return hc
}

// head asks the hub for a file's metadata. The hub answers a HEAD on the
// resolve URL of an LFS file with a redirect carrying X-Linked-Etag and
// X-Linked-Size; that redirect is not followed.
func (c *Client) head(ctx context.Context, u string) (fileMeta, error) {
	req, err := c.newRequest(ctx, http.MethodHead, u)
	if err != nil {
		return fileMeta{}, err
	}
	resp, err := c.httpClient(true).Do(req)
	if err != nil {
		return fileMeta{}, err
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fileMeta{}, newStatusError("HEAD", resp)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.Header.Get("Location") == "" {
		return fileMeta{}, fmt.Errorf("HEAD %s: %s without Location", resp.Request.URL.Redacted(), resp.Status)
	}
	meta := fileMeta{Size: -1, Commit: resp.Header.Get("X-Repo-Commit")}
	meta.ETag = normalizeETag(resp.Header.Get("X-Linked-Etag"))
	if meta.ETag == "" {
		meta.ETag = normalizeETag(resp.Header.Get("ETag"))
	}
	if s := resp.Header.Get("X-Linked-Size"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return fileMeta{}, fmt.Errorf("HEAD %s: bad X-Linked-Size %q", resp.Request.URL.Redacted(), s)
		}
		meta.Size = n
	} else if resp.StatusCode == http.StatusOK && resp.ContentLength >= 0 {
		meta.Size = resp.ContentLength
	}
	return meta, nil
}

// normalizeETag strips the weak marker and the quotes of an ETag.
func normalizeETag(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	return strings.Trim(s, `"`)
}

// checksumOf returns the hash an ETag names, if it names one: a 64-digit hex
// ETag is the sha256 of the content (LFS files), a 40-digit one the git blob
// sha1 ("blob {size}\0" + content).
func checksumOf(etag string, size int64) (h hash.Hash, kind string) {
	if _, err := hex.DecodeString(etag); err != nil {
		return nil, ""
	}
	switch len(etag) {
	case 64:
		return sha256.New(), "sha256"
	case 40:
		h := sha1.New()
		fmt.Fprintf(h, "blob %d\x00", size)
		return h, "git-sha1"
	}
	return nil, ""
}

// verifyFile checks a file's size and, when the ETag names a checksum, its
// content.
func verifyFile(path string, meta fileMeta) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if meta.Size >= 0 && fi.Size() != meta.Size {
		return fmt.Errorf("size %d, want %d", fi.Size(), meta.Size)
	}
	h, kind := checksumOf(meta.ETag, fi.Size())
	if h == nil {
		return nil
	}
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != strings.ToLower(meta.ETag) {
		return fmt.Errorf("%s checksum %s, want %s", kind, got, meta.ETag)
	}
	return nil
}

// current reports whether the cached file matches the hub's metadata, either
// by the record written when it was downloaded or by hashing its content.
func (c *Client) current(local, metaPath string, meta fileMeta) bool {
	fi, err := os.Stat(local)
	if err != nil || !fi.Mode().IsRegular() || meta.ETag == "" {
		return false
	}
	if meta.Size >= 0 && fi.Size() != meta.Size {
		return false
	}
	if rec, err := readRecord(metaPath); err == nil && rec.ETag == meta.ETag && rec.Size == fi.Size() {
		return true
	}
	if h, _ := checksumOf(meta.ETag, fi.Size()); h == nil || verifyFile(local, meta) != nil {
		return false
	}
	meta.Size = fi.Size()
	return writeRecord(metaPath, meta) == nil
}

func readRecord(path string) (fileMeta, error) {
	var m fileMeta
	b, err := os.ReadFile(path)
	if err != nil {
		return m, err
	}
	err = json.Unmarshal(b, &m)
	return m, err
}

// writeRecord stores a file's metadata next to the cache, atomically.
func writeRecord(path string, meta fileMeta) error {
	b, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b)
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// retryable marks a failure that another attempt may not meet.
type retryable struct{ err error }

func (e retryable) Error() string { return e.err.Error() }
func (e retryable) Unwrap() error { return e.err }

// fetch downloads a file into part and renames it to local once verified.
// A lock on part+".lock" keeps two processes from writing the same part.
func (c *Client) fetch(ctx context.Context, u, file, part, local, metaPath string, meta fileMeta) error {
	if err := os.MkdirAll(filepath.Dir(part), 0o755); err != nil {
		return err
	}
	unlock, err := lockPath(part + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	// Another process may have finished the same download while we waited.
	if c.current(local, metaPath, meta) {
		return nil
	}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()

	// Resume only what can be verified at the end; restart anything else.
	h, _ := checksumOf(meta.ETag, 0)
	canResume := h != nil
	attempts := c.MaxAttempts
	if attempts <= 0 {
		attempts = 3
	}
	for attempt := 1; ; attempt++ {
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		offset := fi.Size()
		if !canResume || (meta.Size >= 0 && offset > meta.Size) {
			offset = 0
		}
		if err := f.Truncate(offset); err != nil {
			return err
		}
		err = c.get(ctx, u, file, f, offset, meta.Size)
		if err == nil {
			if err = verifyFile(part, meta); err == nil {
				if err = f.Close(); err != nil {
					return err
				}
				if err = os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
					return err
				}
				if err = os.Rename(part, local); err != nil {
					return err
				}
				if fi, err := os.Stat(local); err == nil {
					meta.Size = fi.Size()
				}
				return writeRecord(metaPath, meta)
			}
			// A corrupt result: throw it away. Only a resumed download
			// earns another try, from the start.
			if terr := f.Truncate(0); terr != nil {
				return terr
			}
			if offset == 0 {
				return err
			}
			err = retryable{fmt.Errorf("resumed download failed verification: %w", err)}
		}
		var re retryable
		if !errors.As(err, &re) || ctx.Err() != nil {
			return err
		}
		if attempt >= attempts {
			return fmt.Errorf("gave up after %d attempts: %w", attempt, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(c.RetryWait * time.Duration(attempt)):
		}
	}
}

// get requests the file from offset on and writes what arrives into f at
// that offset. Failures worth another attempt are wrapped in retryable.
func (c *Client) get(ctx context.Context, u, file string, f *os.File, offset, size int64) error {
	req, err := c.newRequest(ctx, http.MethodGet, u)
	if err != nil {
		return err
	}
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := c.httpClient(false).Do(req)
	if err != nil {
		return retryable{err}
	}
	defer resp.Body.Close()
	total := size
	switch resp.StatusCode {
	case http.StatusOK:
		offset = 0
		if err := f.Truncate(0); err != nil {
			return err
		}
		if total < 0 {
			total = resp.ContentLength
		}
	case http.StatusPartialContent:
		start, end, n, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || start != offset {
			return retryable{fmt.Errorf("GET %s: server sent range %q for a request from byte %d",
				resp.Request.URL.Redacted(), resp.Header.Get("Content-Range"), offset)}
		}
		if total < 0 && n >= 0 {
			total = n
		} else if total < 0 {
			total = end + 1
		}
	case http.StatusRequestedRangeNotSatisfiable:
		if size >= 0 && offset == size {
			return nil // the part file is already complete
		}
		return retryable{fmt.Errorf("GET %s: %s for a request from byte %d", resp.Request.URL.Redacted(), resp.Status, offset)}
	default:
		err := newStatusError("GET", resp)
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			return retryable{err}
		}
		return err
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return err
	}
	done := offset
	c.progress(file, done, total)
	buf := make([]byte, 1<<20)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, err := f.Write(buf[:n]); err != nil {
				return err
			}
			done += int64(n)
			c.progress(file, done, total)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return retryable{fmt.Errorf("GET %s: after %d bytes: %w", resp.Request.URL.Redacted(), done, rerr)}
		}
	}
	if total >= 0 && done != total {
		return retryable{fmt.Errorf("GET %s: truncated: got %d of %d bytes", resp.Request.URL.Redacted(), done, total)}
	}
	return nil
}

func (c *Client) progress(file string, done, total int64) {
	if c.Progress != nil {
		c.Progress(file, done, total)
	}
}

// parseContentRange parses "bytes start-end/total"; total is -1 for "*".
func parseContentRange(s string) (start, end, total int64, err error) {
	bad := fmt.Errorf("bad Content-Range %q", s)
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, 0, bad
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, bad
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, 0, bad
	}
	if start, err = strconv.ParseInt(a, 10, 64); err != nil {
		return 0, 0, 0, bad
	}
	if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < start {
		return 0, 0, 0, bad
	}
	total = -1
	if tot != "*" {
		if total, err = strconv.ParseInt(tot, 10, 64); err != nil {
			return 0, 0, 0, bad
		}
	}
	return start, end, total, nil
}

// StatusError is an error status from the hub or the host it redirected to.
type StatusError struct {
	Method     string
	URL        string
	StatusCode int
	Status     string
	Code       string // the hub's X-Error-Code, e.g. RepoNotFound, EntryNotFound, GatedRepo
	Message    string // the hub's X-Error-Message or JSON "error"
}

func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s", e.Method, e.URL, e.Status)
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	switch e.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		b.WriteString("; the repository may be private or gated: set HF_TOKEN to a token with access")
	}
	return b.String()
}

func newStatusError(method string, resp *http.Response) *StatusError {
	e := &StatusError{
		Method:     method,
		URL:        resp.Request.URL.Redacted(),
		StatusCode: resp.StatusCode,
		Status:     resp.Status,
		Code:       resp.Header.Get("X-Error-Code"),
		Message:    resp.Header.Get("X-Error-Message"),
	}
	if e.Message == "" && method != http.MethodHead {
		var body struct {
			Error string `json:"error"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if json.Unmarshal(b, &body) == nil {
			e.Message = body.Error
		}
	}
	e.Message = strings.Join(strings.Fields(e.Message), " ") // keep it on one line
	return e
}
