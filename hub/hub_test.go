package hub

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sambaeval/sambaeval/hub/hubtest"
)

// payload returns n bytes of varied content.
func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// newTestClient returns a client of srv with a fresh cache.
func newTestClient(t *testing.T, srv *hubtest.Server) *Client {
	t.Helper()
	return &Client{Endpoint: srv.URL, CacheDir: t.TempDir()}
}

func count(reqs []hubtest.Request, server, method string) int {
	n := 0
	for _, r := range reqs {
		if r.Server == server && r.Method == method {
			n++
		}
	}
	return n
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDownload(t *testing.T) {
	srv := hubtest.NewServer()
	defer srv.Close()
	cfg := []byte(`{"d_model": 64}`)
	weights := payload(3<<20+17, 1)
	parquet := payload(5000, 2)
	srv.AddFile("model", "owner/tiny", "main", "config.json", cfg)
	srv.AddLFSFile("model", "owner/tiny", "main", "model.safetensors", weights)
	srv.AddLFSFile("dataset", "cais/mmlu", "main", "all/test-00000-of-00001.parquet", parquet)
	srv.AddFile("model", "gpt2", "main", "config.json", cfg)

	tests := []struct {
		repo     Repo
		file     string
		want     []byte
		cdn      bool
		cacheRel string
	}{
		{ModelRepo("owner/tiny"), "config.json", cfg, false, "hub/models--owner--tiny/main/config.json"},
		{ModelRepo("owner/tiny"), "model.safetensors", weights, true, "hub/models--owner--tiny/main/model.safetensors"},
		{DatasetRepo("cais/mmlu"), "all/test-00000-of-00001.parquet", parquet, true,
			"hub/datasets--cais--mmlu/main/all/test-00000-of-00001.parquet"},
		{ModelRepo("gpt2"), "config.json", cfg, false, "hub/models--gpt2/main/config.json"},
	}
	for _, tt := range tests {
		t.Run(tt.repo.String()+"/"+tt.file, func(t *testing.T) {
			c := newTestClient(t, srv)
			srv.ResetRequests()
			got, err := c.Download(context.Background(), tt.repo, "main", tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(c.CacheDir, filepath.FromSlash(tt.cacheRel)); got != want {
				t.Errorf("path %s, want %s", got, want)
			}
			if !bytes.Equal(readFile(t, got), tt.want) {
				t.Errorf("content differs")
			}
			reqs := srv.Requests()
			if n := count(reqs, "cdn", "GET"); (n == 1) != tt.cdn {
				t.Errorf("%d CDN GETs, want CDN use %v: %+v", n, tt.cdn, reqs)
			}
			// Cached now: a second call only asks for the metadata.
			srv.ResetRequests()
			again, err := c.Download(context.Background(), tt.repo, "main", tt.file)
			if err != nil || again != got {
				t.Fatalf("second download: %q, %v", again, err)
			}
			reqs = srv.Requests()
			if len(reqs) != 1 || reqs[0].Method != "HEAD" {
				t.Errorf("second download made requests %+v, want one HEAD", reqs)
			}
		})
	}
}

func TestDownloadUpdatedFile(t *testing.T) {
	srv := hubtest.NewServer()
	defer srv.Close()
	c := newTestClient(t, srv)
	ctx := context.Background()
	for i, lfs := range []bool{false, true} {
		name := []string{"a.txt", "b.bin"}[i]
		v1, v2 := payload(1000, 1), payload(1000, 2) // same size, other content
		add := srv.AddFile
		if lfs {
			add = srv.AddLFSFile
		}
		add("model", "o/m", "main", name, v1)
		p, err := c.Download(ctx, ModelRepo("o/m"), "main", name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(readFile(t, p), v1) {
			t.Fatalf("%s: the first download is not the hub's content", name)
		}
		add("model", "o/m", "main", name, v2)
		if p, err = c.Download(ctx, ModelRepo("o/m"), "main", name); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(readFile(t, p), v2) {
			t.Errorf("%s: cached old content after the file changed on the hub", name)
		}
	}
}

func TestDownloadAdoptsMatchingCachedFile(t *testing.T) {
	srv := hubtest.NewServer()
	defer srv.Close()
	data := payload(4096, 3)
	srv.AddLFSFile("model", "o/m", "main", "w.bin", data)
	c := newTestClient(t, srv)
	local := filepath.Join(c.SnapshotDir(ModelRepo("o/m"), "main"), "w.bin")
	ctx := context.Background()

	// A file put in the cache by hand with the right content is kept.
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(local, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Download(ctx, ModelRepo("o/m"), "main", "w.bin"); err != nil {
		t.Fatal(err)
	}
	if n := count(srv.Requests(), "cdn", "GET"); n != 0 {
		t.Errorf("downloaded a file whose cached copy was right (%d GETs)", n)
	}

	// One with the wrong content (same size) is replaced.
	bad := bytes.Clone(data)
	bad[0] ^= 1
	if err := os.WriteFile(local, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(c.CacheDir, "hub", "models--o--m", ".meta"))
	if _, err := c.Download(ctx, ModelRepo("o/m"), "main", "w.bin"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, local), data) {
		t.Error("a wrong cached file was kept")
	}
}

func TestDownloadErrors(t *testing.T) {
	srv := hubtest.NewServer()
	defer srv.Close()
	srv.AddFile("model", "o/m", "main", "config.json", []byte("{}"))
	srv.AddFile("dataset", "o/private", "main", "data.jsonl", []byte("{}\n"))
	srv.SetToken("dataset", "o/private", "secret")

	tests := []struct {
		name    string
		repo    Repo
		rev     string
		file    string
		token   string
		want    []string // substrings of the error
		status  int
		wantErr bool
	}{
		{"missing file", ModelRepo("o/m"), "main", "nope.json", "", []string{"404", "EntryNotFound", "o/m@main/nope.json"}, 404, true},
		{"missing repo", ModelRepo("o/none"), "main", "config.json", "", []string{"404", "RepoNotFound"}, 404, true},
		{"missing revision", ModelRepo("o/m"), "v9", "config.json", "", []string{"404", "RevisionNotFound"}, 404, true},
		{"no token", DatasetRepo("o/private"), "main", "data.jsonl", "", []string{"401", "HF_TOKEN", "datasets/o/private"}, 401, true},
		{"wrong token", DatasetRepo("o/private"), "main", "data.jsonl", "wrong", []string{"401"}, 401, true},
		{"token", DatasetRepo("o/private"), "main", "data.jsonl", "secret", nil, 0, false},
		{"bad path", ModelRepo("o/m"), "main", "../etc/passwd", "", []string{"bad file path"}, 0, true},
		{"bad repo", ModelRepo("o/m/x"), "main", "config.json", "", []string{"want owner/name"}, 0, true},
		{"bad revision", ModelRepo("o/m"), "../main", "config.json", "", []string{"bad revision"}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, srv)
			c.Token = tt.token
			_, err := c.Download(context.Background(), tt.repo, tt.rev, tt.file)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				return
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error has several lines: %q", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			var se *StatusError
			if errors.As(err, &se) != (tt.status != 0) || (se != nil && se.StatusCode != tt.status) {
				t.Errorf("StatusError %+v, want status %d", se, tt.status)
			}
		})
	}
}

func TestTokenNotSentToCDN(t *testing.T) {
	srv := hubtest.NewServer()
	defer srv.Close()
	srv.AddLFSFile("model", "o/gated", "main", "w.bin", payload(100, 1))
	srv.SetToken("model", "o/gated", "tok")
	c := newTestClient(t, srv)
	c.Token = "tok"
	if _, err := c.Download(context.Background(), ModelRepo("o/gated"), "main", "w.bin"); err != nil {
		t.Fatal(err) // the fake CDN answers 400 to a request with a token
	}
	for _, r := range srv.Requests() {
		if want := map[string]string{"hub": "Bearer tok", "cdn": ""}[r.Server]; r.Authorization != want {
			t.Errorf("%s %s %s: Authorization %q, want %q", r.Server, r.Method, r.Path, r.Authorization, want)
		}
	}
}

func TestDownloadResumesTruncated(t *testing.T) {
	for _, lfs := range []bool{false, true} {
		t.Run(map[bool]string{false: "git", true: "lfs"}[lfs], func(t *testing.T) {
			srv := hubtest.NewServer()
			defer srv.Close()
			data := payload(1<<20+3, 4)
			if lfs {
				srv.AddLFSFile("model", "o/m", "main", "w.bin", data)
			} else {
				srv.AddFile("model", "o/m", "main", "w.bin", data)
			}
			ctx := context.Background()

			// Within one call: the first GET breaks off half way, the
			// second asks for the rest.
			srv.Truncate("model", "o/m", "main", "w.bin", 1)
			c := newTestClient(t, srv)
			p, err := c.Download(ctx, ModelRepo("o/m"), "main", "w.bin")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(readFile(t, p), data) {
				t.Fatal("content differs after resuming")
			}
			content := map[bool]string{false: "hub", true: "cdn"}[lfs] // the server sending the bytes
			var ranges []string
			for _, r := range srv.Requests() {
				if r.Method == "GET" && r.Server == content {
					ranges = append(ranges, r.Range)
				}
			}
			if want := []string{"", "bytes=524289-"}; strings.Join(ranges, ",") != strings.Join(want, ",") {
				t.Errorf("GET ranges %q, want %q", ranges, want)
			}

			// Across calls: a client that gives up leaves the part file,
			// and no file in the snapshot; the next call resumes it.
			c = newTestClient(t, srv)
			c.MaxAttempts = 1
			srv.Truncate("model", "o/m", "main", "w.bin", 1)
			if _, err := c.Download(ctx, ModelRepo("o/m"), "main", "w.bin"); err == nil ||
				!strings.Contains(err.Error(), "gave up after 1 attempts") {
				t.Fatalf("err = %v, want to give up", err)
			}
			local := filepath.Join(c.SnapshotDir(ModelRepo("o/m"), "main"), "w.bin")
			if _, err := os.Stat(local); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a truncated download reached the snapshot: %v", err)
			}
			srv.ResetRequests()
			if _, err := c.Download(ctx, ModelRepo("o/m"), "main", "w.bin"); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(readFile(t, local), data) {
				t.Fatal("content differs after resuming in a second call")
			}
			for _, r := range srv.Requests() {
				if r.Method == "GET" && r.Server == content && r.Range != "bytes=524289-" {
					t.Errorf("second call GET with Range %q, want the rest", r.Range)
				}
			}
		})
	}
}

