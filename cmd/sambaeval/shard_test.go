package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sambaeval/sambaeval/results"
)

// exitCode is the exit status of a finished command (0 for a nil error).
func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatal(err)
	return -1
}

// failsWithOneLine runs sambaeval and checks that it exits with status 1
// and a one-line error that contains want.
func failsWithOneLine(t *testing.T, want string, args ...string) {
	t.Helper()
	_, stderr, err := sambaeval(t, args...)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	last := lines[len(lines)-1]
	if code := exitCode(t, err); code != 1 || !strings.HasPrefix(last, "sambaeval: ") || !strings.Contains(last, want) || strings.Contains(stderr, "panic") {
		t.Errorf("%v: exit %d, stderr %q; want status 1 and a line with %q", args, code, stderr, want)
	}
}

// taskJSON returns the "tasks" object of a results.json, decoded.
func taskJSON(t *testing.T, dir string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r struct{ Tasks any }
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r.Tasks
}

// sameRun checks that two results directories hold the same tasks (every
// field of every task: metrics, groups, counts, settings) and byte-identical
// samples files.
func sameRun(t *testing.T, a, b string, tasks ...string) {
	t.Helper()
	if ta, tb := taskJSON(t, a), taskJSON(t, b); !reflect.DeepEqual(ta, tb) {
		t.Errorf("%s and %s: tasks differ:\n%v\n%v", a, b, ta, tb)
	}
	for _, task := range tasks {
		sa, err1 := os.ReadFile(results.SamplesPath(a, task))
		sb, err2 := os.ReadFile(results.SamplesPath(b, task))
		if err1 != nil || err2 != nil || len(sa) == 0 || !bytes.Equal(sa, sb) {
			t.Errorf("%s and %s: samples of %s differ (%v, %v)", a, b, task, err1, err2)
		}
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if out, err := exec.Command("cp", "-r", from, to).CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
}

// editJSON rewrites a JSON file through a generic decode.
func editJSON(t *testing.T, path string, edit func(map[string]any)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMergedShardsEqualUnshardedRun runs two tasks whole, as two shards
// merged with `sambaeval merge`, and as three shard processes with --gpus
// (simulated on the CPU): the three give identical results and samples.
func TestMergedShardsEqualUnshardedRun(t *testing.T) {
	dir := t.TempDir()
	at := func(s string) string { return filepath.Join(dir, s) }
	// mmlu: 3 documents of each of 2 subjects; gsm8k and passkey: 3
	// documents. Two shards split them 3/3 and 2/1, three shards 2/2/2 and
	// 1/1/1.
	args := []string{"run", "mmlu,gsm8k,passkey", "--limit", "3", "--mmlu-subjects", "anatomy,astronomy", "--num-fewshot", "0",
		"--gsm8k-max-tokens", "4", "--lengths", "1K", "--depths", "0,1", "--keys-per-cell", "2"}
	run := func(extra ...string) {
		t.Helper()
		if _, e, err := sambaeval(t, append(clone(args), extra...)...); err != nil {
			t.Fatal(err, e)
		}
	}
	run("--log-samples", "--output-dir", at("full"))
	run("--shard", "0/2", "--output-dir", at("s0"))
	run("--shard", "1/2", "--output-dir", at("s1"))
	if _, e, err := sambaeval(t, "merge", at("s1"), at("s0"), "--output-dir", at("merged")); err != nil {
		t.Fatal(err, e)
	}
	sameRun(t, at("full"), at("merged"), "mmlu", "gsm8k", "passkey")

	// --gpus all counts CUDA_VISIBLE_DEVICES; --device cpu runs the shards on the CPU.
	cmd := command(append(clone(args), "--gpus", "all", "--device", "cpu", "--output-dir", at("gpus"))...)
	cmd.Env = append(cmd.Env, "CUDA_VISIBLE_DEVICES=0,1,2")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatal(err, stderr.String())
	}
	sameRun(t, at("full"), at("gpus"), "mmlu", "gsm8k", "passkey")
	// The merged runs draw the passkey heatmap as the unsharded run does.
	heat, err := os.ReadFile(filepath.Join(at("full"), "passkey_heatmap.png"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"merged", "gpus"} {
		if b, err := os.ReadFile(filepath.Join(at(d), "passkey_heatmap.png")); err != nil || !bytes.Equal(b, heat) {
			t.Errorf("%s: heatmap differs from the unsharded run's (%v)", d, err)
		}
	}
	for _, want := range []string{"running 3 shards", "[2/3] cpu: pid ", "[1/3] results in " + at("gpus/shard-1-of-3"), "merged 3 shards into " + at("gpus")} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("--gpus stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	full, err1 := results.Read(at("full"))
	r, err2 := results.Read(at("gpus"))
	if err1 != nil || err2 != nil || r.Shard != "" || r.Model.Device != full.Model.Device || r.Model.CheckpointHash != full.Model.CheckpointHash {
		t.Errorf("%v %v: merged shard %q device %q hash %s", err1, err2, r.Shard, r.Model.Device, r.Model.CheckpointHash)
	}

	// The merged results compare equal and render as a report.
	out, e, err := sambaeval(t, "compare", at("full"), at("merged"))
	if exitCode(t, err) != 0 || strings.Contains(out, "REGRESSION") || !strings.Contains(out, "no regression in 7 metrics") {
		t.Errorf("compare: %v\n%s%s", err, out, e)
	}
	out, e, err = sambaeval(t, "report", at("merged"))
	md, _ := os.ReadFile(filepath.Join(at("merged"), "report.md"))
	if err != nil || strings.TrimSpace(out) != filepath.Join(at("merged"), "report.md") ||
		!strings.Contains(string(md), "## gsm8k\n") || !strings.Contains(string(md), "- samples: [samples_mmlu.jsonl](samples_mmlu.jsonl)") ||
		!strings.Contains(string(md), "## passkey\n") || !strings.Contains(string(md), "![passkey_heatmap](passkey_heatmap.png)") {
		t.Errorf("report: %v %s %s\n%s", err, out, e, md)
	}

	// Shards that are not the complete, consistent set are refused.
	failsWithOneLine(t, "merge: shard 1/2 missing (have 1 of 2 shards)", "merge", at("s0"), "-o", at("x"))
	failsWithOneLine(t, "are both shard 0/2", "merge", at("s0"), at("s0"), "-o", at("x"))
	failsWithOneLine(t, "results.json is not a shard's", "merge", at("s0"), at("full"), "-o", at("x"))
	failsWithOneLine(t, "--output-dir is required", "merge", at("s0"), at("s1"))
	copyDir(t, at("s1"), at("v2"))
	editJSON(t, filepath.Join(at("v2"), "results.json"), func(m map[string]any) {
		m["tasks"].(map[string]any)["gsm8k"].(map[string]any)["version"] = "99"
	})
	failsWithOneLine(t, "v2: gsm8k version 99 differs from", "merge", at("s0"), at("v2"), "-o", at("x"))
	copyDir(t, at("s1"), at("dup"))
	s0, _ := results.ReadSamples(results.SamplesPath(at("s0"), "gsm8k"))
	dup, _ := results.ReadSamples(results.SamplesPath(at("dup"), "gsm8k"))
	dup[0].DocID = s0[1].DocID
	results.WriteSamples(at("dup"), "gsm8k", dup)
	failsWithOneLine(t, "gsm8k: document 2 is in", "merge", at("s0"), at("dup"), "-o", at("x"))
	copyDir(t, at("s1"), at("short"))
	os.WriteFile(results.SamplesPath(at("short"), "gsm8k"), []byte{}, 0o644)
	failsWithOneLine(t, "samples_gsm8k.jsonl has 0 samples, results.json says 1", "merge", at("s0"), at("short"), "-o", at("x"))
	if _, err := os.Stat(at("x")); err == nil {
		t.Error("a refused merge wrote its output directory")
	}
}

func clone(s []string) []string { return append([]string(nil), s...) }

// TestGPUsFailedShard: a shard that fails makes the run fail, with the
// other shards' results kept.
func TestGPUsFailedShard(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	// One document: shard 1 of 2 is empty and fails.
	_, stderr, err := sambaeval(t, "run", "mmlu", "--limit", "1", "--mmlu-subjects", "anatomy", "--num-fewshot", "0",
		"--gpus", "2", "--device", "cpu", "--output-dir", out)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	last := lines[len(lines)-1]
	if exitCode(t, err) != 1 || !strings.HasPrefix(last, "sambaeval: shard 1/2 failed (exit status 1: sambaeval: mmlu: shard 1/2 of ") ||
		!strings.HasSuffix(last, "the other shards' work is kept in "+out+": run the same command again to resume") {
		t.Errorf("exit %v, last line %q", err, last)
	}
	if _, err := results.Read(filepath.Join(out, "shard-0-of-2")); err != nil {
		t.Error("shard 0's results are gone:", err)
	}
	if _, err := os.Stat(filepath.Join(out, "results.json")); err == nil {
		t.Error("a failed run wrote merged results")
	}
	log, _ := os.ReadFile(filepath.Join(out, "shard-1-of-2", "sambaeval.log"))
	if !bytes.Contains(log, []byte("is empty")) {
		t.Errorf("shard 1's log: %s", log)
	}

	failsWithOneLine(t, "--gpus and --shard: give one", "run", "mmlu", "--gpus", "2", "--shard", "0/2")
	failsWithOneLine(t, "--gpus 2 chooses the devices", "run", "mmlu", "--gpus", "2", "--device", "cuda:1")
	failsWithOneLine(t, `--gpus "0": want a number of GPUs`, "run", "mmlu", "--gpus", "0")
}

func TestCountGPUs(t *testing.T) {
	cases := []struct {
		arg, env string
		want     int
		err      string
	}{
		{"3", "", 3, ""},
		{"x", "", 0, "want a number"},
		{"all", "0,1", 2, ""},
		{"all", "GPU-1a2b,GPU-3c4d,GPU-5e6f", 3, ""},
		{"all", "0,-1,1", 1, ""},
		{"all", "", 0, "names no GPU"},
	}
	for _, c := range cases {
		t.Setenv("CUDA_VISIBLE_DEVICES", c.env)
		n, err := countGPUs(c.arg)
		if n != c.want || (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s with %q: %d %v", c.arg, c.env, n, err)
		}
	}
}
