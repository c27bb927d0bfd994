// Package gsm8k holds the GSM8K tasks exactly as lm-evaluation-harness
// defines them: `gsm8k` (5 random train shots drawn with Python's
// random.Random(seed), "Question: … Answer:") and `gsm8k_cot` (Wei et al.'s
// 8 chain-of-thought exemplars, "Q: … A:"), greedy decoding, and the
// strict-match and flexible-extract filters scored by exact match.
package gsm8k

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sambaeval/sambaeval/datasets"
	"github.com/sambaeval/sambaeval/evaluator"
	"github.com/sambaeval/sambaeval/results"
	"github.com/sambaeval/sambaeval/tasks"
	"github.com/sambaeval/sambaeval/tasks/internal/pyrandom"
)

func init() {
	tasks.Register(&task{name: "gsm8k", cot: false})
	tasks.Register(&task{name: "gsm8k_cot", cot: true})
}

type task struct {
	name string
	cot  bool
}

func (t *task) Name() string { return t.name }

func (t *task) Description() string {
	if t.cot {
		return "GSM8K grade-school math, 8 chain-of-thought exemplars (Wei et al.), \"Q: … A:\", greedy, exact match"
	}
	return "GSM8K grade-school math, random train shots, \"Question: … Answer:\", greedy, exact match"
}

func (t *task) Defaults() string {
	if t.cot {
		return "8-shot CoT (fixed exemplars), test split, strict-match and flexible-extract"
	}
	return "5-shot (train, Python random seed 1234), test split, strict-match and flexible-extract"
}

func (t *task) Version() string { return "3" }

func (t *task) Flags(fs *pflag.FlagSet) {
	if t.cot {
		return // gsm8k registers the shared flag
	}
	fs.IntVar(&maxGenTokens, "gsm8k-max-tokens", 256, "gsm8k, gsm8k_cot: most tokens generated per answer (lm-eval: 256)")
}

var maxGenTokens = 256

// Stop sequences (generation_kwargs.until).
var (
	untilPlain = []string{"Question:", "</s>", "<|im_end|>"}
	untilCoT   = []string{"Q:", "</s>", "<|im_end|>"}
)

// The filters: a regex whose first non-empty group (of the first or last
// match) is the answer, "[invalid]" when nothing matches.
type filter struct {
	name string
	re   *regexp.Regexp
	last bool // group_select -1
}

var (
	strictPlain = filter{name: "strict-match", re: regexp.MustCompile(`#### (\-?[0-9\.\,]+)`)}
	strictCoT   = filter{name: "strict-match", re: regexp.MustCompile(`The answer is (\-?[0-9\.\,]+).`)}
	flexible    = filter{name: "flexible-extract", re: regexp.MustCompile(`(-?[$0-9.,]{2,})|(-?[0-9]+)`), last: true}
)

// Extract applies the filter to a generation.
func (f filter) Extract(s string) string {
	ms := f.re.FindAllStringSubmatch(s, -1)
	if len(ms) == 0 {
		return "[invalid]"
	}
	m := ms[0]
	if f.last {
		m = ms[len(ms)-1]
	}
	groups := m[1:]
	if len(groups) == 0 {
		return strings.TrimSpace(m[0])
	}
	for _, g := range groups {
		if g != "" {
			return strings.TrimSpace(g)
		}
	}
	return "[invalid]"
}

// ignore are the exact_match regexes_to_ignore, applied to prediction and reference.
var ignore = []*regexp.Regexp{regexp.MustCompile(`,`), regexp.MustCompile(`\$`), regexp.MustCompile(`(?s).*#### `), regexp.MustCompile(`\.$`)}

// normalize applies regexes_to_ignore and ignore_case.
func normalize(s string) string {
	for _, re := range ignore {
		s = re.ReplaceAllString(s, "")
	}
	return strings.ToLower(s)
}

// ExactMatch is lm-eval's exact_match with GSM8K's settings.
func ExactMatch(pred, ref string) float64 {
	if normalize(pred) == normalize(ref) {
		return 1
	}
	return 0
}

type doc struct {
	item   datasets.GSM8KItem
	prompt string
	target string
}

