package datasets

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sambaeval/sambaeval/hub"
	"github.com/sambaeval/sambaeval/hub/hubtest"
)

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeHub serves cais/mmlu, openai/gsm8k and a books dataset made of the
// foreign fixtures, plus files the loaders must leave alone.
func fakeHub(t *testing.T) *hubtest.Server {
	t.Helper()
	srv := hubtest.NewServer()
	t.Cleanup(srv.Close)
	foreign := filepath.Join("testdata", "foreign")
	dev, err := fs.ReadFile(EmbeddedFiles(), "mmlu/all/dev-00000-of-00001.parquet")
	if err != nil {
		t.Fatal(err)
	}
	srv.AddFile("dataset", "cais/mmlu", "main", "README.md", []byte("# MMLU\n"))
	srv.AddLFSFile("dataset", "cais/mmlu", "main", "all/dev-00000-of-00001.parquet", dev)
	srv.AddLFSFile("dataset", "cais/mmlu", "main", "all/test-00000-of-00001.parquet",
		mustRead(t, filepath.Join(foreign, "mmlu", "all", "test-00000-of-00001.parquet")))
	srv.AddLFSFile("dataset", "cais/mmlu", "main", "all/validation-00000-of-00001.parquet",
		mustRead(t, filepath.Join(foreign, "mmlu", "all", "validation-00000-of-00001.parquet")))
	srv.AddLFSFile("dataset", "cais/mmlu", "main", "abstract_algebra/test-00000-of-00001.parquet", []byte("not needed"))
	for _, f := range []string{"test-00000-of-00001.parquet", "train-00000-of-00002.parquet", "train-00001-of-00002.parquet"} {
		srv.AddLFSFile("dataset", "openai/gsm8k", "main", "main/"+f, mustRead(t, filepath.Join(foreign, "gsm8k", "main", f)))
	}
	srv.AddLFSFile("dataset", "openai/gsm8k", "main", "socratic/test-00000-of-00001.parquet", []byte("not needed"))
	srv.AddLFSFile("dataset", "someone/books", "main", "data/test-00000-of-00001.parquet",
		mustRead(t, filepath.Join(foreign, "books", "data", "test-00000-of-00001.parquet")))
	srv.AddFile("dataset", "someone/books", "main", "README.md", []byte("# books\n"))
	return srv
}

func downloaded(srv *hubtest.Server) []string {
	var paths []string
	for _, r := range srv.Requests() {
		if r.Server == "hub" && r.Method == "GET" && strings.Contains(r.Path, "/resolve/") {
			paths = append(paths, r.Path[strings.Index(r.Path, "/resolve/main/")+len("/resolve/main/"):])
		}
	}
	return paths
}

