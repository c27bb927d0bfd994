package results

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteReport(t *testing.T) {
	dir := t.TempDir()
	r := readBase(t)
	r.Tasks["gsm8k_cot"] = &TaskResult{Task: "gsm8k_cot", Version: "3", NumFewshot: 8, Samples: 2,
		Metrics: []Metric{{Name: "exact_match", Filter: "strict-match", Value: 0.5, Stderr: 0.5, HigherIsBetter: true}}}
	r.Config.Limit = 2
	if err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"samples_mmlu.jsonl", "perplexity_curve.png", "gsm8k_cot_x.png", "passkey_heatmap.png", "notes.txt"} {
		os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644)
	}
	path, err := WriteReport(dir)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, "report.md") {
		t.Errorf("path %s", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	// The pieces, in this order.
	want := []string{
		"# Evaluation of samba-tiny",
		"- **checkpoint hash**: `sha256:0000000000000000000000000000000000000000000000000000000000000001`",
		"- **limit**: 2 documents per task (or subtask): not the full benchmark",
		"## Summary",
		"| gsm8k      | exact_match          | strict-match     | 5      | 0.3000       | 0.0126   | 1319    |",
		"## gsm8k\n",
		"## gsm8k_cot\n",
		"- version 3, 8-shot, 2 samples",
		"![gsm8k_cot_x](gsm8k_cot_x.png)",
		"## mmlu\n",
		"- samples: [samples_mmlu.jsonl](samples_mmlu.jsonl)",
		"### Groups",
		"| stem  | category | acc    | 0.5000 | 0.0090   | 3018    |",
		"## perplexity\n",
		"![perplexity_curve](perplexity_curve.png)",
		"## Figures",
		"![passkey_heatmap](passkey_heatmap.png)",
	}
	at := 0
	for _, w := range want {
		i := strings.Index(md[at:], w)
		if i < 0 {
			t.Fatalf("%q missing after byte %d of\n%s", w, at, md)
		}
		at += i + len(w)
	}
	if strings.Count(md, "gsm8k_cot_x.png") != 1 || strings.Contains(md, "notes.txt") {
		t.Errorf("figures misplaced:\n%s", md)
	}
	if _, err := WriteReport(filepath.Join(dir, "nonexistent")); err == nil {
		t.Error("no error for a missing directory")
	}
}
