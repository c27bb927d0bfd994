// Package datasets reads the evaluation data sets (MMLU, GSM8K and text
// corpora for perplexity) and ships default copies of them inside the
// binary.
//
// A Source says where the data comes from:
//
//   - Embedded(): the copies shipped in the binary, converted to Parquet from
//     the original releases (see data/CONVERSION.md);
//   - Dir(path): a local folder, in any of the layouts the loaders detect (the
//     Hugging Face Parquet layout, the original CSV or JSON Lines files);
//   - Hub(...): files of a Hugging Face dataset repository, downloaded on
//     demand into the cache of package hub.
//
// ParseSource maps the CLI's --data-dir value to a Source: "" is the
// embedded copy, "hf://OWNER/NAME[@REVISION][/GLOB]" a hub repository and
// anything else a folder (or, for text corpora, a file).
//
// Every loader also returns the files it read with their sha256, for the
// record of a run.
package datasets

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/sambaeval/sambaeval/hub"
)

// The shipped copies: Parquet files under data/, with the licenses and
// provenance notes of their sources. Regenerate with go generate.
//
//go:generate go run ./internal/convert -out data -subjects mmlu_subjects.go
//go:embed data
var embedded embed.FS

// EmbeddedFiles returns the shipped data files, with their LICENSE and
// SOURCE.md files and the conversion note CONVERSION.md.
func EmbeddedFiles() fs.FS {
	sub, err := fs.Sub(embedded, "data")
	if err != nil {
		panic(err) // "data" is a valid path; fs.Sub cannot fail on it
	}
	return sub
}

type sourceKind int

const (
	sourceEmbedded sourceKind = iota
	sourceDir
	sourceHub
)

// Source is where a loader reads a data set from. The zero value is the
// embedded copy.
type Source struct {
	kind     sourceKind
	dir      string      // sourceDir: a folder or a file
	repo     string      // sourceHub: owner/name; "" means the data set's usual repository
	revision string      // sourceHub
	pattern  string      // sourceHub: a glob restricting the files fetched; may be ""
	client   *hub.Client // sourceHub: nil means hub.NewClient()
	ctx      context.Context
}

// Embedded returns the source of the copies shipped in the binary.
func Embedded() Source { return Source{} }

// Dir returns the source of a local folder (or single file, for texts).
func Dir(path string) Source { return Source{kind: sourceDir, dir: path} }

// Hub returns the source of a dataset repository on the Hugging Face hub.
// repo is "owner/name", or "" for each data set's usual repository
// (cais/mmlu, openai/gsm8k); revision "" means "main"; pattern, when not
// empty, restricts the files fetched (see hub.Match); client nil means
// hub.NewClient() at load time.
func Hub(client *hub.Client, repo, revision, pattern string) Source {
	if revision == "" {
		revision = "main"
	}
	return Source{kind: sourceHub, repo: repo, revision: revision, pattern: pattern, client: client}
}

// WithContext returns the source with a context that bounds its downloads.
func (s Source) WithContext(ctx context.Context) Source {
	s.ctx = ctx
	return s
}

// IsEmbedded reports whether the source is the shipped copy.
func (s Source) IsEmbedded() bool { return s.kind == sourceEmbedded }

// String returns the source as ParseSource reads it back, except that the
// embedded copy is "embedded".
func (s Source) String() string {
	switch s.kind {
	case sourceDir:
		return s.dir
	case sourceHub:
		t := "hf://" + s.repo
		if s.repo != "" && s.revision != "main" {
			t += "@" + url.PathEscape(s.revision)
		}
		if s.repo != "" && s.pattern != "" {
			t += "/" + s.pattern
		}
		return t
	}
	return "embedded"
}

// ParseSource reads a --data-dir value:
//
//	""                                 the embedded copy
//	hf://                              each data set's usual hub repository (cais/mmlu, openai/gsm8k)
//	hf://OWNER/NAME                    a dataset repository at revision main
//	hf://datasets/OWNER/NAME           the same (the spelling of huggingface_hub's HfFileSystem)
//	hf://OWNER/NAME@REVISION           at a branch, tag or commit; escape a '/' in it as %2F
//	hf://OWNER/NAME[@REVISION]/GLOB    only the files matching GLOB (see hub.Match)
//	anything else                      a local folder, or a file for text corpora
//
// client is used for hub sources; nil means hub.NewClient() when loading.
func ParseSource(spec string, client *hub.Client) (Source, error) {
	if spec == "" {
		return Embedded(), nil
	}
	rest, ok := strings.CutPrefix(spec, "hf://")
	if !ok {
		return Dir(spec), nil
	}
	if rest == "" {
		return Hub(client, "", "main", ""), nil
	}
	rest = strings.TrimPrefix(rest, "datasets/")
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return Source{}, fmt.Errorf("data source %q: want hf://OWNER/NAME[@REVISION][/GLOB]", spec)
	}
	name, rev, hasRev := strings.Cut(parts[1], "@")
	revision := "main"
	if hasRev {
		r, err := url.PathUnescape(rev)
		if err != nil || r == "" {
			return Source{}, fmt.Errorf("data source %q: bad revision %q", spec, rev)
		}
		revision = r
	}
	repo := parts[0] + "/" + name
	if err := hub.DatasetRepo(repo).Validate(); err != nil {
		return Source{}, fmt.Errorf("data source %q: %w", spec, err)
	}
	pattern := ""
	if len(parts) == 3 {
		pattern = parts[2]
		if _, err := path.Match(pattern, ""); err != nil || pattern == "" {
			return Source{}, fmt.Errorf("data source %q: bad glob %q", spec, pattern)
		}
	}
	return Hub(client, repo, revision, pattern), nil
}