func TestDownloadGivesUp(t *testing.T) {
	srv := hubtest.NewServer()
	defer srv.Close()
	srv.AddLFSFile("model", "o/m", "main", "w.bin", payload(1000, 5))
	srv.Truncate("model", "o/m", "main", "w.bin", 10)
	c := newTestClient(t, srv)
	_, err := c.Download(context.Background(), ModelRepo("o/m"), "main", "w.bin")
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Fatalf("err = %v, want to give up after 3 attempts", err)
	}
	if n := count(srv.Requests(), "cdn", "GET"); n != 3 {
		t.Errorf("%d GETs, want 3", n)
	}
}

func TestDownloadRetriesServerError(t *testing.T) {
	srv := hubtest.NewServer()
	defer srv.Close()
	data := payload(1000, 6)
	srv.AddFile("model", "o/m", "main", "f.bin", data)
	srv.Fail("model", "o/m", "main", "f.bin", http.StatusServiceUnavailable, 2)
	c := newTestClient(t, srv)
	p, err := c.Download(context.Background(), ModelRepo("o/m"), "main", "f.bin")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, p), data) {
		t.Error("content differs")
	}
	srv.Fail("model", "o/m", "main", "f.bin", http.StatusServiceUnavailable, 5)
	os.RemoveAll(c.CacheDir)
	if _, err := c.Download(context.Background(), ModelRepo("o/m"), "main", "f.bin"); err == nil ||
		!strings.Contains(err.Error(), "503") {
		t.Errorf("err = %v, want a 503 after the retries", err)
	}
}

