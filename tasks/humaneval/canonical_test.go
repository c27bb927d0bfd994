package humaneval

import (
	"context"
	"testing"
	"time"
)

// canonicalSamples pairs every step-th problem with its canonical solution.
func canonicalSamples(problems []Problem, step int) ([]Problem, []Sample) {
	var ps []Problem
	var samples []Sample
	for i := 0; i < len(problems); i += step {
		ps = append(ps, problems[i])
		samples = append(samples, Sample{TaskID: problems[i].TaskID, Completion: problems[i].CanonicalSolution})
	}
	return ps, samples
}

func testCanonical(t *testing.T, step int) {
	problems, samples := canonicalSamples(mustDefault(t), step)
	start := time.Now()
	ev, err := EvaluateCompletions(context.Background(), problems, samples, EvalOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d canonical solutions with 2 workers: %v", len(samples), time.Since(start))
	passed := 0
	for _, r := range ev.Results {
		if r.Passed {
			passed++
		} else {
			t.Errorf("%s: %s", r.TaskID, r.Result)
		}
	}
	if passed != len(samples) || len(ev.PassAtK) != 1 || ev.PassAtK[0].K != 1 || ev.PassAtK[0].Value != 1 {
		t.Errorf("%d/%d passed, pass@k %+v; want all and pass@1 = 1", passed, len(samples), ev.PassAtK)
	}
}

// TestCanonicalSubset runs every 32nd canonical solution (6 problems).
func TestCanonicalSubset(t *testing.T) { testCanonical(t, 32) }

// TestCanonicalSolutionsPass runs all 164 canonical solutions: pass@1 must
// be 1.0. It takes about 25 s on an idle 2-core machine and up to a minute
// on a busy one, so -short skips it.
func TestCanonicalSolutionsPass(t *testing.T) {
	if testing.Short() {
		t.Skip("164 sandboxed runs; skipped with -short (TestCanonicalSubset covers a subset)")
	}
	testCanonical(t, 1)
}