// File is one file a loader read.
type File struct {
	// Name says where it was read: a local path, "embedded:mmlu/all/test-00000-of-00001.parquet"
	// or "hf://datasets/cais/mmlu@main/all/test-00000-of-00001.parquet".
	Name   string
	Size   int64
	SHA256 string // hex
}

// root is a folder tree a loader searches, with the prefix that turns its
// relative paths into File names.
type root struct {
	fsys   fs.FS
	prefix string
	desc   string // for errors: what was searched
	single string // set when a Dir source names a file: its path in fsys
}

// open returns the root of a source for a data set whose usual hub
// repository is defaultRepo; patterns are the hub files the loader needs.
func (s Source) open(defaultRepo string, patterns []string) (root, error) {
	switch s.kind {
	case sourceEmbedded:
		return root{fsys: EmbeddedFiles(), prefix: "embedded:", desc: "the embedded data"}, nil
	case sourceDir:
		fi, err := os.Stat(s.dir)
		if err != nil {
			return root{}, fmt.Errorf("data dir: %w", err)
		}
		if !fi.IsDir() {
			parent := filepath.Dir(s.dir)
			return root{fsys: os.DirFS(parent), prefix: parent + string(filepath.Separator),
				desc: s.dir, single: filepath.Base(s.dir)}, nil
		}
		prefix := s.dir
		if !strings.HasSuffix(prefix, string(filepath.Separator)) {
			prefix += string(filepath.Separator)
		}
		return root{fsys: os.DirFS(s.dir), prefix: prefix, desc: s.dir}, nil
	}
	repo := s.repo
	if repo == "" {
		repo = defaultRepo
	}
	if repo == "" {
		return root{}, fmt.Errorf("data source hf:// names no repository: use hf://OWNER/NAME[/GLOB]")
	}
	if s.pattern != "" {
		patterns = []string{s.pattern}
	}
	client := s.client
	if client == nil {
		var err error
		if client, err = hub.NewClient(); err != nil {
			return root{}, err
		}
	}
	ctx := s.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	r := hub.DatasetRepo(repo)
	dir, _, err := client.Snapshot(ctx, r, s.revision, patterns...)
	if err != nil {
		return root{}, err
	}
	return root{
		fsys:   os.DirFS(dir),
		prefix: "hf://" + r.String() + "@" + s.revision + "/",
		desc:   "hf://" + r.String() + "@" + s.revision,
	}, nil
}

// name returns the File name of a path in the root.
func (r root) name(p string) string {
	if strings.HasPrefix(r.prefix, "embedded:") || strings.HasPrefix(r.prefix, "hf://") {
		return r.prefix + p
	}
	return r.prefix + filepath.FromSlash(p)
}

// read returns a file's content and its record.
func (r root) read(p string) ([]byte, File, error) {
	b, err := fs.ReadFile(r.fsys, p)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, File{}, fmt.Errorf("%s: %w", r.name(p), err)
	}
	sum := sha256.Sum256(b)
	return b, File{Name: r.name(p), Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}, nil
}

// glob returns the sorted paths matching a pattern in the root.
func (r root) glob(pattern string) []string {
	m, _ := fs.Glob(r.fsys, pattern) // patterns are the loaders' own, always well formed
	return m
}

// firstLayout tries the candidate subfolders in order and returns the files
// of the first layout found in the first candidate that has one. Each
// layout maps a folder to a glob.
func (r root) firstLayout(candidates []string, layouts []layout) (files []string, l layout, ok bool) {
	if r.single != "" {
		return nil, layout{}, false
	}
	for _, c := range candidates {
		for _, l := range layouts {
			for _, g := range l.globs {
				files = append(files, r.glob(path.Join(c, g))...)
			}
			if len(files) > 0 {
				return dedupe(files), l, true
			}
		}
	}
	return nil, layout{}, false
}

// layout is one way a data set's split can be stored.
type layout struct {
	kind  string   // "parquet", "csv", "jsonl"
	globs []string // relative to a candidate folder
}

func dedupe(s []string) []string {
	out := s[:0]
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
