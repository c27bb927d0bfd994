// Package humaneval holds the HumanEval code-generation benchmark (Chen et
// al. 2021): the 164 problems, the program that checks a completion, the
// stop sequences that end a completion, functional-correctness evaluation
// in the sandbox and the unbiased pass@k estimator.
//
// The problems ship embedded (data/HumanEval.jsonl.gz from openai/human-eval,
// MIT licence; see data/SOURCE.md). [Load] also reads a user's copy as JSON
// Lines (optionally gzipped) or in the Hugging Face parquet layout of
// openai/openai_humaneval.
package humaneval

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// Problem is one HumanEval task. The field names are those of the dataset.
type Problem struct {
	TaskID            string `json:"task_id" parquet:"task_id,optional"`
	Prompt            string `json:"prompt" parquet:"prompt,optional"`
	CanonicalSolution string `json:"canonical_solution" parquet:"canonical_solution,optional"`
	Test              string `json:"test" parquet:"test,optional"`
	EntryPoint        string `json:"entry_point" parquet:"entry_point,optional"`
}

//go:embed data/HumanEval.jsonl.gz
var embedded []byte

// DefaultName names the shipped dataset in errors and reports.
const DefaultName = "HumanEval.jsonl.gz (embedded)"

// Default returns the 164 shipped problems in dataset order.
func Default() ([]Problem, error) {
	return readJSONL(bytes.NewReader(embedded), DefaultName, true)
}

// Load reads problems from path: a JSON Lines file (.jsonl, or gzipped
// .jsonl.gz/.gz), a parquet file, or a directory in the Hugging Face layout
// of openai/openai_humaneval (openai_humaneval/test-*.parquet, or
// test-*.parquet directly inside it). Every problem must have all five
// fields and a unique task_id.
func Load(path string) ([]Problem, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load humaneval: %w", err)
	}
	if fi.IsDir() {
		return loadParquetDir(path)
	}
	switch {
	case strings.HasSuffix(path, ".parquet"):
		return loadParquet([]string{path})
	case strings.HasSuffix(path, ".gz"):
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("load humaneval: %w", err)
		}
		defer f.Close()
		return readJSONL(f, path, true)
	default:
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("load humaneval: %w", err)
		}
		defer f.Close()
		return readJSONL(f, path, false)
	}
}

// ReadJSONL reads problems from JSON Lines, one problem per line; name is
// used in errors. Blank lines are skipped.
func ReadJSONL(r io.Reader, name string) ([]Problem, error) {
	return readJSONL(r, name, false)
}

func readJSONL(r io.Reader, name string, gzipped bool) ([]Problem, error) {
	if gzipped {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		defer zr.Close()
		r = zr
	}
	var problems []Problem
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 16<<20)
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var p Problem
		if err := json.Unmarshal(text, &p); err != nil {
			return nil, fmt.Errorf("read %s: line %d: %w", name, line, err)
		}
		problems = append(problems, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if err := validate(problems, name); err != nil {
		return nil, err
	}
	return problems, nil
}

func loadParquetDir(dir string) ([]Problem, error) {
	for _, pattern := range []string{"openai_humaneval/test-*.parquet", "test-*.parquet"} {
		files, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return nil, fmt.Errorf("load humaneval: %w", err)
		}
		if len(files) > 0 {
			sort.Strings(files) // shards in order: test-00000-of-00002, test-00001-of-00002
			return loadParquet(files)
		}
	}
	return nil, fmt.Errorf("load humaneval: %s: no openai_humaneval/test-*.parquet or test-*.parquet", dir)
}

// parquetColumns must all be present; a file lacking one would otherwise
// read as empty strings.
var parquetColumns = []string{"task_id", "prompt", "canonical_solution", "test", "entry_point"}

func loadParquet(files []string) ([]Problem, error) {
	var problems []Problem
	for _, path := range files {
		rows, err := readParquet(path)
		if err != nil {
			return nil, fmt.Errorf("load humaneval: %s: %w", path, err)
		}
		problems = append(problems, rows...)
	}
	name := files[0]
	if len(files) > 1 {
		name = filepath.Dir(files[0])
	}
	if err := validate(problems, name); err != nil {
		return nil, err
	}
	return problems, nil
}

func readParquet(path string) ([]Problem, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	pf, err := parquet.OpenFile(f, fi.Size())
	if err != nil {
		return nil, err
	}
	for _, col := range parquetColumns {
		if _, ok := pf.Schema().Lookup(col); !ok {
			return nil, fmt.Errorf("no column %q", col)
		}
	}
	rows := make([]Problem, pf.NumRows())
	reader := parquet.NewGenericReader[Problem](pf)
	defer reader.Close()
	n, err := reader.Read(rows)
	if err != nil && err != io.EOF {
		return nil, err
	}
	if int64(n) != pf.NumRows() {
		return nil, fmt.Errorf("read %d of %d rows", n, pf.NumRows())
	}
	return rows, nil
}

// validate checks that every problem is complete and task ids are unique.
func validate(problems []Problem, name string) error {
	if len(problems) == 0 {
		return fmt.Errorf("read %s: no problems", name)
	}
	seen := make(map[string]bool, len(problems))
	for i, p := range problems {
		for _, f := range []struct{ field, value string }{
			{"task_id", p.TaskID}, {"prompt", p.Prompt}, {"test", p.Test}, {"entry_point", p.EntryPoint},
		} {
			if f.value == "" {
				return fmt.Errorf("read %s: problem %d (%q): field %s is empty", name, i, p.TaskID, f.field)
			}
		}
		if seen[p.TaskID] {
			return fmt.Errorf("read %s: problem %d: duplicate task_id %q", name, i, p.TaskID)
		}
		seen[p.TaskID] = true
	}
	return nil
}

// Program returns the program that checks completion, built exactly as
// openai/human-eval does: the prompt, the completion, the test code that
// defines check, and a call of check on the entry point.
func Program(p Problem, completion string) string {
	return p.Prompt + completion + "\n" + p.Test + "\n" + "check(" + p.EntryPoint + ")"
}

// CodexStopSequences end a completion in openai/human-eval's Codex setup and
// in lm-evaluation-harness: a new top-level class, function, comment, if or
// print means the function body is over.
var CodexStopSequences = []string{"\nclass", "\ndef", "\n#", "\nif", "\nprint"}

// StopSequences are the Codex stops plus those bigcode-evaluation-harness
// adds: a decorator, the end of a Markdown code block and a file separator
// token.
var StopSequences = append(append([]string(nil), CodexStopSequences...), "\n@", "\n```", "<file_sep>")

// Truncate cuts completion at the earliest of StopSequences, as
// bigcode-evaluation-harness post-processes generations.
func Truncate(completion string) string {
	return TruncateAt(completion, StopSequences)
}

// TruncateAt cuts s at the earliest occurrence of any of stops.
func TruncateAt(s string, stops []string) string {
	cut := len(s)
	for _, stop := range stops {
		if stop == "" {
			continue
		}
		if i := strings.Index(s, stop); i >= 0 && i < cut {
			cut = i
		}
	}
	return s[:cut]
}
