package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sambaeval/sambaeval/reproduce"
	"github.com/sambaeval/sambaeval/results"
	"github.com/sambaeval/sambaeval/tasks"
)

// TestReproduceList checks `reproduce --list` against the paper's numbers
// (eval-protocols.md §7) and protocols.
func TestReproduceList(t *testing.T) {
	out, stderr, err := sambaeval(t, "reproduce", "--list")
	if err != nil {
		t.Fatal(err, stderr)
	}
	avail := func(task string) string {
		if _, err := tasks.Get(task); err != nil {
			return " [task not available in this build]"
		}
		return ""
	}
	for _, want := range []string{
		"samba-3.8b-base: Samba-3.8B base model: the benchmarks this harness has\n  source: ICLR 2025 Table 7 = arXiv v1 Table 1\n",
		"  run mmlu: sambaeval run mmlu --num-fewshot 5\n",
		"  run gsm8k: sambaeval run gsm8k --num-fewshot 5\n",
		"  run humaneval: sambaeval run humaneval --num-fewshot 0 --temperature 0.2 --top-p 0.95 --samples-per-task 1" + avail("humaneval") + "\n",
		"  cell MMLU: mmlu acc; paper 71.2\n",
		"  cell GSM8K (strict-match): gsm8k exact_match,strict-match; paper 69.6\n",
		"  cell HumanEval pass@1: humaneval pass@1; paper 54.9\n",
		"samba-3.8b-it: ",
		"  run gsm8k_cot: sambaeval run gsm8k_cot --num-fewshot 8\n",
		"  cell MMLU (mean of categories): mmlu acc_macro_categories; paper 71.9\n",
		"  cell GSM8K CoT (flexible-extract): gsm8k_cot exact_match,flexible-extract; paper 87.6\n",
		"  cell HumanEval pass@1: humaneval pass@1; paper 62.8\n",
		"slimpajama-ppl: ",
		"  paper data: SlimPajama validation (not shipped: give a copy with --data-dir)\n",
		"  run perplexity: sambaeval run perplexity --ppl-mode sliding --ppl-stride 16385 --context-lengths 4K,8K,16K --ppl-tokens 3293385" + avail("perplexity") + "\n",
		"  cell 4K: perplexity 4K token_perplexity; paper 10.06\n",
		"  cell 16K: perplexity 16K token_perplexity; paper 9.57\n",
		"length-extrapolation: ",
		"  run perplexity: sambaeval run perplexity --ppl-mode sliding --ppl-stride 4K --context-lengths 1K,2K,4K,8K,16K,32K,64K,128K,256K,512K,1M" + avail("perplexity") + "\n",
		"  cell 1M: perplexity 1M token_perplexity; paper ≈3.71\n",
		"passkey: ",
		"  run passkey: sambaeval run passkey --num-fewshot 0 --passkey-protocol samba-paper" + avail("passkey") + "\n",
		"  cell 256K: passkey 256K acc; paper ≈100\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--list lacks %q:\n%s", want, out)
		}
	}
	failsWithOneLine(t, `unknown table "nope" (known: samba-3.8b-base, `, "reproduce", "nope")
	failsWithOneLine(t, "reproduce takes one table name", "reproduce")
	failsWithOneLine(t, `--only "zz": table samba-3.8b-base has no such run`, "reproduce", "samba-3.8b-base", "--only", "zz")
	failsWithOneLine(t, `--task-option "x": want NAME=VALUE`, "reproduce", "samba-3.8b-base", "--task-option", "x")
}

