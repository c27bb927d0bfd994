package humaneval

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sambaeval/sambaeval/sandbox"
)

// TestExampleSamples evaluates openai/human-eval's own example, whose
// README gives the answer: pass@1 = 0.4999999999999999.
func TestExampleSamples(t *testing.T) {
	problems, err := Load("testdata/example_problem.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	samples, err := LoadSamples("testdata/example_samples.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := EvaluateCompletions(context.Background(), problems, samples, EvalOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		prefix string
		passed bool
	}{
		{"failed: FileNotFoundError", false}, // subprocess of 'rm -rf tmp': no such program
		{"timed out", false},                 // time.sleep(10)
		{"failed: EOFError", false},          // input() with nothing to read
		{"passed", true},
		{"passed", true},
		{"passed", true},
	}
	for i, r := range ev.Results {
		if r.TaskID != "test/0" || r.CompletionID != i || r.Completion != samples[i].Completion {
			t.Errorf("result %d: %+v does not match sample %d", i, r, i)
		}
		if !strings.HasPrefix(r.Result, want[i].prefix) || r.Passed != want[i].passed {
			t.Errorf("sample %d: %q (passed %v), want %q… (passed %v)", i, r.Result, r.Passed, want[i].prefix, want[i].passed)
		}
	}
	if len(ev.PassAtK) != 1 || ev.PassAtK[0].K != 1 || ev.PassAtK[0].Value != 0.4999999999999999 {
		t.Errorf("pass@k %+v, want pass@1 = 0.4999999999999999", ev.PassAtK)
	}
	if ev.Problems != 1 || ev.Sandbox == nil || len(ev.Sandbox.Missing()) != 0 {
		t.Errorf("problems %d, sandbox %v", ev.Problems, ev.Sandbox)
	}
}

func TestVerdicts(t *testing.T) {
	problems := mustDefault(t)
	p := problems[0] // has_close_elements(numbers, threshold)
	tests := []struct {
		name, completion, want string
	}{
		{"canonical", p.CanonicalSolution, "passed"},
		{"wrong answer", "    return False\n", "failed: AssertionError"},
		{"syntax error", "    return (\n", "failed: SyntaxError: '(' was never closed (<string>, line 12)"},
		{"undefined name", "    return helper(numbers)\n", "failed: NameError: name 'helper' is not defined"},
		{"infinite loop", "    while True:\n        pass\n", "timed out"},
		{"sleep", "    import time\n    time.sleep(30)\n", "timed out"},
		{"exit", "    exit(0)\n", "failed: SystemExit: 0"},
		{"os._exit", "    import os\n    os._exit(0)\n", "failed: exited before the tests finished"},
		{"self kill", "    import os, signal\n    os.kill(os.getpid(), signal.SIGTERM)\n", "failed: killed by signal terminated"},
		{"crash", "    import ctypes\n    ctypes.string_at(0)\n", "failed: killed by signal segmentation fault"},
		{"prints a lot", "    print('x' * 1000000)\n" + p.CanonicalSolution, "passed"},
		{"memory", "    x = bytearray(1 << 40)\n", "failed: MemoryError"},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Time-outs are tested with a short timeout; everything else gets
			// time to spare on a busy machine.
			timeout := 10 * time.Second
			if tt.want == "timed out" {
				timeout = 500 * time.Millisecond
			}
			got, err := CheckCompletion(ctx, p, tt.completion, timeout, sandbox.Limits{}, sandbox.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("verdict %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEvaluateCountsSamplesPerProblem(t *testing.T) {
	problems := mustDefault(t)[:2]
	right0, right1 := problems[0].CanonicalSolution, problems[1].CanonicalSolution
	wrong := "    return None\n"
	samples := []Sample{
		{"HumanEval/1", wrong}, {"HumanEval/0", right0}, {"HumanEval/1", right1},
		{"HumanEval/0", wrong}, {"HumanEval/1", wrong}, {"HumanEval/0", right0},
	}
	var progress []int
	ev, err := EvaluateCompletions(context.Background(), problems, samples, EvalOptions{
		Workers: 3, K: []int{1, 2, 3, 5},
		Progress: func(done, total int) {
			if total != len(samples) {
				t.Errorf("progress total %d", total)
			}
			progress = append(progress, done)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	var passed []bool
	for _, r := range ev.Results {
		ids = append(ids, r.CompletionID)
		passed = append(passed, r.Passed)
	}
	if want := []int{0, 0, 1, 1, 2, 2}; !reflect.DeepEqual(ids, want) {
		t.Errorf("completion ids %v, want %v", ids, want)
	}
	if want := []bool{false, true, true, false, false, true}; !reflect.DeepEqual(passed, want) {
		t.Errorf("passed %v, want %v", passed, want)
	}
	// Each problem has n = 3, c = 2 (HumanEval/0) and c = 1 (HumanEval/1);
	// pass@5 does not apply.
	want := []PassAt{{1, (2.0/3 + 1.0/3) / 2}, {2, (1 + 2.0/3) / 2}, {3, 1}}
	if len(ev.PassAtK) != len(want) {
		t.Fatalf("pass@k %+v, want %+v", ev.PassAtK, want)
	}
	for i := range want {
		if d := ev.PassAtK[i].Value - want[i].Value; ev.PassAtK[i].K != want[i].K || d > 1e-12 || d < -1e-12 {
			t.Errorf("pass@k %+v, want %+v", ev.PassAtK[i], want[i])
		}
	}
	if !reflect.DeepEqual(progress, []int{1, 2, 3, 4, 5, 6}) {
		t.Errorf("progress %v", progress)
	}
}

func TestEvaluateRejectsBadSamples(t *testing.T) {
	problems := mustDefault(t)[:2]
	ctx := context.Background()
	_, err := EvaluateCompletions(ctx, problems, []Sample{{"HumanEval/0", ""}, {"HumanEval/99", ""}}, EvalOptions{})
	if err == nil || !strings.Contains(err.Error(), `unknown task_id "HumanEval/99"`) {
		t.Errorf("unknown task: err %v", err)
	}
	_, err = EvaluateCompletions(ctx, problems, []Sample{{"HumanEval/0", ""}}, EvalOptions{})
	if err == nil || !strings.Contains(err.Error(), "HumanEval/1 has no samples") {
		t.Errorf("incomplete: err %v", err)
	}
	ev, err := EvaluateCompletions(ctx, problems, []Sample{{"HumanEval/0", problems[0].CanonicalSolution}}, EvalOptions{IgnoreIncomplete: true})
	if err != nil || ev.Problems != 1 || ev.PassAtK[0].Value != 1 {
		t.Errorf("IgnoreIncomplete: %+v, %v", ev, err)
	}
	if _, err := EvaluateCompletions(ctx, problems, nil, EvalOptions{IgnoreIncomplete: true}); err == nil {
		t.Error("no samples: no error")
	}
}

func TestSamplesIO(t *testing.T) {
	in := "{\"task_id\": \"HumanEval/0\", \"completion\": \"    return 1\\n\", \"extra\": 7}\n\n  \n" +
		"{\"task_id\": \"HumanEval/1\", \"completion\": \"\"}\n"
	samples, err := ReadSamples(strings.NewReader(in), "samples.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	want := []Sample{{"HumanEval/0", "    return 1\n"}, {"HumanEval/1", ""}}
	if !reflect.DeepEqual(samples, want) {
		t.Errorf("got %+v, want %+v", samples, want)
	}
	for _, bad := range []string{`{"task_id": "a"}`, `{"completion": "x"}`, `not json`} {
		if _, err := ReadSamples(strings.NewReader(bad), "bad.jsonl"); err == nil || !strings.Contains(err.Error(), "bad.jsonl: line 1") {
			t.Errorf("%s: err %v", bad, err)
		}
	}

	var out bytes.Buffer
	results := []SampleResult{{TaskID: "HumanEval/0", CompletionID: 0, Completion: "    return a < b\n", Passed: false, Result: "failed: AssertionError"}}
	if err := WriteResults(&out, results); err != nil {
		t.Fatal(err)
	}
	wantLine := `{"task_id":"HumanEval/0","completion_id":0,"completion":"    return a < b\n","passed":false,"result":"failed: AssertionError"}` + "\n"
	if out.String() != wantLine {
		t.Errorf("WriteResults:\n%s\nwant\n%s", out.String(), wantLine)
	}
}