func TestDownloadVerifiesChecksum(t *testing.T) {
	srv := hubtest.NewServer()
	defer srv.Close()
	data := payload(200000, 7)
	srv.AddLFSFile("model", "o/m", "main", "w.bin", data)
	srv.AddFile("model", "o/m", "main", "g.bin", data)
	ctx := context.Background()

	for _, name := range []string{"w.bin", "g.bin"} {
		// A fresh download with the wrong content fails and leaves nothing.
		srv.Corrupt("model", "o/m", "main", name, 1)
		c := newTestClient(t, srv)
		_, err := c.Download(ctx, ModelRepo("o/m"), "main", name)
		if err == nil || !strings.Contains(err.Error(), "checksum") {
			t.Fatalf("%s: err = %v, want a checksum error", name, err)
		}
		local := filepath.Join(c.SnapshotDir(ModelRepo("o/m"), "main"), name)
		if _, err := os.Stat(local); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: corrupt download reached the snapshot", name)
		}
	}

	// A resumed download that turns out wrong starts over.
	srv.Truncate("model", "o/m", "main", "w.bin", 1)
	srv.Corrupt("model", "o/m", "main", "w.bin", 1)
	c := newTestClient(t, srv)
	srv.ResetRequests()
	p, err := c.Download(ctx, ModelRepo("o/m"), "main", "w.bin")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, p), data) {
		t.Error("content differs")
	}
	var ranges []string
	for _, r := range srv.Requests() {
		if r.Server == "cdn" {
			ranges = append(ranges, r.Range)
		}
	}
	if got, want := strings.Join(ranges, ","), ",bytes=100000-,"; got != want {
		t.Errorf("CDN ranges %q, want %q (truncated, resumed but corrupt, restarted)", got, want)
	}
}

