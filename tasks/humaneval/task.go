package humaneval

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/sambaeval/sambaeval/evaluator"
	"github.com/sambaeval/sambaeval/model"
	"github.com/sambaeval/sambaeval/results"
	"github.com/sambaeval/sambaeval/sandbox"
	"github.com/sambaeval/sambaeval/tasks"
)

func init() { tasks.Register(&task{}) }

// task is the `humaneval` task: 0-shot completions of the 164 prompts,
// cut at human-eval's and bigcode's stop sequences, executed in the
// sandbox, scored by the unbiased pass@k.
type task struct {
	n           int
	temperature float64
	topP        float64
	maxTokens   int
	completions string
	allowWeak   bool
	timeout     time.Duration
	workers     int
}

func (*task) Name() string { return "humaneval" }
func (*task) Description() string {
	return "HumanEval: 0-shot Python completions run in an isolated sandbox, unbiased pass@k"
}
func (*task) Defaults() string {
	return "greedy, 1 sample per task, pass@1; stops \\nclass \\ndef \\n# \\nif \\nprint + bigcode's; 3 s per program"
}
func (*task) Version() string { return "1" }

func (t *task) Flags(fs *pflag.FlagSet) {
	fs.IntVar(&t.n, "samples-per-task", 1, "humaneval: completions per problem (pass@k for every k ≤ n among 1, 10, 100)")
	fs.Float64Var(&t.temperature, "temperature", 0, "humaneval: sampling temperature (0: greedy; the paper uses 0.2)")
	fs.Float64Var(&t.topP, "top-p", 1, "humaneval: nucleus sampling mass (the paper uses 0.95)")
	fs.IntVar(&t.maxTokens, "humaneval-max-tokens", 512, "humaneval: most tokens generated per completion")
	fs.StringVar(&t.completions, "completions", "", "humaneval: score these completions (human-eval's {task_id, completion} JSON lines) without a model")
	fs.BoolVar(&t.allowWeak, "allow-weak-sandbox", false, "humaneval: run programs even when an isolation layer is unavailable")
	fs.DurationVar(&t.timeout, "humaneval-timeout", 3*time.Second, "humaneval: execution time limit per program (human-eval: 3 s)")
	fs.IntVar(&t.workers, "humaneval-workers", 4, "humaneval: programs run at once")
}

// NeedsModel implements tasks.ModelFree: given completions need no model.
func (t *task) NeedsModel() bool { return t.completions == "" }

type doc struct {
	problem     Problem
	completions []string // given (--completions); else generated
}

func (t *task) sandboxOptions() sandbox.Options { return sandbox.Options{AllowWeak: t.allowWeak} }

// CheckFlags implements tasks.FlagChecker.
func (t *task) CheckFlags(numFewshot int) error {
	if numFewshot > 0 {
		return fmt.Errorf("humaneval is 0-shot (got --num-fewshot %d)", numFewshot)
	}
	if t.n < 1 {
		return fmt.Errorf("--samples-per-task %d must be at least 1", t.n)
	}
	if t.n > 1 && t.temperature == 0 && t.completions == "" {
		return fmt.Errorf("--samples-per-task %d with greedy decoding gives %d identical samples: set --temperature (e.g. 0.8)", t.n, t.n)
	}
	if t.timeout <= 0 || t.workers < 1 {
		return fmt.Errorf("--humaneval-timeout and --humaneval-workers must be positive")
	}
	return nil
}