func (t *task) Build(env *tasks.Env) (*tasks.Plan, error) {
	src, err := datasets.ParseSource(env.DataDir, nil)
	if err != nil {
		return nil, err
	}
	test, files, err := datasets.LoadGSM8K(src, datasets.GSM8KTest)
	if err != nil {
		return nil, err
	}
	k := env.NumFewshot
	plan := &tasks.Plan{DataFiles: map[string]string{}, Score: t.score}
	for _, f := range files {
		plan.DataFiles[f.Name] = f.SHA256
	}
	var shotFor func(i int) string
	if t.cot {
		if k < 0 {
			k = 8
		}
		if k > len(cotExemplars) {
			return nil, fmt.Errorf("gsm8k_cot has %d exemplars, fewer than --num-fewshot %d", len(cotExemplars), k)
		}
		var b strings.Builder
		for _, e := range cotExemplars[:k] {
			b.WriteString("Q: " + e.q + "\nA: " + e.a + "\n\n")
		}
		shots := b.String()
		shotFor = func(int) string { return shots }
		plan.Config = map[string]any{"sampler": "first_n", "exemplars": "Wei et al. 2022"}
	} else {
		if k < 0 {
			k = 5
		}
		var train []datasets.GSM8KItem
		if k > 0 {
			var tf []datasets.File
			if train, tf, err = datasets.LoadGSM8K(src, datasets.GSM8KTrain); err != nil {
				return nil, err
			}
			for _, f := range tf {
				plan.DataFiles[f.Name] = f.SHA256
			}
			if k > len(train) {
				return nil, fmt.Errorf("--num-fewshot %d exceeds the %d train problems", k, len(train))
			}
		}
		// lm-eval draws each document's shots in document order from one
		// random.Random(fewshot_seed) with random.sample.
		rng := pyrandom.New(uint64(env.Seed))
		shots := make([]string, len(test))
		for i := range test {
			var b strings.Builder
			if k > 0 {
				for _, j := range rng.Sample(len(train), k) {
					b.WriteString("Question: " + train[j].Question + "\nAnswer: " + train[j].Answer + "\n\n")
				}
			}
			shots[i] = b.String()
		}
		shotFor = func(i int) string { return shots[i] }
		plan.Config = map[string]any{"sampler": "random", "fewshot_seed": env.Seed, "fewshot_split": "train"}
	}
	plan.NumFewshot = k
	plan.Config["max_gen_tokens"] = maxGenTokens
	for i, q := range test {
		d := &doc{item: q}
		until := untilPlain
		if t.cot {
			d.prompt = shotFor(i) + "Q: " + q.Question + "\nA:"
			d.target = strings.TrimSpace(q.Answer[strings.LastIndex(q.Answer, "####")+len("####"):])
			until = untilCoT
		} else {
			d.prompt = shotFor(i) + "Question: " + q.Question + "\nAnswer:"
			d.target = q.Answer
		}
		plan.Docs = append(plan.Docs, tasks.Doc{ID: i, Data: d, Requests: []evaluator.Request{{
			Kind: evaluator.GenerateUntil, Context: d.prompt, Until: until, MaxTokens: maxGenTokens,
		}}})
	}
	return plan, nil
}

func (t *task) filters() []filter {
	if t.cot {
		return []filter{strictCoT, flexible}
	}
	return []filter{strictPlain, flexible}
}

func (t *task) score(d *tasks.Doc, resp []evaluator.Response) (results.Sample, error) {
	q := d.Data.(*doc)
	gen := resp[0].Text
	s := results.Sample{Prompt: q.prompt, Target: q.target, Generation: []string{gen}, Scores: map[string]float64{}, Extra: map[string]any{}}
	for _, f := range t.filters() {
		pred := f.Extract(gen)
		s.Scores["exact_match,"+f.name] = ExactMatch(pred, q.target)
		s.Extra["pred,"+f.name] = pred
		if f.name == "strict-match" {
			s.Pred = pred
		}
	}
	return s, nil
}

func (t *task) Aggregate(samples []results.Sample) (*results.TaskResult, error) {
	tr := &results.TaskResult{}
	for _, f := range t.filters() {
		key := "exact_match," + f.name
		xs := make([]float64, len(samples))
		for i, s := range samples {
			v, ok := s.Scores[key]
			if !ok {
				return nil, fmt.Errorf("doc %d has no %s score", s.DocID, key)
			}
			xs[i] = v
		}
		mean, se := results.Mean(xs)
		tr.Metrics = append(tr.Metrics, results.Metric{Name: "exact_match", Filter: f.name, Value: mean, Stderr: se, HigherIsBetter: true})
	}
	return tr, nil
}