// TestReproduceTable reproduces the base-model table on one MMLU and one
// GSM8K document: the paper's column is printed beside ours, with ours
// read from each run's results.json and the difference between the two.
func TestReproduceTable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repro")
	out, stderr, err := sambaeval(t, "reproduce", "samba-3.8b-base", "--limit", "1", "--only", "mmlu,gsm8k",
		"--task-option", "mmlu-subjects=anatomy", "--task-option", "gsm8k-max-tokens=4", "--output-dir", dir)
	if err != nil {
		t.Fatal(err, stderr)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "reproduce.md"))
	if string(md) != out {
		t.Errorf("reproduce.md differs from the output:\n%s\n%s", md, out)
	}
	for _, want := range []string{
		"## samba-3.8b-base: Samba-3.8B base model: the benchmarks this harness has\n",
		"- model: samba-tiny (checkpoint sha256:e27a0), against the paper's Samba 3.8B\n",
		"- note: --limit 1: only part of each benchmark was evaluated; not comparable with the paper\n",
		"- note: protocol changed by --mmlu-subjects anatomy --gsm8k-max-tokens 4\n",
		"- mmlu: `sambaeval run mmlu --num-fewshot 5` (",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	rows := tableRows(out)
	if h := rows[" metric"]; len(h) < 4 || h[2] != "paper: Samba 3.8B" || h[3] != "ours" || h[4] != "Δ" {
		t.Errorf("header %q", h)
	}
	check := func(label, run, metric string, paper float64) {
		t.Helper()
		r, err := results.Read(filepath.Join(dir, run))
		if err != nil {
			t.Fatal(err)
		}
		m, ok := results.Find(r.Tasks[run].Metrics, metric)
		if !ok || r.Tasks[run].NumFewshot != 5 || r.Tasks[run].Samples != 1 {
			t.Fatalf("%s: %+v", run, r.Tasks[run])
		}
		ours := m.Value * 100
		want := []string{label, run + " " + metric, fmt.Sprintf("%.1f", paper), fmt.Sprintf("%.2f", ours),
			fmt.Sprintf("%+.2f", ours-paper), "—", "1", "ok"}
		if g := rows[label+" "+run+" "+metric]; strings.Join(g, "|") != strings.Join(want, "|") {
			t.Errorf("row %q, want %q", g, want)
		}
	}
	check("MMLU", "mmlu", "acc", 71.2)
	check("GSM8K (strict-match)", "gsm8k", "exact_match,strict-match", 69.6)
	check("GSM8K (flexible-extract)", "gsm8k", "exact_match,flexible-extract", 69.6)
	he := reproduce.StatusNotRun
	if _, err := tasks.Get("humaneval"); err != nil {
		he = reproduce.StatusNotAvailable
	}
	if g := rows["HumanEval pass@1 humaneval pass@1"]; len(g) != 8 || g[2] != "54.9" || g[3] != "—" || g[7] != he {
		t.Errorf("humaneval row %q, want status %q", g, he)
	}

	var j struct {
		PaperModel string `json:"paper_model"`
		Cells      []struct {
			Label              string
			Paper, Ours, Delta *float64
			Status             string
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "reproduce.json"))
	if err := json.Unmarshal(b, &j); err != nil || j.PaperModel != "Samba 3.8B" || len(j.Cells) != 4 {
		t.Fatalf("%v %s", err, b)
	}
	c := j.Cells[0]
	if c.Label != "MMLU" || *c.Paper != 71.2 || math.Abs(*c.Ours-*c.Paper-*c.Delta) > 1e-9 || c.Status != "ok" || j.Cells[3].Ours != nil {
		t.Errorf("%+v", j.Cells)
	}
}

// TestReproduceLimited reproduces the samba-tiny model card's passkey
// table on its first 4 prompts: the 1K cell is computed, the lengths that
// --limit does not reach say so, and the run succeeds.
func TestReproduceLimited(t *testing.T) {
	if _, err := tasks.Get("passkey"); err != nil {
		t.Skip("passkey is not in this build")
	}
	dir := t.TempDir()
	out, stderr, err := sambaeval(t, "reproduce", "samba-tiny", "--limit", "4", "--output-dir", dir)
	if err != nil {
		t.Fatal(err, stderr)
	}
	r, err := results.Read(filepath.Join(dir, "passkey"))
	if err != nil {
		t.Fatal(err)
	}
	var acc float64
	for _, g := range r.Tasks["passkey"].Groups {
		if g.Name == "1K" {
			m, _ := results.Find(g.Metrics, "acc")
			acc = m.Value * 100
		}
	}
	rows := tableRows(out)
	want := []string{"1K", "passkey 1K acc", "100", fmt.Sprintf("%.1f", acc), fmt.Sprintf("%+.1f", acc-100)}
	if g := rows["1K passkey 1K acc"]; len(g) != 8 || strings.Join(g[:5], "|") != strings.Join(want, "|") || g[6] != "4" || g[7] != "ok" {
		t.Errorf("1K row %q, want %q…", g, want)
	}
	for _, l := range []string{"2K", "4K", "8K", "16K"} {
		if g := rows[l+" passkey "+l+" acc"]; len(g) != 8 || g[3] != "—" || g[7] != reproduce.StatusLimited {
			t.Errorf("%s: %q", l, g)
		}
	}
	if g := rows["8K passkey 8K acc"]; len(g) < 3 || g[2] != "75" {
		t.Errorf("8K paper column %q", g)
	}
}

// TestReproduceChatTemplate: --chat-template wraps the prompts and says so.
func TestReproduceChatTemplate(t *testing.T) {
	dir := t.TempDir()
	args := []string{"reproduce", "samba-3.8b-it", "--limit", "1", "--only", "mmlu", "--task-option", "mmlu-subjects=anatomy"}
	plain, stderr, err := sambaeval(t, append(args, "--output-dir", filepath.Join(dir, "plain"))...)
	if err != nil {
		t.Fatal(err, stderr)
	}
	chat, stderr, err := sambaeval(t, append(args, "--chat-template", "phi3", "--output-dir", filepath.Join(dir, "chat"))...)
	if err != nil {
		t.Fatal(err, stderr)
	}
	const note = "- note: every prompt wrapped as a user turn of the chat template phi3\n"
	if strings.Contains(plain, note) || !strings.Contains(chat, note) {
		t.Errorf("chat note in plain: %v, in chat: %v", strings.Contains(plain, note), strings.Contains(chat, note))
	}
	for _, out := range []string{plain, chat} {
		if g := tableRows(out)["MMLU (size-weighted) mmlu acc"]; len(g) != 8 || g[2] != "71.9" || g[7] != "ok" {
			t.Errorf("row %q", g)
		}
	}
	failsWithOneLine(t, "has no chat template", "reproduce", "samba-3.8b-it", "--apply-chat-template")
}
