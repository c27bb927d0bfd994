// Package mmlu is the MMLU task exactly as lm-evaluation-harness's `mmlu`:
// a header line per subject, the first K dev questions as shots, "Answer:",
// and the log-likelihood of " A" … " D".
package mmlu

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sambaeval/sambaeval/datasets"
	"github.com/sambaeval/sambaeval/evaluator"
	"github.com/sambaeval/sambaeval/results"
	"github.com/sambaeval/sambaeval/tasks"
)

func init() { tasks.Register(&task{}) }

type task struct {
	subjects string
	split    string
}

func (*task) Name() string { return "mmlu" }
func (*task) Description() string {
	return "MMLU, 57 subjects, multiple choice by log-likelihood of \" A\"..\" D\" (lm-eval format)"
}
func (*task) Defaults() string {
	return "5-shot (first 5 dev rows), test split, acc micro/macro/per category"
}
func (*task) Version() string { return "1" }

func (t *task) Flags(fs *pflag.FlagSet) {
	fs.StringVar(&t.subjects, "mmlu-subjects", "", "mmlu: comma-separated subjects to evaluate (default: all 57)")
	fs.StringVar(&t.split, "mmlu-split", datasets.MMLUTest, "mmlu: split to evaluate (test or validation)")
}

var letters = [4]string{"A", "B", "C", "D"}

// Header is the subject line that opens every prompt.
func Header(subject string) string {
	return "The following are multiple choice questions (with answers) about " + strings.ReplaceAll(subject, "_", " ") + ".\n\n"
}

// Question formats one question as lm-eval's doc_to_text.
func Question(q datasets.MMLUItem) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(q.Question))
	for i, c := range q.Choices {
		fmt.Fprintf(&b, "\n%s. %s", letters[i], c)
	}
	b.WriteString("\nAnswer:")
	return b.String()
}

// Prompt builds the full context: header, k shots each followed by its
// answer letter, joined by blank lines, then the question.
func Prompt(q datasets.MMLUItem, shots []datasets.MMLUItem) string {
	var b strings.Builder
	b.WriteString(Header(q.Subject))
	for _, s := range shots {
		b.WriteString(Question(s))
		b.WriteString(" " + letters[s.Answer] + "\n\n")
	}
	b.WriteString(Question(q))
	return b.String()
}

type doc struct {
	item   datasets.MMLUItem
	prompt string
}

func (t *task) Build(env *tasks.Env) (*tasks.Plan, error) {
	k := env.NumFewshot
	if k < 0 {
		k = 5
	}
	src, err := datasets.ParseSource(env.DataDir, nil)
	if err != nil {
		return nil, err
	}
	items, files, err := datasets.LoadMMLU(src, t.split)
	if err != nil {
		return nil, err
	}
	var dev []datasets.MMLUItem
	var devFiles []datasets.File
	if k > 0 {
		if dev, devFiles, err = datasets.LoadMMLU(src, datasets.MMLUDev); err != nil {
			return nil, err
		}
	}
	shots := map[string][]datasets.MMLUItem{}
	for _, d := range dev {
		if len(shots[d.Subject]) < k {
			shots[d.Subject] = append(shots[d.Subject], d)
		}
	}
	want, err := t.wantSubjects()
	if err != nil {
		return nil, err
	}
	plan := &tasks.Plan{NumFewshot: k, DataFiles: map[string]string{}, Score: score,
		Subtask: func(d *tasks.Doc) string { return d.Data.(*doc).item.Subject },
		Config:  map[string]any{"split": t.split, "fewshot_split": "dev", "sampler": "first_n"}}
	for _, f := range append(files, devFiles...) {
		plan.DataFiles[f.Name] = f.SHA256
	}
	for i, q := range items {
		if len(want) > 0 && !want[q.Subject] {
			continue
		}
		if len(shots[q.Subject]) < k {
			return nil, fmt.Errorf("subject %s has %d dev questions, fewer than --num-fewshot %d", q.Subject, len(shots[q.Subject]), k)
		}
		p := Prompt(q, shots[q.Subject])
		d := tasks.Doc{ID: i, Data: &doc{item: q, prompt: p}}
		for _, l := range letters {
			d.Requests = append(d.Requests, evaluator.Request{Kind: evaluator.Loglikelihood, Context: p, Continuation: " " + l})
		}
		plan.Docs = append(plan.Docs, d)
	}
	return plan, nil
}