func TestProgress(t *testing.T) {
	srv := hubtest.NewServer()
	defer srv.Close()
	data := payload(3<<20+5, 8)
	srv.AddLFSFile("model", "o/m", "main", "w.bin", data)
	c := newTestClient(t, srv)
	var calls [][2]int64
	c.Progress = func(path string, done, total int64) {
		if path != "w.bin" {
			t.Errorf("progress for %q", path)
		}
		calls = append(calls, [2]int64{done, total})
	}
	if _, err := c.Download(context.Background(), ModelRepo("o/m"), "main", "w.bin"); err != nil {
		t.Fatal(err)
	}
	if len(calls) < 3 {
		t.Fatalf("progress calls %v, want a start, some chunks and an end", calls)
	}
	if calls[0][0] != 0 {
		t.Errorf("first call %v, want done 0", calls[0])
	}
	for i, cl := range calls {
		if cl[1] != int64(len(data)) {
			t.Errorf("call %d total %d, want %d", i, cl[1], len(data))
		}
		if i > 0 && cl[0] < calls[i-1][0] {
			t.Errorf("progress went back: %v", calls)
		}
	}
	if last := calls[len(calls)-1]; last[0] != int64(len(data)) {
		t.Errorf("last call %v, want done == total", last)
	}
}

func TestOffline(t *testing.T) {
	srv := hubtest.NewServer()
	defer srv.Close()
	srv.AddFile("dataset", "o/d", "main", "main/test-00000-of-00001.parquet", []byte("x"))
	srv.AddFile("dataset", "o/d", "main", "README.md", []byte("y"))
	c := newTestClient(t, srv)
	ctx := context.Background()
	if _, _, err := c.Snapshot(ctx, DatasetRepo("o/d"), "main", "main/*.parquet"); err != nil {
		t.Fatal(err)
	}
	srv.ResetRequests()
	c.Offline = true
	dir, files, err := c.Snapshot(ctx, DatasetRepo("o/d"), "main", "*.parquet")
	if err != nil {
		t.Fatal(err)
	}
	if dir != c.SnapshotDir(DatasetRepo("o/d"), "main") || strings.Join(files, ",") != "main/test-00000-of-00001.parquet" {
		t.Errorf("offline snapshot %s %v", dir, files)
	}
	if _, err := c.Download(ctx, DatasetRepo("o/d"), "main", "main/test-00000-of-00001.parquet"); err != nil {
		t.Error(err)
	}
	for _, call := range []func() error{
		func() error { _, err := c.Download(ctx, DatasetRepo("o/d"), "main", "README.md"); return err },
		func() error { _, _, err := c.Snapshot(ctx, DatasetRepo("o/d"), "main", "*.md"); return err },
		func() error { _, _, err := c.Snapshot(ctx, DatasetRepo("o/other"), "main"); return err },
		func() error { _, err := c.ListFiles(ctx, DatasetRepo("o/d"), "main"); return err },
	} {
		err := call()
		if !errors.Is(err, ErrOffline) || !strings.Contains(err.Error(), "HF_HUB_OFFLINE=1") {
			t.Errorf("err = %v, want ErrOffline", err)
		}
	}
	if reqs := srv.Requests(); len(reqs) != 0 {
		t.Errorf("offline client made requests: %+v", reqs)
	}
}

