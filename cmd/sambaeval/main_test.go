package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sambaeval/sambaeval/results"
	"github.com/sambaeval/sambaeval/sandbox"
)

// TestMain lets tests run this test binary as the sambaeval command.
func TestMain(m *testing.M) {
	sandbox.Main()
	if os.Getenv("SAMBAEVAL_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func command(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "SAMBAEVAL_TEST_MAIN=1")
	return cmd
}

func sambaeval(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := command(args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func metrics(t *testing.T, dir string) map[string]float64 {
	t.Helper()
	r, err := results.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for name, tr := range r.Tasks {
		for _, m := range tr.Metrics {
			out[name+"/"+m.Key()] = m.Value
		}
		for _, g := range tr.Groups {
			for _, m := range g.Metrics {
				out[name+"/"+g.Name+"/"+m.Key()] = m.Value
			}
		}
	}
	return out
}

func sameMetrics(t *testing.T, a, b map[string]float64, what string) {
	t.Helper()
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("%s: %d vs %d metrics", what, len(a), len(b))
	}
	for k, v := range a {
		if b[k] != v {
			t.Errorf("%s: %s = %v vs %v", what, k, v, b[k])
		}
	}
}

func TestRunBatchSizeAndChunkDoNotChangeMetrics(t *testing.T) {
	dir := t.TempDir()
	args := []string{"run", "mmlu", "--limit", "1", "--mmlu-subjects", "anatomy,astronomy,virology"}
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if _, e, err := sambaeval(t, append(args, "--output-dir", a, "--batch-size", "1")...); err != nil {
		t.Fatal(err, e)
	}
	if _, e, err := sambaeval(t, append(args, "--output-dir", b, "--batch-size", "8", "--chunk-size", "64", "--log-samples")...); err != nil {
		t.Fatal(err, e)
	}
	sameMetrics(t, metrics(t, a), metrics(t, b), "batch 1 vs 8")
	if _, err := os.Stat(filepath.Join(b, "samples_mmlu.jsonl")); err != nil {
		t.Error(err)
	}
}

func TestRunResumesAfterKill9(t *testing.T) {
	dir := t.TempDir()
	args := []string{"run", "mmlu", "--limit", "2", "--mmlu-subjects", "anatomy,astronomy,virology,sociology", "--output-dir"}
	full := filepath.Join(dir, "full")
	if _, e, err := sambaeval(t, append(args, full)...); err != nil {
		t.Fatal(err, e)
	}
	killed := filepath.Join(dir, "killed")
	cmd := command(append(args, killed)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(killed, "cache", "mmlu.jsonl")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		b, _ := os.ReadFile(cache)
		if bytes.Count(b, []byte("\n")) >= 10 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no progress before the deadline")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(killed, "results.json")); err == nil {
		t.Skip("the run finished before it could be killed")
	}
	_, stderr, err := sambaeval(t, append(args, killed)...)
	if err != nil {
		t.Fatal(err, stderr)
	}
	sameMetrics(t, metrics(t, full), metrics(t, killed), "resumed vs uninterrupted")
}

func TestBadInputIsOneLine(t *testing.T) {
	cases := [][]string{
		{"run", "nosuchtask"},
		{"run", "mmlu", "--batch-size", "0"},
		{"run", "mmlu", "--shard", "3/2"},
		{"run", "mmlu", "--model", "/nonexistent"},
		{"run", "mmlu", "--model", "Samba_421M"},
		{"run", "mmlu", "--data-dir", "/nonexistent"},
		{"score", "--file", "/nonexistent"},
		{"score"},
		{"run", "mmlu", "--device", "tpu"},
		{"run", "mmlu", "--limit", "1", "--apply-chat-template"}, // samba-tiny's tokenizer has no chat template
		{"run", "mmlu", "--limit", "1", "--chat-template", "nosuch"},
		{"convert", "/nonexistent.pth", "--config", "Samba_421M", "--out", "/tmp/x"},
	}
	for _, c := range cases {
		_, stderr, err := sambaeval(t, c...)
		if err == nil {
			t.Errorf("%v: succeeded", c)
			continue
		}
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		last := lines[len(lines)-1]
		if !strings.HasPrefix(last, "sambaeval: ") || strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
			t.Errorf("%v: stderr %q", c, stderr)
		}
	}
}

// TestTaskFlagsCheckedFirst checks that a task's bad flag is reported
// before the model is opened: with a model that does not exist as well,
// the flag's error is the one that comes back, on the only line.
func TestTaskFlagsCheckedFirst(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "passkey", "--lengths", "0"}, "sambaeval: passkey: --lengths:"},
		{[]string{"run", "perplexity", "--ppl-mode", "nosuch"}, "sambaeval: perplexity: --ppl-mode"},
		{[]string{"run", "mmlu", "--mmlu-subjects", "nosuch"}, `sambaeval: mmlu: --mmlu-subjects: unknown subject "nosuch"`},
		{[]string{"run", "humaneval", "--num-fewshot", "3"}, "sambaeval: humaneval: humaneval is 0-shot"},
	} {
		_, stderr, err := sambaeval(t, append(c.args, "--model", "/nonexistent")...)
		if err == nil || !strings.HasPrefix(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: err %v, stderr %q, want one line starting %q", c.args, err, stderr, c.want)
		}
	}
}