func score(d *tasks.Doc, resp []evaluator.Response) (results.Sample, error) {
	q := d.Data.(*doc)
	ll := make([]float64, len(resp))
	best := 0
	for i, r := range resp {
		ll[i] = r.LogProb
		if r.LogProb > ll[best] {
			best = i
		}
	}
	acc := 0.0
	if best == q.item.Answer {
		acc = 1
	}
	return results.Sample{
		Prompt: q.prompt, Target: letters[q.item.Answer], Loglikelihoods: ll, Pred: letters[best],
		Scores: map[string]float64{"acc": acc},
		Extra:  map[string]any{"subject": q.item.Subject},
	}, nil
}

type bucket struct {
	name string
	accs []float64
}

func (t *task) Aggregate(samples []results.Sample) (*results.TaskResult, error) {
	bySubject := map[string]*bucket{}
	for _, s := range samples {
		subj, _ := s.Extra["subject"].(string)
		if _, ok := datasets.LookupMMLUSubject(subj); !ok {
			return nil, fmt.Errorf("doc %d: unknown subject %q", s.DocID, subj)
		}
		b := bySubject[subj]
		if b == nil {
			b = &bucket{name: subj}
			bySubject[subj] = b
		}
		b.accs = append(b.accs, s.Scores["acc"])
	}
	if len(bySubject) == 0 {
		return nil, fmt.Errorf("no samples")
	}
	type stat struct {
		mean, se float64
		n        int
	}
	subj := map[string]stat{}
	var names []string
	for n, b := range bySubject {
		m, se := results.Mean(b.accs)
		subj[n] = stat{m, se, len(b.accs)}
		names = append(names, n)
	}
	sort.Strings(names)
	// pool combines subjects weighted by size, as lm-eval's groups do.
	pool := func(members []string) stat {
		var sum float64
		var ses []float64
		var sizes []int
		n := 0
		for _, s := range members {
			st := subj[s]
			sum += st.mean * float64(st.n)
			n += st.n
			ses = append(ses, st.se)
			sizes = append(sizes, st.n)
		}
		return stat{sum / float64(n), results.PooledStderr(ses, sizes), n}
	}
	acc := func(st stat) []results.Metric {
		return []results.Metric{{Name: "acc", Value: st.mean, Stderr: st.se, HigherIsBetter: true}}
	}
	tr := &results.TaskResult{}
	all := pool(names)
	var cats []results.Group
	var catMeans, subjMeans []float64
	for _, g := range datasets.MMLUGroups {
		var members []string
		for _, n := range names {
			if s, _ := datasets.LookupMMLUSubject(n); s.Group == g {
				members = append(members, n)
			}
		}
		if len(members) == 0 {
			continue
		}
		st := pool(members)
		catMeans = append(catMeans, st.mean)
		cats = append(cats, results.Group{Name: g, Kind: "category", Samples: st.n, Metrics: acc(st)})
	}
	for _, n := range names {
		subjMeans = append(subjMeans, subj[n].mean)
	}
	macroSubj, _ := results.Mean(subjMeans)
	macroCat, _ := results.Mean(catMeans)
	tr.Metrics = []results.Metric{
		{Name: "acc", Value: all.mean, Stderr: all.se, HigherIsBetter: true},
		{Name: "acc_macro_categories", Value: macroCat, Stderr: math.NaN(), HigherIsBetter: true},
		{Name: "acc_macro_subjects", Value: macroSubj, Stderr: math.NaN(), HigherIsBetter: true},
	}
	tr.Groups = cats
	for _, n := range names {
		tr.Groups = append(tr.Groups, results.Group{Name: n, Kind: "subject", Samples: subj[n].n, Metrics: acc(subj[n])})
	}
	return tr, nil
}

// wantSubjects is the set --mmlu-subjects names (empty: every subject).
func (t *task) wantSubjects() (map[string]bool, error) {
	want := map[string]bool{}
	for _, s := range strings.Split(t.subjects, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if _, ok := datasets.LookupMMLUSubject(s); !ok {
				return nil, fmt.Errorf("--mmlu-subjects: unknown subject %q", s)
			}
			want[s] = true
		}
	}
	return want, nil
}

// CheckFlags implements tasks.FlagChecker.
func (t *task) CheckFlags(int) error {
	_, err := t.wantSubjects()
	return err
}