func TestLoadFromHub(t *testing.T) {
	srv := fakeHub(t)
	client := &hub.Client{Endpoint: srv.URL, CacheDir: t.TempDir()}
	exp := loadForeignExpected(t)

	src, err := ParseSource("hf://cais/mmlu", client)
	if err != nil {
		t.Fatal(err)
	}
	items, files, err := LoadMMLU(src, MMLUTest)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != len(exp.MMLU) || items[2].Choices[3] != exp.MMLU[2].Choices[3] {
		t.Errorf("mmlu test from the hub: %+v", items)
	}
	wantFile := File{
		Name:   "hf://datasets/cais/mmlu@main/all/test-00000-of-00001.parquet",
		Size:   int64(len(mustRead(t, "testdata/foreign/mmlu/all/test-00000-of-00001.parquet"))),
		SHA256: sha256Hex(t, "testdata/foreign/mmlu/all/test-00000-of-00001.parquet"),
	}
	if !reflect.DeepEqual(files, []File{wantFile}) {
		t.Errorf("files %+v, want %+v", files, wantFile)
	}
	if got := downloaded(srv); !reflect.DeepEqual(got, []string{"all/test-00000-of-00001.parquet"}) {
		t.Errorf("downloaded %q, want only the test split", got)
	}

	// The dev split shipped in the binary, served by the hub, reads the same.
	hubDev, _, err := LoadMMLU(src, MMLUDev)
	if err != nil {
		t.Fatal(err)
	}
	embDev, _, err := LoadMMLU(Embedded(), MMLUDev)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(hubDev, embDev) {
		t.Error("dev split from the hub differs from the embedded one")
	}

	// hf:// alone picks each data set's usual repository.
	srv.ResetRequests()
	gsm, files, err := LoadGSM8K(Hub(client, "", "", ""), GSM8KTrain)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gsm, exp.GSM8K) || len(files) != 2 ||
		files[1].Name != "hf://datasets/openai/gsm8k@main/main/train-00001-of-00002.parquet" {
		t.Errorf("gsm8k train from the hub: %q from %+v", gsm, files)
	}
	if got := downloaded(srv); !reflect.DeepEqual(got, []string{"main/train-00000-of-00002.parquet", "main/train-00001-of-00002.parquet"}) {
		t.Errorf("downloaded %q", got)
	}

	// Offline, what is cached still loads; nothing else does.
	srv.ResetRequests()
	offline := &hub.Client{Endpoint: srv.URL, CacheDir: client.CacheDir, Offline: true}
	if _, _, err := LoadMMLU(Hub(offline, "cais/mmlu", "main", ""), MMLUTest); err != nil {
		t.Errorf("offline, cached split: %v", err)
	}
	_, _, err = LoadMMLU(Hub(offline, "cais/mmlu", "main", ""), MMLUValidation)
	if !errors.Is(err, hub.ErrOffline) || !strings.HasPrefix(err.Error(), "mmlu: hub: datasets/cais/mmlu@main: no cached file matches all/validation-*.parquet") {
		t.Errorf("offline, uncached split: %v", err)
	}
	if reqs := srv.Requests(); len(reqs) != 0 {
		t.Errorf("offline loads made requests %+v", reqs)
	}
}

func TestLoadFromHubWithGlob(t *testing.T) {
	srv := fakeHub(t)
	client := &hub.Client{Endpoint: srv.URL, CacheDir: t.TempDir()}
	src, err := ParseSource("hf://datasets/openai/gsm8k/main/*.parquet", client)
	if err != nil {
		t.Fatal(err)
	}
	src = src.WithContext(context.Background())
	if _, _, err := LoadGSM8K(src, GSM8KTest); err != nil {
		t.Fatal(err)
	}
	if got := downloaded(srv); len(got) != 3 {
		t.Errorf("downloaded %q, want the 3 files matching main/*.parquet", got)
	}

	books, err := ParseSource("hf://someone/books", client)
	if err != nil {
		t.Fatal(err)
	}
	texts, files, err := LoadTexts(books, TextOptions{NameColumn: "short_book_title"})
	if err != nil {
		t.Fatal(err)
	}
	exp := loadForeignExpected(t)
	if len(texts) != 2 || texts[0].Name != exp.Books[0].Title || texts[0].Text != exp.Books[0].Text {
		t.Errorf("books from the hub: %q", texts)
	}
	if len(files) != 1 || files[0].Name != "hf://datasets/someone/books@main/data/test-00000-of-00001.parquet" {
		t.Errorf("files %+v", files)
	}
}

func TestLoadFromHubErrors(t *testing.T) {
	srv := fakeHub(t)
	srv.AddFile("dataset", "someone/private", "main", "main/test-00000-of-00001.parquet", []byte("x"))
	srv.SetToken("dataset", "someone/private", "hf_secret")
	client := &hub.Client{Endpoint: srv.URL, CacheDir: t.TempDir()}
	tests := []struct {
		name string
		load func() error
		want string
	}{
		{"no repository for texts", texts(Hub(client, "", "", ""), TextOptions{}), "names no repository"},
		{"missing repository", mmlu(Hub(client, "cais/mmlu-typo", "", ""), MMLUTest), "404 Not Found (RepoNotFound)"},
		{"missing revision", mmlu(Hub(client, "cais/mmlu", "v9", ""), MMLUTest), "404 Not Found (RevisionNotFound)"},
		{"no matching file", gsm(Hub(client, "cais/mmlu", "", ""), GSM8KTest), "no file matches main/test-*.parquet"},
		{"private without token", gsm(Hub(client, "someone/private", "", ""), GSM8KTest), "401 Unauthorized (GatedRepo)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.load()
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %v, want one line with %q", err, tt.want)
			}
		})
	}
}