func TestScoreJSON(t *testing.T) {
	f := filepath.Join(t.TempDir(), "t.txt")
	os.WriteFile(f, []byte("It was the best of times, it was the worst of times, it was the age of wisdom."), 0o644)
	out, e, err := sambaeval(t, "score", "--file", f, "--json", "--per-token", "--max-tokens", "10", "--chunk-size", "3")
	if err != nil {
		t.Fatal(err, e)
	}
	var r struct {
		Tokens, Predicted int
		NLL, PPL          float64
		Logprobs          []float64
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err, out)
	}
	var sum float64
	for _, l := range r.Logprobs {
		sum -= l
	}
	if r.Tokens != 10 || r.Predicted != 9 || len(r.Logprobs) != 9 || sum-r.NLL > 1e-3 || r.NLL-sum > 1e-3 {
		t.Fatalf("%+v", r)
	}
}

func TestHumanEvalCompletionsWithoutModel(t *testing.T) {
	dir := t.TempDir()
	// Problem 0 gets two completions (one right, one wrong), problem 2 one right one.
	right0 := "    for i, a in enumerate(numbers):\n        for j, b in enumerate(numbers):\n            if i != j and abs(a - b) < threshold:\n                return True\n    return False\n"
	lines := []map[string]string{
		{"task_id": "HumanEval/0", "completion": right0},
		{"task_id": "HumanEval/0", "completion": "    return True\n"},
		{"task_id": "HumanEval/2", "completion": "    return number % 1.0\n"},
		{"task_id": "HumanEval/2", "completion": "    while True: pass\n"},
	}
	var buf bytes.Buffer
	for _, l := range lines {
		b, _ := json.Marshal(l)
		buf.Write(append(b, '\n'))
	}
	f := filepath.Join(dir, "samples.jsonl")
	os.WriteFile(f, buf.Bytes(), 0o644)
	out := filepath.Join(dir, "out")
	_, stderr, err := sambaeval(t, "run", "humaneval", "--completions", f, "--output-dir", out, "--log-samples", "--humaneval-timeout", "1s")
	if err != nil {
		t.Fatal(err, stderr)
	}
	if strings.Contains(stderr, "model samba-tiny") {
		t.Error("a model was loaded to score given completions")
	}
	m := metrics(t, out)
	if m["humaneval/pass@1"] != 0.5 {
		t.Fatalf("pass@1 = %v, want 0.5 (n=2, c=1 on both problems)", m["humaneval/pass@1"])
	}
	ss, err := results.ReadSamples(filepath.Join(out, "samples_humaneval.jsonl"))
	if err != nil || len(ss) != 2 {
		t.Fatalf("samples: %v %d", err, len(ss))
	}
	res := ss[1].Extra["results"].([]any)
	if r := res[1].(map[string]any)["result"]; r != "timed out" {
		t.Errorf("infinite loop recorded as %v", r)
	}
	if _, e, err := sambaeval(t, "run", "humaneval", "--samples-per-task", "5", "--limit", "1"); err == nil || !strings.Contains(e, "--temperature") {
		t.Errorf("n=5 greedy should be refused: %v %s", err, e)
	}
}