func TestUnreachableHubUsesCache(t *testing.T) {
	srv := hubtest.NewServer()
	srv.AddLFSFile("model", "o/m", "main", "w.bin", payload(100, 9))
	c := newTestClient(t, srv)
	ctx := context.Background()
	if _, _, err := c.Snapshot(ctx, ModelRepo("o/m"), "main"); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if _, files, err := c.Snapshot(ctx, ModelRepo("o/m"), "main", "*.bin"); err != nil || len(files) != 1 {
		t.Errorf("snapshot with the hub down: %v, %v", files, err)
	}
	if _, err := c.Download(ctx, ModelRepo("o/m"), "main", "w.bin"); err != nil {
		t.Errorf("download with the hub down: %v", err)
	}
	if _, err := c.Download(ctx, ModelRepo("o/m"), "main", "other.bin"); err == nil {
		t.Error("download of an uncached file with the hub down: no error")
	}
	if _, _, err := c.Snapshot(ctx, ModelRepo("o/m"), "main", "*.json"); err == nil {
		t.Error("snapshot of uncached files with the hub down: no error")
	}
}

func TestListFilesAndSnapshot(t *testing.T) {
	srv := hubtest.NewServer()
	defer srv.Close()
	srv.PageSize = 2
	files := map[string][]byte{
		"README.md":                                    []byte("# mmlu"),
		"all/dev-00000-of-00001.parquet":               payload(10, 1),
		"all/test-00000-of-00001.parquet":              payload(20, 2),
		"all/validation-00000-of-00001.parquet":        payload(30, 3),
		"abstract_algebra/test-00000-of-00001.parquet": payload(40, 4),
	}
	for p, b := range files {
		if strings.HasSuffix(p, ".parquet") {
			srv.AddLFSFile("dataset", "cais/mmlu", "main", p, b)
		} else {
			srv.AddFile("dataset", "cais/mmlu", "main", p, b)
		}
	}
	c := newTestClient(t, srv)
	ctx := context.Background()
	list, err := c.ListFiles(ctx, DatasetRepo("cais/mmlu"), "main")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(files) {
		t.Fatalf("listed %d files, want %d: %+v", len(list), len(files), list)
	}
	for _, f := range list {
		b := files[f.Path]
		if f.Size != int64(len(b)) {
			t.Errorf("%s: size %d, want %d", f.Path, f.Size, len(b))
		}
		if lfs := strings.HasSuffix(f.Path, ".parquet"); lfs != (f.SHA256 != "") {
			t.Errorf("%s: SHA256 %q", f.Path, f.SHA256)
		}
		if f.SHA256 == "" && f.BlobID != hubtest.GitBlobSHA1(b) {
			t.Errorf("%s: blob id %s", f.Path, f.BlobID)
		}
	}

	dir, got, err := c.Snapshot(ctx, DatasetRepo("cais/mmlu"), "main", "all/test-*.parquet", "all/dev-*.parquet")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "all/dev-00000-of-00001.parquet,all/test-00000-of-00001.parquet" {
		t.Errorf("snapshot files %v", got)
	}
	for _, p := range got {
		if !bytes.Equal(readFile(t, filepath.Join(dir, filepath.FromSlash(p))), files[p]) {
			t.Errorf("%s: content differs", p)
		}
	}
	if _, _, err := c.Snapshot(ctx, DatasetRepo("cais/mmlu"), "main", "*.safetensors"); err == nil ||
		!strings.Contains(err.Error(), "no file matches *.safetensors") {
		t.Errorf("err = %v, want no match", err)
	}
	if _, _, err := c.Snapshot(ctx, DatasetRepo("cais/mmlu"), "main", "[x"); err == nil ||
		!strings.Contains(err.Error(), "bad pattern") {
		t.Errorf("err = %v, want a bad pattern", err)
	}
}