func (t *task) Build(env *tasks.Env) (*tasks.Plan, error) {
	if err := t.CheckFlags(env.NumFewshot); err != nil {
		return nil, err
	}
	var (
		problems []Problem
		err      error
		source   = DefaultName
	)
	if env.DataDir != "" {
		source = env.DataDir
		problems, err = Load(env.DataDir)
	} else {
		problems, err = Default()
	}
	if err != nil {
		return nil, err
	}
	// Check the sandbox before any generation starts: a refusal after hours
	// of sampling helps nobody.
	rep, err := sandbox.Check(context.Background(), t.sandboxOptions())
	if err != nil {
		return nil, err
	}
	plan := &tasks.Plan{Score: t.score, ScoreWorkers: t.workers, DataFiles: map[string]string{source: ""},
		Config: map[string]any{"samples_per_task": t.n, "temperature": t.temperature, "top_p": t.topP,
			"max_gen_tokens": t.maxTokens, "stop": StopSequences, "timeout_s": t.timeout.Seconds(),
			"sandbox": rep.Layers, "python": rep.Version}}
	byID := map[string]int{}
	for i, p := range problems {
		byID[p.TaskID] = i
		plan.Docs = append(plan.Docs, tasks.Doc{ID: i, Data: &doc{problem: p}})
	}
	if t.completions != "" {
		samples, err := LoadSamples(t.completions)
		if err != nil {
			return nil, err
		}
		for _, s := range samples {
			i, ok := byID[s.TaskID]
			if !ok {
				return nil, fmt.Errorf("%s: task_id %q is not a HumanEval problem", t.completions, s.TaskID)
			}
			d := plan.Docs[i].Data.(*doc)
			d.completions = append(d.completions, s.Completion)
		}
		var kept []tasks.Doc
		for _, d := range plan.Docs {
			if len(d.Data.(*doc).completions) > 0 {
				kept = append(kept, d)
			}
		}
		plan.Docs = kept
		plan.Config["completions"] = t.completions
		return plan, nil
	}
	for i := range plan.Docs {
		d := plan.Docs[i].Data.(*doc)
		for k := 0; k < t.n; k++ {
			r := evaluator.Request{Kind: evaluator.GenerateUntil, Context: d.problem.Prompt, Until: StopSequences, MaxTokens: t.maxTokens}
			if t.temperature > 0 {
				// Each sample has its own seed, so it is reproducible whatever else runs beside it.
				r.Sample = model.SampleOptions{Temperature: t.temperature, TopP: t.topP, Seed: uint64(env.Seed)*1_000_003 + uint64(i)*1009 + uint64(k)}
			}
			plan.Docs[i].Requests = append(plan.Docs[i].Requests, r)
		}
	}
	return plan, nil
}

var ks = []int{1, 10, 100}

func (t *task) score(d *tasks.Doc, resp []evaluator.Response) (results.Sample, error) {
	q := d.Data.(*doc)
	comps := q.completions
	if comps == nil {
		for _, r := range resp {
			comps = append(comps, r.Text)
		}
	}
	limits := sandbox.DefaultLimits()
	var verdicts []map[string]any
	c := 0
	for i, comp := range comps {
		res, err := CheckCompletion(context.Background(), q.problem, comp, t.timeout, limits, t.sandboxOptions())
		if err != nil {
			return results.Sample{}, fmt.Errorf("%s: %w", q.problem.TaskID, err)
		}
		if res == "passed" {
			c++
		}
		verdicts = append(verdicts, map[string]any{"completion_id": i, "passed": res == "passed", "result": res})
	}
	s := results.Sample{
		Prompt: q.problem.Prompt, Target: q.problem.Test, Generation: comps,
		Pred: fmt.Sprintf("%d/%d passed", c, len(comps)), Scores: map[string]float64{},
		Extra: map[string]any{"task_id": q.problem.TaskID, "n": len(comps), "correct": c, "results": verdicts},
	}
	for _, k := range ks {
		if k <= len(comps) {
			v, _ := PassAtK(len(comps), c, k)
			s.Scores[fmt.Sprintf("pass@%d", k)] = v
		}
	}
	return s, nil
}

func (t *task) Aggregate(samples []results.Sample) (*results.TaskResult, error) {
	tr := &results.TaskResult{}
	for _, k := range ks {
		key := fmt.Sprintf("pass@%d", k)
		var xs []float64
		for _, s := range samples {
			v, ok := s.Scores[key]
			if !ok {
				xs = nil
				break // some problem has fewer than k samples: pass@k does not apply
			}
			xs = append(xs, v)
		}
		if len(xs) == 0 {
			continue
		}
		mean, se := results.Mean(xs)
		tr.Metrics = append(tr.Metrics, results.Metric{Name: key, Value: mean, Stderr: se, HigherIsBetter: true})
	}
	if len(tr.Metrics) == 0 {
		return nil, fmt.Errorf("no samples to score")
	}
	return tr, nil
}
