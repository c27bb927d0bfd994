package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// RepoFile is one file in a repository listing.
type RepoFile struct {
	Path   string // slash separated, relative to the repository root
	Size   int64  // bytes of the content (of the LFS object for LFS files)
	BlobID string // git blob sha1
	SHA256 string // sha256 of the content; set for LFS files only
}

// ListFiles lists every file of a repository at a revision, following the
// hub's pagination, from /api/{models|datasets}/{id}/tree/{revision}?recursive=true.
// It needs the network: offline it fails with an error wrapping ErrOffline.
func (c *Client) ListFiles(ctx context.Context, r Repo, revision string) ([]RepoFile, error) {
	if err := checkArgs(r, revision); err != nil {
		return nil, err
	}
	if c.Offline {
		return nil, fmt.Errorf("hub: list %s@%s: %w", r, revision, ErrOffline)
	}
	next := c.Endpoint + "/api/" + string(r.Type) + "s/" + r.ID + "/tree/" + url.PathEscape(revision) +
		"?recursive=true&expand=false"
	var files []RepoFile
	for pages := 0; next != ""; pages++ {
		if pages == 10000 {
			return nil, fmt.Errorf("hub: list %s@%s: more than 10000 pages", r, revision)
		}
		var entries []struct {
			Type string `json:"type"`
			Path string `json:"path"`
			Size int64  `json:"size"`
			OID  string `json:"oid"`
			LFS  *struct {
				OID  string `json:"oid"`
				Size int64  `json:"size"`
			} `json:"lfs"`
		}
		var err error
		next, err = c.getJSON(ctx, next, &entries)
		if err != nil {
			return nil, fmt.Errorf("hub: list %s@%s: %w", r, revision, err)
		}
		for _, e := range entries {
			if e.Type != "file" {
				continue
			}
			f := RepoFile{Path: e.Path, Size: e.Size, BlobID: e.OID}
			if e.LFS != nil {
				f.SHA256, f.Size = e.LFS.OID, e.LFS.Size
			}
			files = append(files, f)
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

// getJSON decodes the JSON answer to a GET and returns the URL of the next
// page named by its Link header, if any.
func (c *Client) getJSON(ctx context.Context, u string, v any) (next string, err error) {
	req, err := c.newRequest(ctx, http.MethodGet, u)
	if err != nil {
		return "", err
	}
	resp, err := c.httpClient(false).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", newStatusError("GET", resp)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return "", fmt.Errorf("GET %s: decode: %w", resp.Request.URL.Redacted(), err)
	}
	next = nextLink(resp.Header.Values("Link"))
	if next != "" {
		ref, err := url.Parse(next)
		if err != nil {
			return "", fmt.Errorf("GET %s: bad Link %q", resp.Request.URL.Redacted(), next)
		}
		next = resp.Request.URL.ResolveReference(ref).String()
	}
	return next, nil
}

// nextLink finds the rel="next" target in Link headers
// (`<https://...>; rel="next"`).
func nextLink(headers []string) string {
	for _, h := range headers {
		for _, link := range strings.Split(h, ",") {
			target, params, ok := strings.Cut(link, ";")
			if !ok {
				continue
			}
			target = strings.TrimSpace(target)
			if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "rel") && strings.Trim(v, `"`) == "next" {
					return target[1 : len(target)-1]
				}
			}
		}
	}
	return ""
}

// Snapshot makes sure the files of a repository at a revision whose paths
// match any of the patterns (every file when there are none) are in the
// cache, and returns the snapshot folder and the matched paths, sorted.
// Online the list comes from ListFiles and each file from Download; offline,
// or when the hub cannot be reached, it is the matching files already
// cached. No match is an error.
// See Match for the pattern syntax.
func (c *Client) Snapshot(ctx context.Context, r Repo, revision string, patterns ...string) (dir string, files []string, err error) {
	if err := checkArgs(r, revision); err != nil {
		return "", nil, err
	}
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return "", nil, fmt.Errorf("hub: %s@%s: bad pattern %q", r, revision, p)
		}
	}
	dir = c.SnapshotDir(r, revision)
	want := strings.Join(patterns, ", ")
	if want == "" {
		want = "any file"
	}
	if c.Offline {
		files, err = cachedFiles(dir, patterns)
		if err != nil {
			return "", nil, fmt.Errorf("hub: %s@%s: %w", r, revision, err)
		}
		if len(files) == 0 {
			return "", nil, fmt.Errorf("hub: %s@%s: no cached file matches %s in %s: %w", r, revision, want, dir, ErrOffline)
		}
		return dir, files, nil
	}
	listing, err := c.ListFiles(ctx, r, revision)
	if err != nil {
		// As huggingface_hub does, fall back on the cache when the hub
		// cannot be reached at all.
		if unreachable(ctx, err) {
			if files, cerr := cachedFiles(dir, patterns); cerr == nil && len(files) > 0 {
				return dir, files, nil
			}
		}
		return "", nil, err
	}
	for _, f := range listing {
		if matchAny(patterns, f.Path) {
			files = append(files, f.Path)
		}
	}
	if len(files) == 0 {
		return "", nil, fmt.Errorf("hub: %s@%s: no file matches %s (the repository has %d files)", r, revision, want, len(listing))
	}
	for _, f := range files {
		if _, err := c.Download(ctx, r, revision, f); err != nil {
			return "", nil, err
		}
	}
	return dir, files, nil
}

// cachedFiles lists the regular files under dir matching the patterns.
func cachedFiles(dir string, patterns []string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel = filepath.ToSlash(rel); matchAny(patterns, rel) {
			files = append(files, rel)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// Match reports whether a repository path matches a pattern. A pattern with
// a '/' is matched against the whole path with path.Match, so "all/test-*.parquet"
// matches "all/test-00000-of-00001.parquet"; a pattern without one is also
// matched against the last element, so "*.safetensors" matches files in
// every folder. The error is path.ErrBadPattern for a malformed pattern.
func Match(pattern, name string) (bool, error) {
	ok, err := path.Match(pattern, name)
	if err != nil || ok || strings.Contains(pattern, "/") {
		return ok, err
	}
	return path.Match(pattern, path.Base(name))
}

func matchAny(patterns []string, name string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, _ := Match(p, name); ok {
			return true
		}
	}
	return false
}
