package datasets

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// foreignExpected holds testdata/foreign/expected.json: the rows that
// gen_foreign_parquet.mjs wrote with arrow-rs.
type foreignExpected struct {
	MMLU []struct {
		Question string   `json:"question"`
		Subject  string   `json:"subject"`
		Choices  []string `json:"choices"`
		Answer   int      `json:"answer"`
	} `json:"mmlu"`
	GSM8K []GSM8KItem `json:"gsm8k"`
	Books []struct {
		Title string `json:"short_book_title"`
		Text  string `json:"text"`
	} `json:"books"`
}

func loadForeignExpected(t *testing.T) foreignExpected {
	t.Helper()
	b, err := os.ReadFile("testdata/foreign/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var e foreignExpected
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func fileNames(files []File) []string {
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	return names
}

// TestLoadForeignParquet reads Parquet files written by arrow-rs in the
// shapes of the hub's files.
func TestLoadForeignParquet(t *testing.T) {
	exp := loadForeignExpected(t)
	var wantMMLU []MMLUItem
	for _, r := range exp.MMLU {
		wantMMLU = append(wantMMLU, MMLUItem{r.Question, r.Subject, [4]string(r.Choices), r.Answer})
	}
	dir := filepath.Join("testdata", "foreign")
	for _, split := range []string{MMLUTest, MMLUValidation, "val"} {
		items, files, err := LoadMMLU(Dir(dir), split)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(items, wantMMLU) {
			t.Errorf("mmlu %s:\n got %+v\nwant %+v", split, items, wantMMLU)
		}
		hf := map[string]string{"val": "validation"}[split]
		if hf == "" {
			hf = split
		}
		want := filepath.Join(dir, "mmlu", "all", hf+"-00000-of-00001.parquet")
		if len(files) != 1 || files[0].Name != want || files[0].Size == 0 || len(files[0].SHA256) != 64 {
			t.Errorf("mmlu %s: files %+v, want %s", split, files, want)
		}
	}

	test, _, err := LoadGSM8K(Dir(dir), GSM8KTest)
	if err != nil {
		t.Fatal(err)
	}
	train, files, err := LoadGSM8K(Dir(dir), GSM8KTrain)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(test, exp.GSM8K) || !reflect.DeepEqual(train, exp.GSM8K) {
		t.Errorf("gsm8k: test %q train %q, want %q", test, train, exp.GSM8K)
	}
	if got := strings.Join(fileNames(files), ","); !strings.Contains(got, "train-00000-of-00002.parquet,") ||
		!strings.HasSuffix(got, "train-00001-of-00002.parquet") {
		t.Errorf("gsm8k train shards %s", got)
	}

	books := filepath.Join(dir, "books")
	texts, _, err := LoadTexts(Dir(books), TextOptions{NameColumn: "short_book_title"})
	if err != nil {
		t.Fatal(err)
	}
	var want []Text
	for _, b := range exp.Books {
		want = append(want, Text{b.Title, b.Text})
	}
	if !reflect.DeepEqual(texts, want) {
		t.Errorf("books: %q, want %q", texts, want)
	}
	// Without a name column, documents are named by file and row.
	texts, _, err = LoadTexts(Dir(filepath.Join(books, "data", "test-00000-of-00001.parquet")), TextOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(texts) != 2 || texts[1].Name != "test-00000-of-00001.parquet#1" || texts[1].Text != exp.Books[1].Text {
		t.Errorf("books from one file: %q", texts)
	}
}

func TestLoadMMLUCSV(t *testing.T) {
	want := []MMLUItem{
		{"Line one\nline two", "abstract_algebra", [4]string{"1", "2", "3", "4"}, 2},
		{" leading space ", "abstract_algebra", [4]string{"", "é", "中", "😀"}, 0},
		{"What is 2+2?", "astronomy", [4]string{"3", "4", "5", "6"}, 1},
		{"Which, with commas?", "astronomy", [4]string{"a, b", `c "quoted"`, "d", "multi\nline"}, 3},
		{`Bare "quote" in a field?`, "astronomy", [4]string{"x", "y", "z", "w"}, 0},
	}
	// The folder itself and its parent (which has mmlu/ below) both work.
	for _, dir := range []string{"testdata/csv/mmlu", "testdata/csv"} {
		items, files, err := LoadMMLU(Dir(dir), MMLUTest)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(items, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", dir, items, want)
		}
		wantFiles := []string{
			filepath.Join("testdata", "csv", "mmlu", "test", "abstract_algebra_test.csv"),
			filepath.Join("testdata", "csv", "mmlu", "test", "astronomy_test.csv"),
		}
		if got := fileNames(files); !reflect.DeepEqual(got, wantFiles) {
			t.Errorf("%s: files %q, want %q", dir, got, wantFiles)
		}
	}
	for split, q := range map[string]string{MMLUDev: "Dev question?", MMLUValidation: "Val question?", "val": "Val question?"} {
		items, _, err := LoadMMLU(Dir("testdata/csv"), split)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 1 || items[0].Question != q {
			t.Errorf("%s: %+v", split, items)
		}
	}
}

func TestLoadGSM8KJSONL(t *testing.T) {
	items, files, err := LoadGSM8K(Dir("testdata/jsonl"), GSM8KTest)
	if err != nil {
		t.Fatal(err)
	}
	want := []GSM8KItem{
		{"Janet\u2019s ducks?", "9 * 2 = <<9*2=18>>18\n#### 18"},
		{"Q2 é", "#### 5"},
	}
	if !reflect.DeepEqual(items, want) {
		t.Errorf("got %q, want %q", items, want)
	}
	if len(files) != 1 || files[0].Name != filepath.Join("testdata", "jsonl", "gsm8k", "test.jsonl") {
		t.Errorf("files %+v", files)
	}
	if files[0].SHA256 != sha256Hex(t, "testdata/jsonl/gsm8k/test.jsonl") {
		t.Errorf("sha256 %s", files[0].SHA256)
	}
}

func TestLoadTexts(t *testing.T) {
	texts, files, err := LoadTexts(Dir("testdata/texts"), TextOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Text{
		{"a", "\ufeffFirst book.\r\nEnd.\r\n"},
		{"one", "doc one"},
		{"two", "doc two\n"},
		{"sub/c.jsonl#0", "plain"},
	}
	if !reflect.DeepEqual(texts, want) {
		t.Errorf("got %q, want %q", texts, want)
	}
	if got := len(files); got != 3 {
		t.Errorf("read %d files (%q), want 3: hidden folders and other extensions are skipped", got, fileNames(files))
	}

	texts, _, err = LoadTexts(Dir("testdata/texts/sub/c.jsonl"), TextOptions{Column: "content"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Text{{"c.jsonl#0", "no name here"}}; !reflect.DeepEqual(texts, want) {
		t.Errorf("column option: %q, want %q", texts, want)
	}
	texts, _, err = LoadTexts(Dir("testdata/texts/a.txt"), TextOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(texts) != 1 || texts[0].Name != "a" || !strings.HasPrefix(texts[0].Text, "\ufeff") {
		t.Errorf("one .txt file: %q", texts)
	}
}

func sha256Hex(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// writeParquet writes rows to dir/rel with parquet-go and returns dir.
func writeParquet[T any](t *testing.T, dir, rel string, rows []T) string {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadErrors(t *testing.T) {
	type noSubject struct {
		Question string   `parquet:"question"`
		Choices  []string `parquet:"choices,list"`
		Answer   int64    `parquet:"answer"`
	}
	type flatChoices struct {
		Question string `parquet:"question"`
		Subject  string `parquet:"subject"`
		Choices  string `parquet:"choices"`
		Answer   int64  `parquet:"answer"`
	}
	type row struct {
		Question string   `parquet:"question"`
		Subject  string   `parquet:"subject"`
		Choices  []string `parquet:"choices,list"`
		Answer   int64    `parquet:"answer"`
	}
	type nullable struct {
		Text *string `parquet:"text,optional"`
	}
	type stringAnswer struct {
		Question string `parquet:"question"`
		Answer   int64  `parquet:"answer"`
	}
	abc := []string{"a", "b", "c", "d"}
	hello := "hello"
	tmp := func() string { return t.TempDir() }
	garbage := tmp()
	os.MkdirAll(filepath.Join(garbage, "all"), 0o755)
	os.WriteFile(filepath.Join(garbage, "all", "test-00000-of-00001.parquet"), []byte("PAR1 not really"), 0o644)

	tests := []struct {
		name string
		load func() error
		want []string
	}{
		{"missing folder", mmlu(Dir("testdata/nope"), MMLUTest), []string{"mmlu: data dir: stat testdata/nope: no such file or directory"}},
		{"no layout", mmlu(Dir("testdata/jsonl"), MMLUTest), []string{"mmlu: no test split in testdata/jsonl", "all/test-*.parquet", "test/*_test.csv"}},
		{"unknown split", mmlu(Embedded(), "train"), []string{`mmlu: unknown split "train"`}},
		{"wrong field count", mmlu(Dir("testdata/bad/fields"), MMLUTest), []string{filepath.Join("testdata", "bad", "fields", "test", "x_test.csv") + ": line 2: wrong number of fields"}},
		{"bad answer letter", mmlu(Dir("testdata/bad/letter"), MMLUTest), []string{"x_test.csv: line 2: answer \"E\", want A, B, C or D"}},
		{"empty csv", mmlu(Dir("testdata/bad/empty"), MMLUTest), []string{"x_test.csv: no rows"}},
		{"not parquet", mmlu(Dir(garbage), MMLUTest), []string{"test-00000-of-00001.parquet: not a Parquet file"}},
		{"missing column", mmlu(Dir(writeParquet(t, tmp(), "all/test-0.parquet", []noSubject{{"q", abc, 0}})), MMLUTest),
			[]string{`test-0.parquet: no column "subject" (columns: question, choices, answer)`}},
		{"flat choices", mmlu(Dir(writeParquet(t, tmp(), "all/test-0.parquet", []flatChoices{{"q", "s", "abcd", 0}})), MMLUTest),
			[]string{`column "choices" is BYTE_ARRAY, want a list of strings`}},
		{"three choices", mmlu(Dir(writeParquet(t, tmp(), "all/test-0.parquet", []row{{"q", "s", abc, 0}, {"q", "s", abc[:3], 0}})), MMLUTest),
			[]string{"test-0.parquet: row 1: 3 choices, want 4"}},
		{"answer out of range", mmlu(Dir(writeParquet(t, tmp(), "all/test-0.parquet", []row{{"q", "s", abc, 4}})), MMLUTest),
			[]string{"row 0: answer 4, want 0-3"}},
		{"empty parquet", mmlu(Dir(writeParquet(t, tmp(), "all/test-0.parquet", []row{})), MMLUTest),
			[]string{"mmlu: test split in", "is empty"}},
		{"gsm8k bad json", gsm(Dir("testdata/bad/json"), GSM8KTest), []string{filepath.Join("gsm8k", "test.jsonl") + ": line 2: unexpected end of JSON input"}},
		{"gsm8k missing field", gsm(Dir("testdata/bad/nofield"), GSM8KTest), []string{`test.jsonl: line 1: no field "answer"`}},
		{"gsm8k not a string", gsm(Dir("testdata/bad/notstring"), GSM8KTest), []string{`test.jsonl: line 1: field "answer" is not a string`}},
		{"gsm8k wrong type", gsm(Dir(writeParquet(t, tmp(), "main/test-0.parquet", []stringAnswer{{"q", 1}})), GSM8KTest),
			[]string{`test-0.parquet: column "answer" is INT64, want string`}},
		{"gsm8k split", gsm(Embedded(), "validation"), []string{`gsm8k: unknown split "validation"`}},
		{"texts empty folder", texts(Dir(tmp()), TextOptions{}), []string{"texts: no .txt, .jsonl or .parquet files in"}},
		{"texts no text", texts(Dir("testdata/empty_texts"), TextOptions{}), []string{"texts: testdata/empty_texts holds no text"}},
		{"texts wrong column", texts(Dir("testdata/texts/sub"), TextOptions{Column: "body"}), []string{`b.jsonl: line 1: no field "body"`}},
		{"texts null", texts(Dir(writeParquet(t, tmp(), "x.parquet", []nullable{{&hello}, {nil}})), TextOptions{}),
			[]string{`x.parquet: column "text": row 1 is null`}},
		{"texts other file", texts(Dir("testdata/texts/readme.md"), TextOptions{}), []string{"want a folder or a .txt, .jsonl or .parquet file"}},
		{"texts parquet column", texts(Dir("testdata/foreign/books"), TextOptions{Column: "body"}),
			[]string{`no column "body" (columns: short_book_title, publication_date, text)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.load()
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error of several lines: %q", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}

func mmlu(src Source, split string) func() error {
	return func() error { _, _, err := LoadMMLU(src, split); return err }
}

func gsm(src Source, split string) func() error {
	return func() error { _, _, err := LoadGSM8K(src, split); return err }
}

func texts(src Source, opts TextOptions) func() error {
	return func() error { _, _, err := LoadTexts(src, opts); return err }
}

func TestParseSource(t *testing.T) {
	tests := []struct {
		spec                    string
		kind                    sourceKind
		dir, repo, rev, pattern string
		str                     string
		err                     string
	}{
		{spec: "", kind: sourceEmbedded, str: "embedded"},
		{spec: "data/mmlu", kind: sourceDir, dir: "data/mmlu", str: "data/mmlu"},
		{spec: "hf://", kind: sourceHub, rev: "main", str: "hf://"},
		{spec: "hf://cais/mmlu", kind: sourceHub, repo: "cais/mmlu", rev: "main", str: "hf://cais/mmlu"},
		{spec: "hf://datasets/cais/mmlu", kind: sourceHub, repo: "cais/mmlu", rev: "main", str: "hf://cais/mmlu"},
		{spec: "hf://openai/gsm8k@v1.0", kind: sourceHub, repo: "openai/gsm8k", rev: "v1.0", str: "hf://openai/gsm8k@v1.0"},
		{spec: "hf://cais/mmlu@refs%2Fconvert%2Fparquet/all/test-*.parquet", kind: sourceHub, repo: "cais/mmlu",
			rev: "refs/convert/parquet", pattern: "all/test-*.parquet", str: "hf://cais/mmlu@refs%2Fconvert%2Fparquet/all/test-*.parquet"},
		{spec: "hf://emozilla/pg19-test/data/*.parquet", kind: sourceHub, repo: "emozilla/pg19-test", rev: "main",
			pattern: "data/*.parquet", str: "hf://emozilla/pg19-test/data/*.parquet"},
		{spec: "hf://cais", err: "want hf://OWNER/NAME"},
		{spec: "hf://cais/", err: "want hf://OWNER/NAME"},
		{spec: "hf://cais/mm lu", err: "want owner/name"},
		{spec: "hf://cais/mmlu@", err: "bad revision"},
		{spec: "hf://cais/mmlu/[x", err: "bad glob"},
	}
	for _, tt := range tests {
		s, err := ParseSource(tt.spec, nil)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSource(%q) error %v, want %q", tt.spec, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseSource(%q): %v", tt.spec, err)
			continue
		}
		if s.kind != tt.kind || s.dir != tt.dir || s.repo != tt.repo || s.revision != tt.rev || s.pattern != tt.pattern {
			t.Errorf("ParseSource(%q) = %+v", tt.spec, s)
		}
		if s.String() != tt.str {
			t.Errorf("ParseSource(%q).String() = %q, want %q", tt.spec, s.String(), tt.str)
		}
	}
}