func TestRevisionWithSlash(t *testing.T) {
	srv := hubtest.NewServer()
	defer srv.Close()
	srv.AddFile("model", "o/m", "refs/pr/1", "dir/a b.txt", []byte("pr"))
	c := newTestClient(t, srv)
	dir, files, err := c.Snapshot(context.Background(), ModelRepo("o/m"), "refs/pr/1")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(c.CacheDir, "hub", "models--o--m", "refs%2Fpr%2F1"); dir != want {
		t.Errorf("snapshot dir %s, want %s", dir, want)
	}
	if len(files) != 1 || string(readFile(t, filepath.Join(dir, "dir", "a b.txt"))) != "pr" {
		t.Errorf("files %v", files)
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*.safetensors", "model.safetensors", true},
		{"*.safetensors", "sub/model-00001-of-00002.safetensors", true},
		{"*.safetensors", "model.safetensors.index.json", false},
		{"all/test-*.parquet", "all/test-00000-of-00001.parquet", true},
		{"all/test-*.parquet", "all/validation-00000-of-00001.parquet", false},
		{"all/test-*.parquet", "x/all/test-0.parquet", false},
		{"all/*", "all/a/b.parquet", false},
		{"config.json", "config.json", true},
		{"config.json", "sub/config.json", true},
		{"main/*.parquet", "main/train-00000-of-00001.parquet", true},
	}
	for _, tt := range tests {
		got, err := Match(tt.pattern, tt.name)
		if err != nil || got != tt.want {
			t.Errorf("Match(%q, %q) = %v, %v; want %v", tt.pattern, tt.name, got, err, tt.want)
		}
	}
}

func TestNewClientFromEnvironment(t *testing.T) {
	home := t.TempDir()
	tests := []struct {
		env                    map[string]string
		endpoint, token, cache string
		offline                bool
	}{
		{map[string]string{}, DefaultEndpoint, "", filepath.Join(home, ".cache", "sambaeval"), false},
		{map[string]string{"XDG_CACHE_HOME": "/xdg", "HF_HUB_OFFLINE": "1"}, DefaultEndpoint, "", "/xdg/sambaeval", true},
		{map[string]string{"XDG_CACHE_HOME": "/xdg", "SAMBAEVAL_CACHE": "/c", "HF_HUB_OFFLINE": "TRUE"}, DefaultEndpoint, "", "/c", true},
		{map[string]string{"HF_ENDPOINT": "http://mirror.test/", "HF_TOKEN": "hf_x\n", "HF_HUB_OFFLINE": "0"},
			"http://mirror.test", "hf_x", filepath.Join(home, ".cache", "sambaeval"), false},
	}
	for _, tt := range tests {
		for _, k := range []string{"HF_ENDPOINT", "HF_TOKEN", "HF_HUB_OFFLINE", "SAMBAEVAL_CACHE", "XDG_CACHE_HOME"} {
			t.Setenv(k, tt.env[k])
		}
		t.Setenv("HOME", home)
		c, err := NewClient()
		if err != nil {
			t.Fatal(err)
		}
		if c.Endpoint != tt.endpoint || c.Token != tt.token || c.CacheDir != tt.cache || c.Offline != tt.offline {
			t.Errorf("env %v: got endpoint %q token %q cache %q offline %v", tt.env, c.Endpoint, c.Token, c.CacheDir, c.Offline)
		}
	}
}

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		in                string
		start, end, total int64
		ok                bool
	}{
		{"bytes 0-99/100", 0, 99, 100, true},
		{"bytes 10-19/*", 10, 19, -1, true},
		{"bytes 10-9/100", 0, 0, 0, false},
		{"items 0-1/2", 0, 0, 0, false},
		{"bytes 0-1", 0, 0, 0, false},
	}
	for _, tt := range tests {
		s, e, n, err := parseContentRange(tt.in)
		if (err == nil) != tt.ok || (tt.ok && (s != tt.start || e != tt.end || n != tt.total)) {
			t.Errorf("parseContentRange(%q) = %d %d %d %v", tt.in, s, e, n, err)
		}
	}
}
