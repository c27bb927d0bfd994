// Package hub downloads files of Hugging Face hub repositories (models and
// datasets) into a local cache.
//
// A file of repository owner/name at a revision is fetched from
//
//	{endpoint}/{owner}/{name}/resolve/{revision}/{path}           (models)
//	{endpoint}/datasets/{owner}/{name}/resolve/{revision}/{path}  (datasets)
//
// and stored at
//
//	{cache}/hub/{models|datasets}--{owner}--{name}/{revision}/{path}
//
// Downloads go to a partial file that is renamed into place only after its
// size and, when the hub gives one, its checksum have been verified. An
// interrupted download is resumed with a Range request when the final content
// can be verified, and restarted otherwise. In offline mode only the cache is
// used.
//
// The environment configures a client made by NewClient: HF_ENDPOINT (default
// https://huggingface.co), HF_TOKEN (sent as a bearer token to the endpoint,
// never to the hosts it redirects to), HF_HUB_OFFLINE=1 and SAMBAEVAL_CACHE,
// XDG_CACHE_HOME or HOME for the cache root.
package hub

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultEndpoint is the hub used when HF_ENDPOINT is not set.
const DefaultEndpoint = "https://huggingface.co"

// RepoType says whether a repository holds a model or a dataset.
type RepoType string

// The repository types of the hub.
const (
	Model   RepoType = "model"
	Dataset RepoType = "dataset"
)

// Repo names a repository on the hub.
type Repo struct {
	Type RepoType
	ID   string // "owner/name"; a few legacy models have no owner ("gpt2")
}

// ModelRepo returns the model repository id.
func ModelRepo(id string) Repo { return Repo{Type: Model, ID: id} }

// DatasetRepo returns the dataset repository id.
func DatasetRepo(id string) Repo { return Repo{Type: Dataset, ID: id} }

// String returns the repository as the hub's URLs spell it: "owner/name" for
// models and "datasets/owner/name" for datasets.
func (r Repo) String() string {
	if r.Type == Dataset {
		return "datasets/" + r.ID
	}
	return r.ID
}

// Validate reports whether the repository type and id are well formed.
func (r Repo) Validate() error {
	if r.Type != Model && r.Type != Dataset {
		return fmt.Errorf("hub: repository %q: unknown type %q (want model or dataset)", r.ID, r.Type)
	}
	parts := strings.Split(r.ID, "/")
	if len(parts) > 2 {
		return fmt.Errorf("hub: repository %q: want owner/name", r.ID)
	}
	for _, p := range parts {
		if !validName(p) {
			return fmt.Errorf("hub: repository %q: want owner/name of letters, digits, '-', '_' and '.'", r.ID)
		}
	}
	return nil
}

func validName(s string) bool {
	if s == "" || s == "." || s == ".." || strings.Contains(s, "--") {
		return false
	}
	for _, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// cacheName is the repository's folder under {cache}/hub.
func (r Repo) cacheName() string {
	return string(r.Type) + "s--" + strings.ReplaceAll(r.ID, "/", "--")
}

// Client downloads files from one hub endpoint into one cache.
// The zero value is not usable; make one with NewClient or fill in at least
// Endpoint and CacheDir.
type Client struct {
	// Endpoint is the hub's base URL, without a trailing slash.
	Endpoint string
	// Token, when not empty, is sent to the endpoint as "Authorization: Bearer".
	Token string
	// CacheDir is the cache root; files go to CacheDir/hub/...
	CacheDir string
	// Offline restricts the client to files already in the cache.
	Offline bool
	// HTTPClient makes the requests; nil means a client with default transport.
	// Its CheckRedirect is replaced (see doc of Download).
	HTTPClient *http.Client
	// Progress, when not nil, is called as a download advances with the
	// file's path in the repository, the bytes held so far and the total
	// (-1 when unknown). It is called once when a download starts, after
	// each chunk written, and once with done == total when it completes.
	Progress func(path string, done, total int64)
	// MaxAttempts bounds the tries of one download when the connection
	// breaks or the server fails with a 5xx or 429 status; 0 means 3.
	MaxAttempts int
	// RetryWait is the pause before the n-th retry, multiplied by n;
	// 0 means no pause.
	RetryWait time.Duration
}

// NewClient returns a client configured from the environment: HF_ENDPOINT,
// HF_TOKEN, HF_HUB_OFFLINE and the cache directory of DefaultCacheDir.
func NewClient() (*Client, error) {
	cache, err := DefaultCacheDir()
	if err != nil {
		return nil, err
	}
	endpoint := strings.TrimRight(os.Getenv("HF_ENDPOINT"), "/")
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	return &Client{
		Endpoint:  endpoint,
		Token:     strings.TrimSpace(os.Getenv("HF_TOKEN")),
		CacheDir:  cache,
		Offline:   envTrue(os.Getenv("HF_HUB_OFFLINE")),
		RetryWait: time.Second,
	}, nil
}

// envTrue interprets a boolean environment variable the way
// huggingface_hub does: 1, true, yes and on (any case) are true.
func envTrue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// DefaultCacheDir returns the cache root: $SAMBAEVAL_CACHE if set, else
// $XDG_CACHE_HOME/sambaeval, else ~/.cache/sambaeval.
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("SAMBAEVAL_CACHE"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "sambaeval"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("hub: cache directory: set SAMBAEVAL_CACHE: %w", err)
	}
	return filepath.Join(home, ".cache", "sambaeval"), nil
}

// repoDir is the folder of a repository in the cache.
func (c *Client) repoDir(r Repo) string {
	return filepath.Join(c.CacheDir, "hub", r.cacheName())
}

// SnapshotDir returns the folder that holds the cached files of a repository
// at a revision; the file at path p is SnapshotDir(r, rev)/p. A revision
// holding '/' (refs/pr/1) is stored under its escaped form (refs%2Fpr%2F1).
func (c *Client) SnapshotDir(r Repo, revision string) string {
	return filepath.Join(c.repoDir(r), revisionDir(revision))
}

// revisionDir maps a revision to one path element. Git forbids ref names
// whose components start with '.', so it never collides with the cache's
// own ".partial" and ".meta" folders.
func revisionDir(revision string) string {
	return strings.ReplaceAll(strings.ReplaceAll(revision, "%", "%25"), "/", "%2F")
}

// checkArgs validates the arguments shared by the download functions.
func checkArgs(r Repo, revision string) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if revision == "" || strings.HasPrefix(revision, ".") || strings.Contains(revision, "..") ||
		strings.ContainsAny(revision, "\\\x00") {
		return fmt.Errorf("hub: %s: bad revision %q", r, revision)
	}
	return nil
}

// checkPath validates a file path inside a repository: slash separated,
// relative, without "." or ".." elements.
func checkPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00") {
		return fmt.Errorf("bad file path %q", p)
	}
	for _, e := range strings.Split(p, "/") {
		if e == "" || e == "." || e == ".." {
			return fmt.Errorf("bad file path %q", p)
		}
	}
	return nil
}

// ErrOffline is wrapped by the errors of an offline client asked for a file
// that is not in the cache.
var ErrOffline = errors.New("not in the cache and HF_HUB_OFFLINE=1 forbids downloading")
